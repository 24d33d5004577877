"""The kernel matrix's checks, run inside the VM (tests/kernels/init.sh):
each starts targets with the interpreters of /t/config.json, runs refbpf
and reports what it saw (exit code, stdout, stderr, output files) as one
JSON line on the serial port given. Nothing is judged here: the host
(tests/kernels/matrix.py) asserts on the reports.

usage: guest.py RESULTS_TTY [CHECK,...]
"""
import base64
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_times import thread_times  # noqa: E402
from profiling import Recording, Target, go, go_file, run_refbpf, target_path  # noqa: E402

REFBPF = "/bin/refbpf"
CONFIG = json.load(open("/t/config.json"))
PYTHONS = CONFIG["pythons"]  # oldest first
BTF_FILE = "/t/kernel/vmlinux.btf"
KERNEL_BTF_DIR = "/sys/kernel/btf"
SCRATCH = "/tmp/checks"


def text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        return "<unreadable: %s>" % e


def blob(path):
    try:
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    except OSError:
        return None


def scratch(name):
    d = os.path.join(SCRATCH, name)
    os.makedirs(d, exist_ok=True)
    return d


def completed(r):
    return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr}


# ---- per interpreter ----
# Targets run far longer than the recordings (they are killed after):
# under emulation refbpf may take seconds to attach.

def known_stack(py, d):
    folded = os.path.join(d, "out.folded")
    with Target(py["path"], target_path("known_stack.py"), 120, 5) as t:
        r = run_refbpf(REFBPF, ["-v", "-p", t.pid, "-d", 2, "-F", 499, "--folded", folded],
                       check=False)
    return dict(completed(r), folded=text(folded))


def shares(py, d):
    folded = os.path.join(d, "out.folded")
    with Target(py["path"], target_path("shares.py"), 120) as t:
        r = run_refbpf(REFBPF, ["-p", t.pid, "-d", 3, "-F", 997, "--folded", folded], check=False)
    return dict(completed(r), folded=text(folded))


def children(py, d):
    folded = os.path.join(d, "out.folded")
    gofile = go_file(d)
    # the short child lives 1 s: Python starts slowly under emulation
    with Target(py["path"], target_path("forker.py"), 2, 1,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(REFBPF, ["-p", t.pid, "-C", "-F", 499, "--folded", folded], d)
        rec.wait_attached(120)
        go(gofile)
        rc, stdout, stderr = rec.finish(timeout=120)
        t.rest_of_output()
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "folded": text(folded)}


def sigint(py, d):
    folded, prof = os.path.join(d, "out.folded"), os.path.join(d, "p.out")
    with Target(py["path"], target_path("known_stack.py"), 120) as t:
        rec = Recording(REFBPF, ["-p", t.pid, "--folded", folded, "-o", prof], d)
        rec.wait_attached(120)
        time.sleep(2)
        rec.proc.send_signal(signal.SIGINT)
        rc, stdout, stderr = rec.finish(timeout=60)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "folded": text(folded),
            "pstats_bytes": os.path.getsize(prof) if os.path.exists(prof) else 0,
            "files": sorted(os.listdir(d))}


def target_exit(py, d, extra=()):
    folded = os.path.join(d, "out.folded")
    gofile = go_file(d)
    # runs 2 s once refbpf is attached, then exits
    with Target(py["path"], target_path("exits.py"), 2,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(REFBPF, ["-p", t.pid, "-d", 120, "--folded", folded] + list(extra), d)
        rec.wait_attached(120)
        attached = time.monotonic()
        go(gofile)
        t.proc.wait(timeout=60)
        gone = time.monotonic()
        rc, stdout, stderr = rec.finish(timeout=60)
        ended = time.monotonic() - gone
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "folded": text(folded),
            "ended_s": ended, "recorded_s": gone - attached}


