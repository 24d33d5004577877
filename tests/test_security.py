"""Root tests: refbpf installed with file capabilities (or setuid root) reads
only processes its user could ptrace, and writes files as that user.

Each test runs as `nobody` and as a second unprivileged user created here,
with a copy of refbpf in a directory they can reach. A root-owned Python
and the other user's Python are refused in one line with nothing read (no
/proc file but its status opened, no memory read, never in BPF's targets
map); the user's own Python is profiled; a setuid-root child (-C) is left
out and named; --all lists only the user's processes; a target that execs
a setuid-root interpreter stops being sampled.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from profiling import Recording, go, parse_folded, target_path

pytestmark = pytest.mark.root

PYTHON = "/usr/bin/python3.11"     # reachable by every user, unlike pyenv's under /root
SECOND_USER = "refbpf-sec2"
CAPS = "cap_bpf,cap_perfmon,cap_sys_ptrace+ep"     # what the issue found exploitable
REFUSED = "so it only profiles processes that you could ptrace"
CAP_BPF_PERFMON = (1 << 39) | (1 << 38)
# A setuid exec, seen once done, or while it runs (the kernel makes the
# process non-dumpable before it gives it root's ids).
SETUID_REFUSED = (r"not profiled: (runs as root \(a setuid program\)|is not dumpable \(it changed "
                  r"privileges, or asked not to be traced\)); refbpf runs with file capabilities")


def need(tool):
    if not shutil.which(tool):
        pytest.skip("skipped: %s is not installed" % tool)


@pytest.fixture(scope="module")
def users():
    """nobody, and a second unprivileged user created for these tests."""
    need("setpriv")
    need("useradd")
    created = False
    try:
        pwd.getpwnam(SECOND_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SECOND_USER], check=True)
        created = True
    second = pwd.getpwnam(SECOND_USER)
    yield [(65534, 65534, "nobody"), (second.pw_uid, second.pw_gid, SECOND_USER)]
    if created:
        subprocess.run(["userdel", SECOND_USER], check=False)


def as_user(user):
    uid, gid, _ = user
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"]


class Workspace:
    """A directory every user can enter: refbpf with file capabilities, the
    same setuid root, a setuid-root copy of the interpreter, the target
    script, a world-writable output directory and a root-only one."""

    def __init__(self, root, refbpf_bin, caps=CAPS):
        self.dir = str(root)
        os.chmod(self.dir, 0o755)
        self.refbpf = os.path.join(self.dir, "refbpf")
        shutil.copy(refbpf_bin, self.refbpf)
        subprocess.run(["setcap", caps, self.refbpf], check=True)
        self.refbpf_suid = os.path.join(self.dir, "refbpf-suid")
        shutil.copy(refbpf_bin, self.refbpf_suid)
        os.chmod(self.refbpf_suid, 0o4755)
        self.suid_python = os.path.join(self.dir, "python-suid")
        shutil.copy(PYTHON, self.suid_python)
        os.chmod(self.suid_python, 0o4755)
        self.script = os.path.join(self.dir, "priv_target.py")
        shutil.copy(target_path("priv_target.py"), self.script)
        os.chmod(self.script, 0o644)
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o1777)
        self.root_only = os.path.join(self.dir, "root-only")
        os.mkdir(self.root_only)
        os.chmod(self.root_only, 0o755)

    def path(self, name):
        return os.path.join(self.out, name)

    def go_file(self, name):
        return os.path.join(self.dir, "go-" + name)


def workspace(refbpf_bin, caps=CAPS):
    need("setcap")
    need("bpftool")
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("skipped: needs Debian's %s" % PYTHON)
    # pytest's tmp_path lies under a directory only root may enter
    return Workspace(tempfile.mkdtemp(prefix="refbpf-sec-"), refbpf_bin, caps)


@pytest.fixture
def work(refbpf_bin):
    w = workspace(refbpf_bin)
    yield w
    shutil.rmtree(w.dir)


class Proc:
    """A target started as `user` (None: root), waited for until READY."""

    def __init__(self, work, user, *args):
        cmd = ([] if user is None else as_user(user)) + [PYTHON, work.script] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        assert line.startswith("READY"), line

    def line(self):
        return self.proc.stdout.readline()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def cpu_seconds(pid):
    """utime + stime of a process, from the kernel (0 once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def euid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return int(re.search(r"^Uid:\s+\d+\s+(\d+)", f.read(), re.M).group(1))
    except (OSError, AttributeError):
        return None


class TargetsMap:
    """Polls the BPF `targets` map of a running refbpf (found through its
    file descriptors) and keeps every PID seen in it."""

    def __init__(self, refbpf_pid):
        self.pid = refbpf_pid
        self.map_id = None
        self.seen = set()
        self.snapshots = []         # (pids in the map, {pid: euid} read just before)
        self.owners = {}            # pid in the map -> its euids, read just after
        self.watch = {}             # pid -> whose euid to note with each snapshot
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def find_map(self):
        try:
            fds = os.listdir("/proc/%d/fd" % self.pid)
        except OSError:
            return None
        for fd in fds:
            try:
                if "bpf-map" not in os.readlink("/proc/%d/fd/%s" % (self.pid, fd)):
                    continue
                with open("/proc/%d/fdinfo/%s" % (self.pid, fd)) as f:
                    m = re.search(r"^map_id:\s*(\d+)", f.read(), re.M)
            except OSError:
                continue
            if not m:
                continue
            r = subprocess.run(["bpftool", "map", "show", "id", m.group(1), "-j"],
                               capture_output=True, text=True)
            if r.returncode == 0 and json.loads(r.stdout).get("name") == "targets":
                return m.group(1)
        return None

    def pids(self):
        r = subprocess.run(["bpftool", "map", "dump", "id", self.map_id, "-j"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        return {int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
                for e in json.loads(r.stdout)}

    def run(self):
        while not self.stopping:
            if self.map_id is None:
                self.map_id = self.find_map()
            if self.map_id is not None:
                euids = {p: euid(p) for p in list(self.watch)}
                pids = self.pids()
                if pids is None:
                    break           # refbpf is gone
                self.seen |= pids
                for p in pids:
                    self.owners.setdefault(p, set()).add(euid(p))
                self.snapshots.append((pids, euids))
            time.sleep(0.05)

    def wait_for(self, pid, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid not in self.seen:
            time.sleep(0.05)
        assert pid in self.seen, "PID %d never in the targets map" % pid

    def sampled_as_root(self, pid):
        """Snapshots (two in a row, so not the instant of an exec) in which
        `pid` was in the map while its effective uid was 0."""
        hits = [pid in pids and euids.get(pid) == 0 for pids, euids in self.snapshots]
        return sum(1 for a, b in zip(hits, hits[1:]) if a and b)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=10)


def wait_cpu(pid, seconds, timeout=60):
    """Until the kernel has given `pid` this much more CPU time."""
    start = cpu_seconds(pid)
    deadline = time.monotonic() + timeout
    while cpu_seconds(pid) - start < seconds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cpu_seconds(pid) - start >= seconds, "PID %d did not run" % pid


def finish(rec):
    """Stop a recording started without -d, as Ctrl-C would."""
    rec.proc.send_signal(signal.SIGINT)
    return rec.finish()


def listed(stdout):
    """{pid: header line} of the report's target list."""
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^  PID (\d+).*$", stdout, re.M)}


def functions(path):
    return {f[0] for frames, _ in parse_folded(path) for f in frames}


def trace_opens(tmp_path, monkeypatch):
    need("strace")
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    log = tmp_path / "strace.log"
    return log, ["strace", "-f", "-qq", "-e", "trace=open,openat,process_vm_readv", "-o", str(log)]


def nothing_read(log, pid):
    """Nothing of `pid` but /proc/PID/status opened, no memory read."""
    text = log.read_text()
    opened = set(re.findall(r'"(/proc/%d/[^"]*)"' % pid, text))
    assert opened <= {"/proc/%d/status" % pid}, sorted(opened)
    assert not re.search(r"process_vm_readv\(%d\b" % pid, text), text


@pytest.mark.parametrize("owner", ["root", "other user"])
@pytest.mark.parametrize("command", [["-p", "PID", "-d", "2"], ["dump", "-p", "PID"],
                                     ["top", "-p", "PID", "-d", "2"]],
                         ids=["record", "dump", "top"])
def test_process_of_another_user_refused(users, work, tmp_path, monkeypatch, command, owner):
    """Profiling, dumping and `top` of a root-owned Python, and of the other
    unprivileged user's Python: one line naming the PID and the rule, a
    non-zero exit, and nothing of the process read."""
    for i, user in enumerate(users):
        other = None if owner == "root" else users[1 - i]
        target = Proc(work, other, "spin", 60)
        try:
            log, wrapper = trace_opens(tmp_path, monkeypatch)
            args = [str(target.pid) if a == "PID" else a for a in command]
            r = subprocess.run(wrapper + as_user(user) + [work.refbpf] + args,
                               capture_output=True, text=True, timeout=120)
        finally:
            target.stop()
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0, (user, r.stdout, r.stderr)
        assert len(lines) == 1, (user, r.stderr)
        owned = "belongs to root" if other is None else "belongs to uid %d" % other[0]
        assert lines[0].startswith("refbpf: PID %d: %s" % (target.pid, owned)), lines
        assert REFUSED in lines[0] and "file capabilities" in lines[0], lines
        assert "spin_here" not in r.stdout
        nothing_read(log, target.pid)


def test_own_process_profiled_next_to_a_refused_one(users, work, tmp_path):
    """Given the user's own Python and root's together: the user's is
    profiled as today (in BPF's targets map, sampled, its file the user's),
    root's is named in the header and never enters the map."""
    for user in users:
        own = Proc(work, user, "spin", 60)
        root = Proc(work, None, "spin", 60)
        folded = work.path("mixed-%s.folded" % user[2])
        try:
            rec = Recording(work.refbpf, ["-p", "%d,%d" % (own.pid, root.pid),
                                          "--folded", folded], tmp_path, wrapper=as_user(user))
            rec.wait_attached()
            seen = TargetsMap(rec.proc.pid)
            seen.wait_for(own.pid)
            wait_cpu(own.pid, 0.5)
            # root's ran as long: had it been a target, it would be in the map
            wait_cpu(root.pid, 0.5)
            status = open("/proc/%d/status" % rec.proc.pid).read()
            proc_owner = os.stat("/proc/%d/status" % rec.proc.pid).st_uid
            rc, stdout, stderr = finish(rec)
            seen.stop()
            dump = subprocess.run(as_user(user) + [work.refbpf, "dump", "-p", str(own.pid)],
                                  capture_output=True, text=True, timeout=120)
        finally:
            own.stop()
            root.stop()
        assert rc == 0, stderr[-2000:]
        assert root.pid not in seen.seen, seen.seen
        # refbpf itself: the user's ids, no CAP_SYS_PTRACE (the kernel checks
        # each memory read as the user's), not dumpable (/proc hands it to root)
        ids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        assert set(ids) == {str(user[0])}, status
        assert int(re.search(r"^CapPrm:\s+(\w+)", status, re.M).group(1), 16) == CAP_BPF_PERFMON
        assert proc_owner == 0
        assert "spin_here" in functions(folded)
        assert os.stat(folded).st_uid == user[0]
        assert "spin_here" in dump.stdout, dump.stderr
        header = listed(stdout)
        assert "Python 3.11" in header[own.pid], stdout
        assert "not profiled: belongs to root; " in header[root.pid], stdout
        assert REFUSED in header[root.pid], stdout


def wait_root(pid):
    deadline = time.monotonic() + 30
    while euid(pid) != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert euid(pid) == 0, "PID %d never ran as root" % pid


@pytest.mark.parametrize("started", ["before", "during"])
def test_setuid_child_left_out_and_named(users, work, tmp_path, started):
    """-C on the user's own Python whose child runs a setuid-root Python,
    started before the recording (found by the scan of /proc) or during it
    (fork and exec events): the parent is profiled, the child named as not
    profiled and never sampled (no sample of its function while the kernel
    ran it, never in the map while it runs as root)."""
    for user in users:
        gofile = work.go_file("spawn-%s-%s" % (started, user[2]))
        parent = Proc(work, user, "spawn", gofile, work.suid_python, 60)
        folded = work.path("children-%s-%s.folded" % (started, user[2]))
        child = None
        try:
            if started == "before":
                go(gofile)
                child = int(parent.line().split()[1])
                wait_root(child)
            rec = Recording(work.refbpf, ["-C", "-p", parent.pid, "--folded", folded],
                            tmp_path, wrapper=as_user(user))
            rec.wait_attached()
            seen = TargetsMap(rec.proc.pid)
            if child:
                seen.watch[child] = True
            seen.wait_for(parent.pid)
            if started == "during":
                go(gofile)
                child = int(parent.line().split()[1])
                seen.watch[child] = True
                wait_root(child)
            wait_cpu(child, 0.5)
            rc, stdout, stderr = finish(rec)
            seen.stop()
        finally:
            parent.stop()
            if child:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        assert rc == 0, stderr[-2000:]
        found = functions(folded)
        assert "parent_spin" in found and "root_side_spin" not in found, found
        assert seen.sampled_as_root(child) == 0
        if started == "before":
            assert child not in seen.seen, seen.seen
        header = listed(stdout)
        assert re.search(SETUID_REFUSED, header[child]), stdout


def test_all_lists_only_the_users_processes(users, work, tmp_path):
    """--all: the user's Python is listed; root's and the other user's are
    not, and the count of processes left out says why."""
    for i, user in enumerate(users):
        own = Proc(work, user, "spin", 60)
        root = Proc(work, None, "spin", 60)
        other = Proc(work, users[1 - i], "spin", 60)
        try:
            rec = Recording(work.refbpf, ["--all"], tmp_path, wrapper=as_user(user))
            rec.wait_attached()
            seen = TargetsMap(rec.proc.pid)
            seen.wait_for(own.pid)
            wait_cpu(root.pid, 0.3)
            wait_cpu(other.pid, 0.3)
            rc, stdout, stderr = finish(rec)
            seen.stop()
        finally:
            for p in (own, root, other):
                p.stop()
        assert rc == 0, stderr[-2000:]
        header = listed(stdout)
        assert own.pid in header and root.pid not in header and other.pid not in header, stdout
        assert not seen.seen & {root.pid, other.pid}, seen.seen
        # whatever else --all found is the user's too
        for pid, owners in seen.owners.items():
            assert owners <= {None, user[0]}, (pid, owners)
        m = re.search(r"^refbpf: --all left out (\d+) process(es)? that you could not ptrace "
                      r"\((\d+) of other users.*\): refbpf runs with file capabilities$",
                      stderr, re.M)
        assert m and int(m.group(3)) >= 2, stderr[-2000:]


def test_target_that_execs_setuid_stops_being_sampled(users, work, tmp_path):
    """The user's Python, sampled, execs a setuid-root interpreter: from
    then on it is not in BPF's map and none of its new image's functions
    is sampled, while another target keeps the recording going; the header
    names it with the rule and the samples taken before."""
    for user in users:
        gofile = work.go_file("exec-" + user[2])
        target = Proc(work, user, "exec", gofile, work.suid_python, 60)
        keeper = Proc(work, user, "spin", 60)
        folded = work.path("exec-%s.folded" % user[2])
        try:
            rec = Recording(work.refbpf, ["-p", "%d,%d" % (target.pid, keeper.pid),
                                          "--folded", folded], tmp_path, wrapper=as_user(user))
            rec.wait_attached()
            seen = TargetsMap(rec.proc.pid)
            seen.watch[target.pid] = True
            seen.wait_for(target.pid)
            wait_cpu(target.pid, 0.3)
            go(gofile)
            wait_root(target.pid)
            wait_cpu(target.pid, 0.5)
            rc, stdout, stderr = finish(rec)
            seen.stop()
        finally:
            target.stop()
            keeper.stop()
        assert rc == 0, stderr[-2000:]
        found = functions(folded)
        assert "before_exec" in found and "spin_here" in found, found
        assert "root_side_spin" not in found, found
        assert seen.sampled_as_root(target.pid) == 0
        line = listed(stdout)[target.pid]
        assert re.search(SETUID_REFUSED, line), stdout
        assert re.search(r"\(\d+ samples before\)", line), line


def test_target_made_non_dumpable_stops_being_sampled(users, work, tmp_path):
    """prctl(PR_SET_DUMPABLE, 0) takes no exec: the next check (every 5 s)
    drops the process from BPF's map and names it."""
    user = users[0]
    gofile = work.go_file("nodump")
    target = Proc(work, user, "nodump", gofile, 60)
    keeper = Proc(work, user, "spin", 60)
    folded = work.path("nodump.folded")
    try:
        rec = Recording(work.refbpf, ["-p", "%d,%d" % (target.pid, keeper.pid),
                                      "--folded", folded], tmp_path, wrapper=as_user(user))
        rec.wait_attached()
        seen = TargetsMap(rec.proc.pid)
        seen.wait_for(target.pid)
        wait_cpu(target.pid, 0.3)
        go(gofile)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                not seen.snapshots or target.pid in seen.snapshots[-1][0]):
            time.sleep(0.1)
        dropped = seen.snapshots and target.pid not in seen.snapshots[-1][0]
        rc, stdout, stderr = finish(rec)
        seen.stop()
    finally:
        target.stop()
        keeper.stop()
    assert dropped, "still in the targets map 30 s after PR_SET_DUMPABLE 0"
    assert rc == 0, stderr[-2000:]
    assert "before_nodump" in functions(folded)
    line = listed(stdout)[target.pid]
    assert "not profiled: is not dumpable (it changed privileges, or asked not to be " \
           "traced); refbpf runs with file capabilities" in line, line


@pytest.mark.parametrize("install", ["file capabilities", "setuid root"])
def test_outputs_written_as_the_user(users, work, install):
    """Files belong to the user, setuid root or not; a path the user could
    not write is refused before anything is recorded."""
    binary = work.refbpf if install == "file capabilities" else work.refbpf_suid
    for user in users:
        own = Proc(work, user, "spin", 60)
        try:
            out = work.path("own-%s-%s.prof" % (user[2], install[:4]))
            r = subprocess.run(as_user(user) + [binary, "-p", str(own.pid), "-d", "1", "-o", out],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            assert os.stat(out).st_uid == user[0]
            denied = os.path.join(work.root_only, "x.prof")
            r = subprocess.run(as_user(user) + [binary, "-v", "-p", str(own.pid), "-d", "1",
                                                "-o", denied],
                               capture_output=True, text=True, timeout=120)
        finally:
            own.stop()
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and not os.path.exists(denied), r.stderr
        assert "attached" not in r.stderr, r.stderr
        assert lines[-1] == ("refbpf: cannot write %s: Permission denied (refbpf runs with %s "
                             "and writes files as you)" % (denied, install)), r.stderr


def test_bpf_and_perfmon_suffice(users, refbpf_bin):
    """Restricted to what the user could ptrace, refbpf reads with the
    user's own rights: CAP_SYS_PTRACE is not needed."""
    work = workspace(refbpf_bin, caps="cap_bpf,cap_perfmon+ep")
    own = Proc(work, users[0], "spin", 60)
    try:
        folded = work.path("two-caps.folded")
        r = subprocess.run(as_user(users[0]) + [work.refbpf, "-p", str(own.pid), "-d", "1",
                                                "--folded", folded],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "spin_here" in functions(folded)
    finally:
        own.stop()
        shutil.rmtree(work.dir)


def test_capabilities_the_user_holds_change_nothing(users, work, tmp_path):
    """A user who really holds the capabilities (inheritable and ambient,
    no file capabilities) is not restricted: root's Python is profiled."""
    plain = os.path.join(work.dir, "refbpf-plain")
    shutil.copy(work.refbpf, plain)         # a copy carries no file capabilities
    caps = "+bpf,+perfmon,+sys_ptrace"
    root = Proc(work, None, "spin", 60)
    try:
        folded = work.path("ambient.folded")
        r = subprocess.run(as_user(users[0]) + ["--inh-caps=" + caps, "--ambient-caps=" + caps,
                                                plain, "-p", str(root.pid), "-d", "1",
                                                "--folded", folded],
                           capture_output=True, text=True, timeout=120)
    finally:
        root.stop()
    assert r.returncode == 0, r.stderr
    assert "spin_here" in functions(folded)
