// SPDX-License-Identifier: BSD-2-Clause
/*
 * The child talks to its parent through two pipes: it reads one byte from
 * `release` before exec (end of file: refbpf gave up, so it exits without
 * running anything), and writes struct launch_msg records to `report`,
 * close-on-exec, so end of file there means exec succeeded.
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define LAUNCH_MAX_GROUPS 65536

enum launch_stage {
	LAUNCH_READY = 1,	/* credentials in place, waiting for release */
	LAUNCH_CREDENTIALS,	/* could not become the invoking user */
	LAUNCH_EXEC,		/* exec failed */
};

struct launch_msg {
	int stage;		/* enum launch_stage */
	int err;		/* errno */
};

/* Who the program runs as: the user behind sudo, or whoever we are. */
struct launch_user {
	bool drop;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	char *name, *home;	/* NULL when the user has no passwd entry */
};

struct launch {
	pid_t pid;		/* 0 once reaped */
	int release_fd;		/* write end, -1 once released */
	int report_fd;		/* read end */
	char *program;
	bool released;
};

static void launch_user_free(struct launch_user *u)
{
	free(u->groups);
	free(u->name);
	free(u->home);
}

/*
 * Under sudo, the invoking user from SUDO_UID and SUDO_GID, with that
 * user's groups. Resolved before fork: the child only makes system calls.
 */
static int invoking_user(bool as_root, struct launch_user *u, char *why, size_t whylen)
{
	const char *uid_s = getenv("SUDO_UID"), *gid_s = getenv("SUDO_GID");
	unsigned long uid, gid;
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if (as_root || geteuid() != 0 || !uid_s)
		return 0;
	if (cli_parse_ulong(uid_s, 0, 0xfffffffeul, &uid) ||
	    (gid_s && cli_parse_ulong(gid_s, 0, 0xfffffffeul, &gid))) {
		snprintf(why, whylen, "record: SUDO_UID/SUDO_GID are not user and group IDs");
		return -EINVAL;
	}
	if (uid == 0)
		return 0;	/* root ran sudo: root it is */
	pw = getpwuid((uid_t)uid);
	if (!gid_s) {
		if (!pw) {
			snprintf(why, whylen, "record: SUDO_UID %lu has no passwd entry and SUDO_GID is unset",
				 uid);
			return -EINVAL;
		}
		gid = pw->pw_gid;
	}
	u->drop = true;
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	if (pw) {
		u->name = strdup(pw->pw_name);
		u->home = strdup(pw->pw_dir);
		if (!u->name || !u->home)
			return -ENOMEM;
	}
	/* the user's supplementary groups, as a login would give them */
	for (int cap = 32; cap <= LAUNCH_MAX_GROUPS; cap *= 2) {
		int n = cap;

		free(u->groups);
		u->groups = malloc((size_t)cap * sizeof(*u->groups));
		if (!u->groups)
			return -ENOMEM;
		if (!u->name) {
			u->groups[0] = u->gid;
			u->ngroups = 1;
			return 0;
		}
		if (getgrouplist(u->name, u->gid, u->groups, &n) >= 0) {
			u->ngroups = n;
			return 0;
		}
	}
	snprintf(why, whylen, "record: user %s is in too many groups", u->name);
	return -E2BIG;
}

static void report_and_exit(int fd, int stage, int err, int code)
{
	struct launch_msg m = { .stage = stage, .err = err };

	if (write(fd, &m, sizeof(m)) < 0) {
		/* nothing more to tell: the exit status says it */
	}
	_exit(code);
}

/* In the child: become the user, wait for the release, exec. */
static void run_child(char *const argv[], const struct launch_user *u, int release_fd,
		      int report_fd)
{
	struct launch_msg ready = { .stage = LAUNCH_READY };
	sigset_t none;
	char byte;

	/* the program gets the signal dispositions it would get from a shell */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (u->drop) {
		if (setgroups((size_t)u->ngroups, u->groups) || setgid(u->gid) || setuid(u->uid))
			report_and_exit(report_fd, LAUNCH_CREDENTIALS, errno, 126);
		/* no way back: root must be gone for good */
		if (setuid(0) == 0)
			report_and_exit(report_fd, LAUNCH_CREDENTIALS, EPERM, 126);
		if (u->name && (setenv("USER", u->name, 1) || setenv("LOGNAME", u->name, 1) ||
				setenv("HOME", u->home, 1)))
			report_and_exit(report_fd, LAUNCH_CREDENTIALS, errno, 126);
	}
	if (write(report_fd, &ready, sizeof(ready)) != sizeof(ready))
		_exit(126);
	/* end of file: refbpf could not watch us, so nothing runs */
	if (read(release_fd, &byte, 1) != 1)
		_exit(127);
	close(release_fd);
	execvp(argv[0], argv);
	report_and_exit(report_fd, LAUNCH_EXEC, errno, errno == ENOENT ? 127 : 126);
}

