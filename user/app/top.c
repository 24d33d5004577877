// SPDX-License-Identifier: BSD-2-Clause
/*
 * The live view. Each window (one second) is merged into a profile that
 * accumulates since the start; both are reduced to call graphs and joined
 * by pstats key. Keys are read without blocking at every refresh.
 */
#include "app/top.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <linux/types.h>

#include "profile/callgraph.h"
#include "base/escape.h"

enum top_sort {
	TOP_SORT_SELF_PCT,	/* key o: share of the last second as innermost frame */
	TOP_SORT_TOTAL_PCT,	/* key t: share of the last second anywhere on the stack */
	TOP_SORT_SELF_TIME,	/* key O: self time since the start */
	TOP_SORT_TOTAL_TIME,	/* key T: total time since the start */
	TOP_SORT_NAME,		/* key n */
};

#define TOP_DEFAULT_ROWS 30
#define TOP_HEADER_ROWS 5

struct top {
	size_t limit;
	int sort;
	bool tty, raw_keys;
	struct termios saved;
	volatile sig_atomic_t *stop;
	struct profile *since_start;
	int64_t *func_map;	/* window profile's function -> since_start's */
	size_t nfunc_map;
	double elapsed;
	unsigned int refreshes;
};

struct top_row {
	const struct cg_func *f;	/* from the since-start graph */
	uint64_t self_now, cum_now;
};

struct top *top_new(size_t limit, volatile sig_atomic_t *stop)
{
	struct top *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->since_start = profile_new();
	if (!t->since_start) {
		free(t);
		return NULL;
	}
	t->limit = limit;
	t->stop = stop;
	t->tty = isatty(STDOUT_FILENO);
	/* Keys without Enter and without echo, restored on exit. */
	if (t->tty && isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &t->saved)) {
		struct termios raw = t->saved;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		t->raw_keys = !tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	return t;
}