def wall(py, d):
    folded = os.path.join(d, "wall.folded")
    with Target(py["path"], target_path("wall_threads.py")) as t:
        r = run_refbpf(REFBPF, ["-v", "-p", t.pid, "-d", 3, "-F", 200, "--mode", "wall",
                                "--folded", folded], check=False)
    return dict(completed(r), folded=text(folded))


def native(py, d):
    if not py["ext"]:
        return {"skip": "%s has no C headers for the test extension" % py["name"]}
    folded = os.path.join(d, "n.folded")
    with Target(py["path"], target_path("native_mixed.py"), py["ext"], 60) as t:
        r = run_refbpf(REFBPF, ["-v", "-p", t.pid, "-d", 3, "--native", "--folded", folded],
                       check=False)
    return dict(completed(r), folded=text(folded))


def wall_native(py, d):
    """--mode wall --kernel --native on threads waiting in libc: blocked
    throughout (their stacks from a task iterator at the start) and
    napping (each switch-out's user registers)."""
    out = {}
    for how in ("blocked", "naps"):
        folded = os.path.join(d, how + ".folded")
        with Target(py["path"], target_path("wall_waits.py"), how) as t:
            r = run_refbpf(REFBPF, ["-v", "-p", t.pid, "-d", 2, "--mode", "wall", "--kernel",
                                    "--native", "--folded", folded], check=False)
        out[how] = dict(completed(r), folded=text(folded))
    return out


def native_syscall(py, d):
    folded = os.path.join(d, "k.folded")
    # aarch64: with kernel frames, which say the system call where libc's
    # frames have no names (tests/kernels/matrix.py)
    kernel = ["--kernel"] if os.uname().machine == "aarch64" else []
    with Target(py["path"], target_path("native_syscall.py"), 60) as t:
        r = run_refbpf(REFBPF, ["-p", t.pid, "-d", 2, "--native", "--folded", folded] + kernel,
                       check=False)
    return dict(completed(r), folded=text(folded))


def kernel(py, d):
    folded, prof = os.path.join(d, "out.folded"), os.path.join(d, "out.prof")
    with Target(py["path"], target_path("syscalls.py")) as t:
        r = run_refbpf(REFBPF, ["-p", t.pid, "-d", 2, "-F", 499, "--kernel", "--folded", folded,
                                "-o", prof], check=False)
    return dict(completed(r), folded=text(folded), pstats=blob(prof))


def dump(py, d):
    with Target(py["path"], target_path("dump_target.py"), 60) as t:
        r = subprocess.run([REFBPF, "dump", "-p", str(t.pid), "--json"], capture_output=True,
                           text=True, timeout=120)
        tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % t.pid))
    return dict(completed(r), pid=t.pid, tids=tids)


def gil(py, d):
    folded, prof = os.path.join(d, "gil.folded"), os.path.join(d, "gil.prof")
    with Target(py["path"], target_path("gil_contention.py"), 2) as t:
        r = run_refbpf(REFBPF, ["-p", t.pid, "-d", 2, "-F", 200, "--gil", "--mode", "wall",
                                "--folded", folded, "-o", prof], check=False)
    return dict(completed(r), folded=text(folded), pstats=blob(prof))


# ---- once per kernel ----

def target_exit_children(d):
    """The exit seen by BPF's exit program (-C), not by a pidfd."""
    return target_exit(PYTHONS[-1], d, ["-C"])


def preempted(d):
    """--mode wall on the guest's one CPU shared with a busy shell loop:
    the single-threaded target never blocks, it waits for the CPU. With
    what the guest's kernel counted of both from refbpf's attaching to
    its exit."""
    folded = os.path.join(d, "wall.folded")
    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        with Target(PYTHONS[-1]["path"], target_path("known_stack.py"), 120, 5) as t:
            rec = Recording(REFBPF, ["-p", t.pid, "-d", 3, "-F", 200, "--mode", "wall",
                                     "--folded", folded], d)
            rec.wait_attached(timeout=120)
            before = thread_times(t.pid)[t.pid]
            rc, out, err = rec.finish()
            after = thread_times(t.pid)[t.pid]
    finally:
        hog.kill()
        hog.wait(timeout=30)
    return dict(rc=rc, stdout=out, stderr=err, folded=text(folded), window=[before.at, after.at],
                on_cpu_s=after.cpu - before.cpu, waiting_s=after.runq - before.runq)


