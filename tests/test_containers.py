"""Root tests: a target in its own PID and mount namespace with its own
root filesystem (Debian bullseye's tree, whose /usr/bin/python3.9 does not
exist on the host), and a target whose interpreter file was replaced on
disk after it started, as a package upgrade does under a running server."""
import marshal
import os
import re
import select
import shutil
import subprocess
import tempfile

import pytest

from profiling import markers, target_path
from pythons import DEFAULT_PYTHONS_DIR

pytestmark = pytest.mark.root

TREE = os.path.join(os.environ.get("REFBPF_PYTHONS_DIR", DEFAULT_PYTHONS_DIR), "bullseye-3.9")
INSIDE = "/usr/bin/python3.9"


class Container:
    """unshare --pid --mount --fork, an overlay of TREE as its root, /proc
    mounted, the target script at /app/busy.py, Python as PID 1."""

    def __init__(self, seconds):
        if not shutil.which("unshare"):
            pytest.skip("skipped: unshare (util-linux) not installed")
        if not os.access(TREE + INSIDE, os.X_OK):
            pytest.skip("skipped: %s missing (make pythons fetches it)" % (TREE + INSIDE))
        self.dir = tempfile.mkdtemp(prefix="refbpf-ct-")
        self.root = os.path.join(self.dir, "root")
        upper, work = os.path.join(self.dir, "upper"), os.path.join(self.dir, "work")
        for d in (self.root, upper, work):
            os.mkdir(d)
        script = ("set -e; mount -t overlay overlay -o lowerdir={t},upperdir={u},workdir={w} {r}; "
                  "mkdir -p {r}/proc {r}/app {r}{parent}; cp {s} {r}/app/busy.py; "
                  # fetch-pythons.sh patched the tree's binaries to find their
                  # loader and libraries under TREE: inside, that is /
                  "ln -s / {r}{t}; "
                  "mount -t proc proc {r}/proc; "
                  "exec chroot {r} {py} /app/busy.py {sec}").format(
                      t=TREE, u=upper, w=work, r=self.root, s=target_path("container_busy.py"),
                      py=INSIDE, sec=seconds, parent=os.path.dirname(TREE))
        self.unshare = subprocess.Popen(["unshare", "--pid", "--mount", "--fork", "--kill-child",
                                         "sh", "-c", script], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        r, _, _ = select.select([self.unshare.stdout], [], [], 20)
        line = self.unshare.stdout.readline() if r else ""
        if not line.startswith("READY"):
            self.stop()
            raise AssertionError("the container did not start: %s" % self.unshare.stderr.read())
        with open("/proc/%d/task/%d/children" % (self.unshare.pid, self.unshare.pid)) as f:
            self.pid = int(f.read().split()[0])
        # the overlay is only mounted inside: reach its files through the target
        self.proc_root = "/proc/%d/root" % self.pid

    def stop(self):
        if self.unshare.poll() is None:
            os.killpg(self.unshare.pid, 9)
        self.unshare.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def record(refbpf, pid, tmp_path, *extra):
    prof = tmp_path / "out.prof"
    r = subprocess.run([refbpf, "-v", "-p", str(pid), "-d", "2", "-F", "199", "-o", str(prof)] +
                       list(extra), capture_output=True, text=True, timeout=60)
    return r, prof


def test_target_in_its_own_pid_and_mount_namespace(tmp_path, refbpf_bin):
    spin = markers(target_path("container_busy.py"))["spin"]
    with Container(30) as ct:
        assert not os.path.exists(INSIDE), "the host must not have %s for this test" % INSIDE
        r, prof = record(refbpf_bin, ct.pid, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"^  PID %d \(PID 1 in its namespace\)  Python 3\.9  %s /app/busy\.py 30"
                     % (ct.pid, INSIDE), r.stdout, re.M), r.stdout
    assert "(%s)" % INSIDE in r.stderr, [l for l in r.stderr.splitlines() if "Python" in l]
    with open(prof, "rb") as f:
        stats = marshal.load(f)
    work = stats[("/app/busy.py", spin - 1, "container_work")]
    assert work[3] >= 0.9 * max(v[3] for v in stats.values()), stats


def test_interpreter_replaced_on_disk_after_start(tmp_path, refbpf_bin):
    """The file at the interpreter's path is now another build: as root,
    refbpf reads the mapped file itself (/proc/PID/map_files); with only
    capabilities it cannot, sees that the build-ids differ and refuses in
    one line instead of profiling with the wrong file."""
    spin = markers(target_path("container_busy.py"))["spin"]
    with Container(30) as ct:
        replacement = ct.proc_root + INSIDE + ".new"
        shutil.copy("/usr/bin/python3.11", replacement)
        os.rename(replacement, ct.proc_root + INSIDE)
        r, prof = record(refbpf_bin, ct.pid, tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        with open(prof, "rb") as f:
            stats = marshal.load(f)
        assert ("/app/busy.py", spin - 1, "container_work") in stats, sorted(stats)[:10]
        # Without CAP_SYS_ADMIN there is no map_files: the path is all there
        # is. (Root, with only these capabilities: file capabilities would
        # restrict an unprivileged user to its own processes.)
        r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all,+bpf,+perfmon,"
                            "+sys_ptrace,+dac_read_search", refbpf_bin, "-p", str(ct.pid), "-d", "1"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "build-id differs" in lines[0] and INSIDE in lines[0], r.stderr