/* The next message from the child: 1, 0 at end of file, or -errno. */
static int read_msg(int fd, struct launch_msg *m)
{
	ssize_t n;

	do
		n = read(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*m) ? 1 : n == 0 ? 0 : -EIO;
}

static void child_error(const struct launch *l, const struct launch_msg *m, char *why,
			size_t whylen)
{
	if (m->stage == LAUNCH_CREDENTIALS)
		snprintf(why, whylen, "record: cannot run %s as the user who ran sudo: %s", l->program,
			 strerror(m->err));
	else
		snprintf(why, whylen, "record: cannot run %s: %s", l->program, strerror(m->err));
}

struct launch *launch_start(char *const argv[], bool as_root, char *why, size_t whylen)
{
	struct launch *l = calloc(1, sizeof(*l));
	struct launch_user u;
	struct launch_msg m;
	int release[2] = { -1, -1 }, report[2] = { -1, -1 };
	int err;

	if (!l || !(l->program = strdup(argv[0]))) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	l->release_fd = l->report_fd = -1;
	err = invoking_user(as_root, &u, why, whylen);
	if (err) {
		if (err == -ENOMEM)
			snprintf(why, whylen, "out of memory");
		launch_user_free(&u);
		goto fail;
	}
	if (pipe2(release, O_CLOEXEC) || pipe2(report, O_CLOEXEC)) {
		snprintf(why, whylen, "record: cannot create a pipe: %s", strerror(errno));
		launch_user_free(&u);
		goto fail;
	}
	fflush(NULL);
	l->pid = fork();
	if (l->pid == 0) {
		close(release[1]);
		close(report[0]);
		run_child(argv, &u, release[0], report[1]);
	}
	launch_user_free(&u);
	close(release[0]);
	close(report[1]);
	l->release_fd = release[1];
	l->report_fd = report[0];
	if (l->pid < 0) {
		snprintf(why, whylen, "record: cannot fork: %s", strerror(errno));
		l->pid = 0;
		goto fail;
	}
	err = read_msg(l->report_fd, &m);
	if (err == 1 && m.stage == LAUNCH_READY)
		return l;
	if (err == 1)
		child_error(l, &m, why, whylen);
	else
		snprintf(why, whylen, "record: the child for %s died before it could run it",
			 l->program);
fail:
	if (l)
		launch_finish(l);
	return NULL;
}

pid_t launch_pid(const struct launch *l)
{
	return l->pid;
}

int launch_release(struct launch *l)
{
	struct launch_msg m;
	char why[512];
	int got;

	if (write(l->release_fd, "x", 1) != 1) {
		/* it is gone already; its report says why */
	}
	close(l->release_fd);
	l->release_fd = -1;
	l->released = true;
	got = read_msg(l->report_fd, &m);
	if (got == 0)
		return 0;	/* the pipe closed on exec */
	if (got == 1)
		child_error(l, &m, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "record: lost track of %s: %s", l->program,
			 strerror(-got));
	fprintf(stderr, "refbpf: %s\n", why);
	return got == 1 ? -m.err : got;
}

void launch_forward_signal(const struct launch *l, int sig)
{
	if (l && l->pid > 0 && l->released)
		kill(l->pid, sig);
}

int launch_finish(struct launch *l)
{
	int status = 0, code = 127;

	if (l->release_fd >= 0)
		close(l->release_fd);	/* never released: it exits unrun */
	if (l->report_fd >= 0)
		close(l->report_fd);
	if (l->pid > 0) {
		pid_t got;

		do
			got = waitpid(l->pid, &status, 0);
		while (got < 0 && errno == EINTR);
		if (got == l->pid && WIFEXITED(status))
			code = WEXITSTATUS(status);
		else if (got == l->pid && WIFSIGNALED(status))
			code = 128 + WTERMSIG(status);
		l->pid = 0;
	}
	free(l->program);
	free(l);
	return code;
}