def top(d):
    with Target(PYTHONS[-1]["path"], target_path("shares.py"), 120) as t:
        r = subprocess.run([REFBPF, "top", "-p", str(t.pid), "-d", "3.5"], capture_output=True,
                           text=True, timeout=120)
    return dict(completed(r), pid=t.pid)


def every(d):
    folded = os.path.join(d, "w.folded")
    with Target(PYTHONS[-1]["path"], target_path("shares.py"), 120) as t:
        r = run_refbpf(REFBPF, ["-p", t.pid, "-d", 3.5, "--every", 1, "--folded", folded],
                       check=False)
    windows = {f: text(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f != "w.folded"}
    return dict(completed(r), windows=windows)


def all_processes(d):
    folded = os.path.join(d, "all.folded")
    old, new = PYTHONS[0], PYTHONS[-1]
    with Target(old["path"], target_path("shares.py"), 120) as before:
        rec = Recording(REFBPF, ["--all", "-d", 5, "-F", 199, "--folded", folded], d)
        rec.wait_attached(120)
        with Target(new["path"], target_path("shares.py"), 120) as after:
            rc, stdout, stderr = rec.finish(timeout=120)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "folded": text(folded),
            "before": before.pid, "after": after.pid}


CONTAINER_TREE_NAME = "bullseye-3.9"


def container(d):
    """A target in its own PID and mount namespace, chroot'ed into Debian
    bullseye's tree (whose /usr/bin/python3.9 is no path outside it)."""
    tree = next((p["path"].rsplit("/usr/bin/", 1)[0] for p in PYTHONS
                 if p["name"] == CONTAINER_TREE_NAME), None)
    if not tree:
        return {"skip": "no %s tree in the initramfs" % CONTAINER_TREE_NAME}
    inside = "/usr/bin/python3.9"
    os.makedirs(tree + "/proc", exist_ok=True)
    os.makedirs(tree + "/app", exist_ok=True)
    with open(target_path("container_busy.py")) as src, open(tree + "/app/busy.py", "w") as dst:
        dst.write(src.read())
    # the tree's binary finds its loader and libraries under `tree`: inside, that is /
    link = tree + tree
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/", link)
    script = "mount -t proc proc %s/proc && exec chroot %s %s /app/busy.py 60" % (
        tree, tree, inside)
    ct = subprocess.Popen(["unshare", "-p", "-m", "-f", "sh", "-c", script],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
    try:
        line = ct.stdout.readline()
        if not line.startswith("READY"):
            return {"error": "the container did not start: %r %s" % (line, ct.stderr.read())}
        # unshare forks the shell, which execs chroot, which execs Python
        with open("/proc/%d/task/%d/children" % (ct.pid, ct.pid)) as f:
            pid = int(f.read().split()[0])
        prof = os.path.join(d, "out.prof")
        r = run_refbpf(REFBPF, ["-v", "-p", pid, "-d", 2, "-F", 199, "-o", prof], check=False)
        return dict(completed(r), pid=pid, pstats=blob(prof),
                    host_has_inside=os.path.exists(inside))
    finally:
        os.killpg(ct.pid, signal.SIGKILL)
        ct.wait(timeout=30)
        subprocess.run(["umount", tree + "/proc"], capture_output=True)


def no_kernel_btf(d):
    """A kernel without its own BTF, as far as refbpf can tell: an empty
    tmpfs over /sys/kernel/btf. Recording needs --btf (the BTF extracted
    from this kernel's package); dump and --mode wall are refused."""
    folded = os.path.join(d, "out.folded")
    subprocess.run(["mount", "-t", "tmpfs", "nobtf", KERNEL_BTF_DIR], check=True)
    try:
        with Target(PYTHONS[-1]["path"], target_path("known_stack.py"), 120, 5) as t:
            without = subprocess.run([REFBPF, "-p", str(t.pid), "-d", "1"],
                                     capture_output=True, text=True, timeout=120)
            given = run_refbpf(REFBPF, ["-v", "--btf", BTF_FILE, "-p", t.pid, "-d", 2, "-F", 499,
                                        "--folded", folded], check=False)
            dumped = subprocess.run([REFBPF, "dump", "--btf", BTF_FILE, "-p", str(t.pid)],
                                    capture_output=True, text=True, timeout=120)
            wall = subprocess.run([REFBPF, "--btf", BTF_FILE, "-p", str(t.pid), "-d", "1",
                                   "--mode", "wall"], capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["umount", KERNEL_BTF_DIR], check=True)
    return {"without": completed(without), "given": dict(completed(given), folded=text(folded)),
            "dump": completed(dumped), "wall": completed(wall)}


CAP_SYS_RESOURCE = 24
PR_CAPBSET_DROP = 24


def memlock(d):
    """Recording under a 64 KiB RLIMIT_MEMLOCK: as root, and as root
    without CAP_SYS_RESOURCE (which may not raise it). Before 5.11 the
    kernel charges BPF memory against it."""
    libc = ctypes.CDLL(None, use_errno=True)

    def low_limit():
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))

    def low_limit_no_cap():
        low_limit()
        if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0):
            os._exit(99)

    out = {}
    with Target(PYTHONS[-1]["path"], target_path("known_stack.py"), 120, 5) as t:
        for name, fn in (("root", low_limit), ("no_cap_sys_resource", low_limit_no_cap)):
            folded = os.path.join(d, name + ".folded")
            r = subprocess.run([REFBPF, "-p", str(t.pid), "-d", "1", "-F", "499", "--folded", folded],
                               capture_output=True, text=True, timeout=120, preexec_fn=fn)
            out[name] = dict(completed(r), folded=text(folded))
    return out