void top_free(struct top *t)
{
	if (!t)
		return;
	if (t->raw_keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	profile_free(t->since_start);
	free(t->func_map);
	free(t);
}

static void read_keys(struct top *t)
{
	char keys[32];
	ssize_t n;

	if (!t->raw_keys)
		return;
	while ((n = read(STDIN_FILENO, keys, sizeof(keys))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			switch (keys[i]) {
			case 'o': t->sort = TOP_SORT_SELF_PCT; break;
			case 't': t->sort = TOP_SORT_TOTAL_PCT; break;
			case 'O': t->sort = TOP_SORT_SELF_TIME; break;
			case 'T': t->sort = TOP_SORT_TOTAL_TIME; break;
			case 'n': t->sort = TOP_SORT_NAME; break;
			case 'q': *t->stop = 1; break;
			default: break;
			}
		}
	}
}

/* Add the window's stacks to the since-start profile. */
static int accumulate(struct top *t, const struct profile *w)
{
	struct pframe frames[PROFILE_MAX_FRAMES];

	if (w->nfuncs > t->nfunc_map) {
		int64_t *m = realloc(t->func_map, w->nfuncs * sizeof(*m));

		if (!m)
			return -ENOMEM;
		for (size_t i = t->nfunc_map; i < w->nfuncs; i++)
			m[i] = -1;
		t->func_map = m;
		t->nfunc_map = w->nfuncs;
	}
	for (size_t i = 0; i < w->nstacks; i++) {
		const struct pstack *s = w->stacks[i];
		uint32_t n = s->nframes < PROFILE_MAX_FRAMES ? s->nframes : PROFILE_MAX_FRAMES;

		for (uint32_t k = 0; k < n; k++) {
			uint32_t fi = s->frames[k].func;
			const struct pfunc *f = &w->funcs[fi];

			if (t->func_map[fi] < 0)
				t->func_map[fi] = profile_intern_func(t->since_start, f->filename,
								      f->firstlineno, f->name, f->qualname);
			if (t->func_map[fi] < 0)
				return -ENOMEM;
			frames[k].func = (uint32_t)t->func_map[fi];
			frames[k].line = s->frames[k].line;
		}
		/* top shows no threads: one entry a process, however many
		 * threads a long session sees come and go */
		int err = profile_add_stack(t->since_start, s->pid, PROFILE_MERGED_TID, s->flags,
					    frames, n, s->count);

		if (err)
			return err;
	}
	t->since_start->duration_s += w->duration_s;
	t->since_start->period_s = profile_period(w);
	return 0;
}

static int key_cmp(const struct cg_func *a, const struct cg_func *b)
{
	int c = strcmp(a->filename, b->filename);

	if (!c)
		c = a->firstlineno - b->firstlineno;
	return c ? c : strcmp(a->name, b->name);
}

static int cmp_func_ptr(const void *a, const void *b)
{
	return key_cmp(*(const struct cg_func *const *)a, *(const struct cg_func *const *)b);
}

static int sort_key;

static int cmp_row(const void *pa, const void *pb)
{
	const struct top_row *a = pa, *b = pb;
	uint64_t x = 0, y = 0;

	switch (sort_key) {
	case TOP_SORT_SELF_PCT: x = a->self_now; y = b->self_now; break;
	case TOP_SORT_TOTAL_PCT: x = a->cum_now; y = b->cum_now; break;
	case TOP_SORT_SELF_TIME: x = a->f->self; y = b->f->self; break;
	case TOP_SORT_TOTAL_TIME: x = a->f->cum; y = b->f->cum; break;
	default: break;
	}
	if (x != y)
		return x < y ? 1 : -1;
	/* Ties (and the name sort) by name, then the rest of the key. */
	int c = strcmp(a->f->qualname, b->f->qualname);

	return c ? c : key_cmp(a->f, b->f);
}

static size_t screen_rows(const struct top *t)
{
	struct winsize ws;

	if (t->limit)
		return t->limit;
	if (t->tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > TOP_HEADER_ROWS + 1)
		return ws.ws_row - TOP_HEADER_ROWS - 1;
	return TOP_DEFAULT_ROWS;
}

static void print_targets(const struct profile *w)
{
	fputs("refbpf top:", stdout);
	for (size_t i = 0; i < w->ntargets && i < 4; i++) {
		if (w->targets[i].state == PTARGET_NOT_PROFILED)
			continue;
		printf(" PID %" PRIu32 " (Python ", w->targets[i].pid);
		escape_terminal_fputs(w->targets[i].version ? w->targets[i].version : "?", stdout);
		fputs(")", stdout);
	}
	if (w->ntargets > 4)
		printf(" and %zu more", w->ntargets - 4);
	fputs("\n", stdout);
}

static void draw(struct top *t, const struct profile *w, const struct callgraph *now,
		 const struct callgraph *all)
{
	static const char *const sort_names[] = { "own %", "total %", "own time", "total time",
						  "name" };
	const struct cg_func **byk = malloc(now->nfuncs * sizeof(*byk));
	struct top_row *rows = calloc(all->nfuncs, sizeof(*rows));
	size_t nrows = 0, shown;
	double period = profile_period(w), window = now->total ? (double)now->total : 1.0;

	if (!rows || !byk) {
		free(rows);
		free(byk);
		return;
	}
	for (size_t i = 0; i < now->nfuncs; i++)
		byk[i] = &now->funcs[i];
	qsort(byk, now->nfuncs, sizeof(*byk), cmp_func_ptr);
	for (size_t i = 0; i < all->nfuncs; i++) {
		const struct cg_func *f = &all->funcs[i], *key = f, **hit;

		if (f->kind != CG_FUNC)
			continue;
		hit = bsearch(&key, byk, now->nfuncs, sizeof(*byk), cmp_func_ptr);
		rows[nrows].f = f;
		rows[nrows].self_now = hit ? (*hit)->self : 0;
		rows[nrows].cum_now = hit ? (*hit)->cum : 0;
		nrows++;
	}
	sort_key = t->sort;
	qsort(rows, nrows, sizeof(*rows), cmp_row);
	if (t->tty)
		fputs("\033[H\033[2J", stdout);
	else if (t->refreshes)
		fputs("\n", stdout);
	print_targets(w);
	printf("%.1f s; last %.1f s: %" PRIu64 " samples; sorted by %s%s\n", t->elapsed,
	       w->duration_s, now->total, sort_names[t->sort],
	       t->raw_keys ? "  (keys: o t O T n sort, q quit)" : "");
	printf("\n%7s %7s %10s %10s  %s\n", "own%", "total%", "own(s)", "total(s)",
	       "function (file:line)");
	shown = screen_rows(t);
	for (size_t i = 0; i < nrows && i < shown; i++) {
		const struct top_row *r = &rows[i];

		printf("%6.1f%% %6.1f%% %10.2f %10.2f  ", 100.0 * r->self_now / window,
		       100.0 * r->cum_now / window, r->f->self * period, r->f->cum * period);
		escape_terminal_fputs(r->f->qualname, stdout);
		fputs(" (", stdout);
		escape_terminal_fputs(r->f->filename, stdout);
		printf(":%d)\n", r->f->firstlineno);
	}
	fflush(stdout);
	free(rows);
	free(byk);
}

int top_on_window(void *ctx, const struct profile *w, time_t start)
{
	struct top *t = ctx;
	struct callgraph *now, *all;
	int err;

	(void)start;
	read_keys(t);
	err = accumulate(t, w);
	if (err)
		return err;
	t->elapsed += w->duration_s;
	now = callgraph_build(w);
	all = callgraph_build(t->since_start);
	if (now && all)
		draw(t, w, now, all);
	else
		err = -ENOMEM;
	callgraph_free(now);
	callgraph_free(all);
	t->refreshes++;
	return err;
}