PER_PYTHON = [known_stack, shares, children, sigint, target_exit, wall, native,
              native_syscall, wall_native, kernel, dump, gil]
ONCE = [target_exit_children, preempted, top, every, all_processes, container, no_kernel_btf,
        memlock]


def main():
    results = open(sys.argv[1], "w")
    wanted = set(sys.argv[2].split(",")) if len(sys.argv) > 2 and sys.argv[2] else None
    uname = os.uname()
    runs = [(fn, py) for fn in PER_PYTHON for py in PYTHONS] + [(fn, None) for fn in ONCE]
    results.write(json.dumps({"check": "boot", "release": uname.release,
                              "cpus": os.cpu_count(),
                              "pythons": [p["name"] for p in PYTHONS],
                              "checks": ["%s/%s" % (fn.__name__, py["name"] if py else "-")
                                         for fn, py in runs
                                         if not wanted or fn.__name__ in wanted]}) + "\n")
    results.flush()
    for fn, py in runs:
        if wanted and fn.__name__ not in wanted:
            continue
        where = "%s/%s" % (fn.__name__, py["name"] if py else "-")
        d = scratch(where.replace("/", "-"))
        t0 = time.monotonic()
        try:
            data = fn(py, d) if py else fn(d)
        except Exception:
            data = {"error": traceback.format_exc()}
        data.update(check=fn.__name__, python=py["name"] if py else None,
                    version=py["version"] if py else None, seconds=time.monotonic() - t0)
        results.write(json.dumps(data) + "\n")
        results.flush()
        print("refbpf-guest: %s %.1f s%s" % (where, data["seconds"],
                                              " ERROR" if "error" in data else ""), flush=True)
    results.write(json.dumps({"check": "done"}) + "\n")
    results.flush()


if __name__ == "__main__":
    main()
