"""The kernel matrix (`make test-kernels`): boot Debian's cloud kernels
(scripts/fetch-kernels.sh: bullseye 5.10, bookworm 6.1, trixie 6.12, sid's)
under qemu, run refbpf's checks inside (tests/kernels/guest.py, in the
initramfs scripts/kernel-initramfs.sh builds) on two interpreters (Debian
bullseye's 3.9 and trixie's 3.13), and judge here what each check
reported: one test per (kernel, check, interpreter).

With REFBPF_KERNEL_ARCH=arm64 (`make test-arm64`) the same checks judge
Debian's arm64 cloud kernels (bookworm 6.1, bullseye 5.10) booted under
qemu-system-aarch64 -M virt -cpu max, the cross-built static refbpf and
Debian's arm64 interpreters (REFBPF_KERNEL_PYTHONS: which ones), results in
build/kernels-arm64/.

Not collected by `pytest tests/` (its name does not start with test_):
`make test-kernels` names it. Each kernel boots once, on its first test;
its console, its results and how long it took are kept in
build/kernels/KERNEL/ (REFBPF_KERNEL_REUSE=1 judges those again without
booting).

The guest runs under TCG (software emulation: KVM guests hang on these
machines; REFBPF_QEMU_ACCEL=kvm tries KVM elsewhere) with icount and one
CPU, so its clock keeps time with the work it does however busy the host
is (see boot_one). Timings inside are no performance figures.
"""
import base64
import concurrent.futures
import json
import marshal
import os
import re
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
from conftest import BUILD  # noqa: E402
from profiling import (function_samples, markers, parse_folded, sample_period_s,  # noqa: E402
                       self_samples)
from test_gil import samples_of, summary  # noqa: E402
from test_kernel import SYSCALL_FRAMES, syscall_kernel_samples  # noqa: E402
from test_layout_dwarf import disagreements  # noqa: E402
from test_native import (EXT, LIBC, READ_WRAPPERS, check_chain, describe,  # noqa: E402
                         samples_in_read, interpreter_modules, wall_native_waits)
from test_record import qualified  # noqa: E402
from test_top import rows  # noqa: E402
from test_wall import RATE as WALL_RATE, header_duration, shares as wall_shares  # noqa: E402

# Debian's name of the guests' architecture: amd64 or arm64
ARCH = os.environ.get("REFBPF_KERNEL_ARCH", "amd64")
ARM64 = ARCH == "arm64"
CACHE = "/var/cache/refbpf/arm64" if ARM64 else "/var/cache/refbpf"
KERNELS_DIR = os.environ.get("REFBPF_KERNELS_DIR", CACHE + "/kernels")
PYTHONS_DIR = os.environ.get("REFBPF_PYTHONS_DIR", CACHE + "/pythons")
KERNELS = os.environ.get("REFBPF_KERNELS",
                         "bookworm bullseye" if ARM64 else "bullseye bookworm trixie sid").split()
PYTHONS = os.environ.get("REFBPF_KERNEL_PYTHONS",
                         "bullseye-3.9 bookworm-3.11 trixie-3.13" if ARM64 else
                         "bullseye-3.9 trixie-3.13").split()
OUT = os.path.join(BUILD, "kernels-arm64" if ARM64 else "kernels")
# the guests' machine as uname -m names it
MACHINE = "aarch64" if ARM64 else "x86_64"
INITRAMFS = os.path.join(OUT, "initramfs.cpio")
# A boot runs every check: about 4 minutes under TCG on 2 CPUs.
BOOT_TIMEOUT_S = int(os.environ.get("REFBPF_KERNEL_TIMEOUT", "1500"))
TARGETS = "/t/tests/targets"

pytestmark = pytest.mark.root

_boots = {}
_pool = None


def release_version(release):
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2)))


def boot(kernel):
    """The reports of `kernel`'s boot. The first call starts every kernel's,
    REFBPF_KERNEL_JOBS (2) at a time: under TCG with icount a VM runs on
    one host thread."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=int(os.environ.get("REFBPF_KERNEL_JOBS", "2")))
        for k in KERNELS:
            _boots[k] = _pool.submit(boot_one, k)
    return _boots[kernel].result()


def boot_one(kernel):
    """Boot `kernel` with every check; its reports by (check, python)."""
    kdir = os.path.join(KERNELS_DIR, kernel)
    if not os.path.exists(os.path.join(kdir, "vmlinuz")):
        pytest.fail("%s/vmlinuz missing: make test-kernels fetches it "
                    "(scripts/fetch-kernels.sh)" % kdir)
    if not os.path.exists(INITRAMFS):
        pytest.fail("%s missing: make test-kernels builds it" % INITRAMFS)
    out = os.path.join(OUT, kernel)
    console, results = os.path.join(out, "console.log"), os.path.join(out, "results.jsonl")
    if ARM64:
        results = console  # the one serial port (see below)
    if os.environ.get("REFBPF_KERNEL_REUSE") and os.path.exists(results):
        # judge again what the last boot reported (while changing tests)
        return read_reports(kernel, out, console, results, 0, 0, False)
    os.makedirs(os.path.join(out, "extra", "t", "kernel"), exist_ok=True)
    # this kernel's own BTF, as its package carries it, for --btf
    extra = os.path.join(out, "extra")
    subprocess.run(["cp", os.path.join(kdir, "vmlinux.btf"),
                    os.path.join(extra, "t", "kernel", "vmlinux.btf")], check=True)
    initrd = os.path.join(out, "initrd.cpio")
    with open(initrd, "wb") as f:
        with open(INITRAMFS, "rb") as common:
            while True:
                chunk = common.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
        f.flush()
        # a second archive after the first: the kernel unpacks both
        subprocess.run("find t | cpio -o -H newc --quiet", shell=True, cwd=extra, stdout=f,
                       check=True)
    for p in {console, results}:
        if os.path.exists(p):
            os.unlink(p)
    accel = os.environ.get("REFBPF_QEMU_ACCEL", "tcg")
    checks = os.environ.get("REFBPF_KERNEL_CHECKS", "")
    # arm64: every feature of the newest CPU, pointer authentication too
    # (Debian's userland signs return addresses), by QEMU's own algorithm:
    # the architecture's QARMA costs TCG dearly
    cpu = os.environ.get("REFBPF_QEMU_CPU", ("max,pauth-impdef=on" if ARM64 else "max")
                         if accel == "tcg" else "host")
    # icount: the guest's clock follows the instructions it runs, so its
    # timers (and refbpf's cpu-clock samples) keep time with its work
    # however busy the host is; without it a late timer drops samples.
    # One CPU: with two, icount runs them in turns on one host thread, and
    # the one waiting its turn sees its clock move without running (its
    # thread charged CPU time, its timer ticks dropped)
    # arm64: a fixed 4 ns per instruction (a 250 MIPS guest) and no host
    # sleep while the guest idles: its time is then its instructions'
    # alone. shift=auto retunes the rate to the host's clock, and with the
    # host busy with other work (load 10 on 2 CPUs) arm64's slower guests
    # saw their own timers late: --every's 1 s windows of 1.3-1.6 s, a
    # busy target's wall samples 11% short of its header's duration
    icount = "-icount shift=2,sleep=off" if ARM64 else "-icount shift=auto"
    extra = os.environ.get("REFBPF_QEMU_EXTRA", icount if accel == "tcg" else "")
    if ARM64:
        # virt has one serial port: the console carries the results too,
        # on lines of their own (the kernel says nothing below loglevel 1)
        machine, append = ["qemu-system-aarch64", "-M", "virt"], \
            "console=ttyAMA0 loglevel=1 panic=-1 refbpf_results=/dev/ttyAMA0"
        serials = ["-serial", "file:" + console]
    else:
        machine, append = ["qemu-system-x86_64", "-M", "q35"], "console=ttyS0 quiet panic=-1"
        serials = ["-serial", "file:" + console, "-serial", "file:" + results]
    cmd = machine + ["-accel", accel,
                     "-cpu", cpu, "-smp", os.environ.get("REFBPF_QEMU_SMP", "1"), "-m", "2048"] + \
        extra.split() + [
           "-display", "none", "-no-reboot", "-kernel", os.path.join(kdir, "vmlinuz"),
           "-initrd", initrd, "-append",
           append + (" refbpf_checks=" + checks if checks else "")] + serials
    t0 = time.monotonic()
    with open(os.path.join(out, "qemu.log"), "w") as log:
        vm = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    timed_out = False
    # waited for with wait4: the CPU time it took is the figure that says
    # what the matrix costs, however busy the host was
    while True:
        pid, _, usage = os.wait4(vm.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > BOOT_TIMEOUT_S:
            vm.kill()
            _, _, usage = os.wait4(vm.pid, 0)
            timed_out = True
            break
        time.sleep(0.5)
    vm.returncode = 0  # reaped above
    seconds = time.monotonic() - t0
    cpu_s = usage.ru_utime + usage.ru_stime
    return read_reports(kernel, out, console, results, seconds, cpu_s, timed_out)


def read_reports(kernel, out, console, results, seconds, cpu_s, timed_out):
    reports, boot_info, done = {}, None, False
    if os.path.exists(results):
        with open(results, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r["check"] == "boot":
                    boot_info = r
                elif r["check"] == "done":
                    done = True
                else:
                    reports[(r["check"], r["python"])] = r
    if seconds:
        with open(os.path.join(out, "time"), "w") as f:
            f.write("%s (%s): %.0f s, qemu's CPU %.0f s%s\n" % (
                kernel, boot_info["release"] if boot_info else "?", seconds, cpu_s,
                " (timed out)" if timed_out else ""))
    return {"reports": reports, "boot": boot_info, "done": done, "seconds": seconds,
            "timed_out": timed_out, "console": console}


def console_tail(b, n=40):
    try:
        with open(b["console"], errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "<no console>"


def report(kernel, check, python=None):
    """The check's report; fails with the console's end when there is none."""
    b = boot(kernel)
    r = b["reports"].get((check, python))
    if r is None:
        pytest.fail("%s: no report of %s/%s (%s after %.0f s); console:\n%s" % (
            kernel, check, python or "-", "timed out" if b["timed_out"] else "VM ended",
            b["seconds"], console_tail(b)))
    if "error" in r:
        pytest.fail("%s: %s/%s raised in the guest:\n%s" % (kernel, check, python, r["error"]))
    if "skip" in r:
        pytest.skip("skipped: %s" % r["skip"])
    return r


def folded_of(r, key="folded"):
    path = os.path.join(OUT, "tmp.folded")
    with open(path, "w", encoding="utf-8") as f:
        f.write(r[key])
    return parse_folded(path)


def ok(r):
    assert r["rc"] == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (
        r["rc"], r["stdout"][-2000:], r["stderr"][-3000:])


def guest_python(name):
    """(label, path, version) of an interpreter as the guest has it."""
    tree = os.path.join(PYTHONS_DIR, name)
    path = next(os.path.join(tree, "usr", "bin", f) for f in os.listdir(os.path.join(tree, "usr", "bin"))
                if re.fullmatch(r"python3\.\d+", f))
    return name, path, tuple(int(x) for x in re.search(r"(\d+)\.(\d+)$", name).groups())


def target(name):
    return os.path.join(TARGETS, name)


def host_target(name):
    return os.path.join(TESTS, "targets", name)


kernels = pytest.mark.parametrize("kernel", KERNELS)
pythons = pytest.mark.parametrize("python", PYTHONS)


# ---- the boot and the features found ----

@kernels
def test_boots_and_reports_every_check(kernel):
    b = boot(kernel)
    assert b["boot"], "the guest never started its checks:\n" + console_tail(b)
    with open(os.path.join(KERNELS_DIR, kernel, "release")) as f:
        assert b["boot"]["release"] == f.read().strip()
    missing = [c for c in b["boot"]["checks"]
               if tuple((c.split("/")[0], None if c.endswith("/-") else c.split("/")[1]))
               not in b["reports"]]
    assert b["done"] and not missing, (missing, console_tail(b))


FEATURES = re.compile(r"^refbpf: kernel (\S+): own BTF (\w+), bpf_get_current_task_btf (\w+) "
                      r"\(5\.11\), bpf_task_pt_regs (\w+) \(5\.15\), bpf_loop (\w+) \(5\.17\), "
                      r"BPF memory charged to (.*)$", re.M)


@kernels
def test_features_found_are_the_kernels(kernel):
    """-v names what the probes found: each as the kernel's release says
    it should be, in Debian's builds (all with BTF)."""
    r = report(kernel, "known_stack", PYTHONS[-1])
    m = FEATURES.search(r["stderr"])
    assert m, r["stderr"][-2000:]
    release, btf, task_btf, pt_regs, loop, charge = m.groups()
    v = release_version(release)
    assert btf == "yes"
    assert task_btf == ("yes" if v >= (5, 11) else "no"), m.group(0)
    assert pt_regs == ("yes" if v >= (5, 15) else "no"), m.group(0)
    assert loop == ("yes" if v >= (5, 17) else "no"), m.group(0)
    assert charge == ("the memory cgroup" if v >= (5, 11) else "RLIMIT_MEMLOCK"), m.group(0)


# ---- per interpreter ----

@kernels
@pythons
def test_known_stack_exact(kernel, python):
    label, path, version = guest_python(python)
    r = report(kernel, "known_stack", python)
    ok(r)
    script = target("known_stack.py")
    lines = markers(host_target("known_stack.py"))
    stacks = folded_of(r)
    total = sum(c for _, c in stacks)
    assert total > 300, r["stdout"]
    expected_prefix = [
        ("<module>", script, lines["module"]),
        ("main", script, lines["main"]),
        (qualified(version, "Worker", "run"), script, lines["run"]),
    ] + [("recurse", script, lines["recurse"])] * 5 + [("recurse", script, lines["call_leaf"])]
    exact = sum(count for frames, count in stacks
                if frames[:-1] == expected_prefix and frames[-1][0] == "leaf" and
                frames[-1][2] in (lines["leaf_loop"], lines["leaf_body"]) and
                frames[-1][1] == script)
    assert exact >= 0.95 * total, "\n".join("%r %d" % s for s in stacks[:10])
    assert "Python %d.%d" % version[:2] in r["stdout"]


@kernels
@pythons
def test_known_time_shares(kernel, python):
    r = report(kernel, "shares", python)
    ok(r)
    stacks = folded_of(r)
    total = sum(c for _, c in stacks)
    assert total > 1000, r["stdout"]
    for name, expected in (("share_one", 1 / 6), ("share_two", 2 / 6), ("share_three", 3 / 6)):
        share = function_samples(stacks, name) / total
        assert abs(share - expected) < 0.03, "%s: %.3f vs %.3f" % (name, share, expected)


@kernels
@pythons
def test_children_followed_with_C(kernel, python):
    label, path, version = guest_python(python)
    r = report(kernel, "children", python)
    ok(r)
    stacks = folded_of(r)
    for name in ("parent_work", "forked_child_work"):
        assert function_samples(stacks, name) > 100, (name, r["stdout"])
    for name in ("execd_child_work", "grandchild_work"):
        assert self_samples(stacks, name) > 100, (name, r["stdout"])
    # a child living 1 s, attached while it runs (4 spinning processes
    # share the guest's one CPU: about 125 samples)
    assert self_samples(stacks, "short_child_work") > 10, r["stdout"]
    assert "not profiled: not a Python process" in r["stdout"], r["stdout"]  # the shell
    assert r["stdout"].count("Python %d.%d" % version[:2]) >= 5, r["stdout"]


@kernels
@pythons
def test_sigint_writes_outputs(kernel, python):
    r = report(kernel, "sigint", python)
    ok(r)
    assert self_samples(folded_of(r), "leaf") > 50, r["stdout"]
    assert "leaf" in r["stdout"] and r["pstats_bytes"] > 0
    assert not [f for f in r["files"] if f.startswith(".")], r["files"]


def check_target_exit(r):
    ok(r)
    # the target's exit ends the recording at once (pidfd, or -C: BPF),
    # not at a liveness check seconds later; emulation is slow, hence 2 s
    assert r["ended_s"] < 2.0, "refbpf ended %.1f s after its target" % r["ended_s"]
    assert self_samples(folded_of(r), "work_until_exit") > 50, r["stdout"]
    assert "exited" in r["stdout"], r["stdout"]


@kernels
@pythons
def test_target_exit_ends_recording(kernel, python):
    check_target_exit(report(kernel, "target_exit", python))


@kernels
def test_target_exit_ends_recording_with_C(kernel):
    check_target_exit(report(kernel, "target_exit_children"))


@kernels
@pythons
def test_wall_mode_shares(kernel, python):
    r = report(kernel, "wall", python)
    ok(r)
    assert "wall mode" in r["stdout"].splitlines()[0], r["stdout"]
    seen = "\n".join(r["stdout"].splitlines()[:3] + r["stderr"].splitlines()[-20:])
    stacks = folded_of(r)
    per = wall_shares(stacks)
    total = sum(c for _, c in stacks)
    # every sample is one of the four threads', but for a stack whose code
    # object could not be read back (marked, not guessed: seen 2 in 2408)
    unknown = sum(c for f, c in stacks if f[0][0] == "<unknown code object>")
    assert total == sum(per.values()) + unknown and unknown <= 0.005 * total, (per, total)
    for who, n in per.items():
        assert abs(100.0 * n / total - 25.0) <= 2.0, (who, per, total, seen)
    # exact, not sampled: a thread blocked throughout has the recording's
    # duration; one that runs too has its time on CPU sampled, which
    # emulated timers keep to within a few percent (exactly on this
    # machine's kernel: tests/test_wall.py)
    expected = header_duration(r["stdout"]) / sample_period_s(WALL_RATE)
    for who, within in (("recv_thread", 0.02), ("main", 0.02), ("sleep_thread", 0.05),
                        ("busy_thread", 0.05)):
        assert abs(per[who] - expected) <= within * expected + 2, (who, per[who], expected, seen)
    lines = markers(host_target("wall_threads.py"))
    blocked = {}
    for f, c in stacks:
        if f[-1][0] == "<off-CPU>":
            blocked[(f[-2][0], f[-2][2])] = blocked.get((f[-2][0], f[-2][2]), 0) + c
    assert blocked.get(("recv_thread", lines["recv"]), 0) >= 0.98 * per["recv_thread"], blocked
    # its 60 wake-ups run a millisecond or more of emulated Python each:
    # its time off CPU, not its whole time, is all at the sleep
    sleep_off = sum(c for f, c in stacks if f[-1][0] == "<off-CPU>" and
                    any(x[0] == "sleep_thread" for x in f))
    assert blocked.get(("sleep_thread", lines["sleep"]), 0) >= 0.98 * sleep_off, blocked
    assert sleep_off >= 0.8 * per["sleep_thread"], (sleep_off, per)
    # (the busy thread does block here: it waits, with the GIL handed to
    # the sleep thread, until that one has a turn of the one CPU; a
    # thread that only waits for the CPU is test_preempted_not_blocked's)


@kernels
def test_preempted_not_blocked(kernel):
    """A busy single-threaded target sharing the CPU: in --mode wall all of
    its time is counted, and the part off CPU is waiting for the CPU
    (<preempted>: the task's state at the switch, read as each kernel
    names it), never blocked."""
    r = report(kernel, "preempted")
    ok(r)
    stacks = folded_of(r)
    period = sample_period_s(WALL_RATE)
    total = sum(c for _, c in stacks)
    preempted = sum(c for f, c in stacks if f[-1][0] == "<preempted>")
    blocked = sum(c for f, c in stacks if f[-1][0] == "<off-CPU>")
    on_cpu = total - preempted - blocked
    seen = (total, preempted, blocked, on_cpu, r["window"], r["on_cpu_s"], r["waiting_s"],
            r["stdout"].splitlines()[0], r["stderr"][-600:])
    # What the guest's kernel counted is measured from a little after the
    # recording began (seen attached) to a little after it ended (refbpf
    # gone): the recording's own share lies within these slacks of it.
    # (Not wall time: a vCPU the host leaves stalled makes that longer
    # than what the guest's tasks got.)
    start = float(re.search(r"sampled from ([0-9.]+) \(CLOCK_MONOTONIC\)", r["stderr"]).group(1))
    before = max(0.0, r["window"][0] - start)
    after = max(0.0, r["window"][1] - (start + header_duration(r["stdout"])))
    # Blocked only as long as the kernel says it was neither running nor
    # runnable, in the window or before it: it may wait on its own memory
    # map's lock while refbpf, attaching, reads it (seen once for 0.2 s on
    # a guest's one vCPU), but a preemption is never taken for a block.
    window = r["window"][1] - r["window"][0]
    blocked_s = max(0.0, window - r["on_cpu_s"] - r["waiting_s"])
    assert blocked <= (blocked_s + before) / period * 1.01 + 2, seen
    # waiting for the CPU is measured, not sampled
    assert (r["waiting_s"] - after) / period - 2 <= preempted, seen
    assert preempted <= (r["waiting_s"] + before) / period * 1.01 + 2, seen
    # its time on the CPU is sampled, never more than the kernel gave it;
    # under emulation a stalled vCPU also drops timer ticks, so it may be less
    assert 0.7 * (r["on_cpu_s"] - after) / period <= on_cpu, seen
    assert on_cpu <= (r["on_cpu_s"] + before) / period * 1.1 + 2, seen
    assert preempted >= 0.25 * total, seen


@kernels
@pythons
def test_native_frames(kernel, python):
    r = report(kernel, "native", python)
    ok(r)
    stacks = folded_of(r)
    spinning = [(frames, n) for frames, n in stacks
                if any(describe(f) == ("c_spin", EXT) for f in frames)]
    total = sum(n for _, n in stacks)
    in_spin = sum(n for _, n in spinning)
    assert total > 100 and in_spin >= 0.8 * total, (in_spin, total, r["stderr"][-2000:])
    for frames, _ in spinning:
        check_chain(frames, interpreter_modules(guest_python(python)))


@kernels
@pythons
def test_native_frames_from_a_syscall(kernel, python):
    """Sampled inside read(2): the user registers saved on kernel entry
    (bpf_task_pt_regs, or the top of the kernel stack before 5.15)."""
    r = report(kernel, "native_syscall", python)
    ok(r)
    stacks = folded_of(r)
    total = sum(n for _, n in stacks)
    in_read = samples_in_read_by_kernel(stacks) if ARM64 else samples_in_read(stacks)
    assert total > 50 and in_read >= 0.5 * total, (in_read, total, stacks[:3])


def samples_in_read_by_kernel(stacks):
    """arm64 (recorded with --kernel too): samples whose kernel frames are
    read(2)'s and whose user frames run from reader() down to libc's, the
    innermost, where the system call was made. glibc 2.41's read() on
    aarch64 tail-calls its cancellation helpers, local functions its
    stripped libc.so.6 does not name, so trixie's samples end in
    `?? [libc.so.6]` (unnamed, never guessed): the kernel frames say which
    system call it is. Named libc frames must be a read wrapper."""
    in_read = 0
    for frames, n in stacks:
        k = next((i for i, f in enumerate(frames) if f[0].startswith("<kernel ")), None)
        if k is None or not {"<kernel ksys_read>", "<kernel __arm64_sys_read>"} & {
                f[0] for f in frames[k:]}:
            continue
        names = [describe(f) for f in frames[:k]]
        last_py = max(i for i, (_, kind) in enumerate(names) if kind == "py")
        assert names[last_py][0] == "reader", names
        native = names[last_py + 1:]
        if not native or not LIBC.fullmatch(native[-1][1]):
            continue
        libc = {name for name, kind in native if LIBC.fullmatch(kind)} - {"??"}
        assert not libc or libc & READ_WRAPPERS, names
        in_read += n
    return in_read


@kernels
@pythons
@pytest.mark.parametrize("how", ["blocked", "naps"])
def test_wall_native_waits(kernel, python, how):
    """--mode wall --kernel --native: each waiting thread's time off the
    CPU shows the libc function it waits in between its Python and kernel
    frames; from the registers a task iterator reads (blocked) and those
    of each switch-out (naps): bpf_task_pt_regs, or the top of the
    kernel stack before 5.15."""
    r = report(kernel, "wall_native", python)[how]
    ok(r)
    wall_native_waits(folded_of(r), how, r["stdout"])


@kernels
@pythons
def test_kernel_frames(kernel, python):
    r = report(kernel, "kernel", python)
    ok(r)
    script = target("syscalls.py")
    lines = markers(host_target("syscalls.py"))
    stacks = folded_of(r)
    total = sum(c for _, c in stacks)
    assert total > 50, r["stdout"]
    in_kernel = syscall_kernel_samples(stacks, script, lines, MACHINE)
    assert in_kernel["write"] + in_kernel["read"] > 0.4 * total, (in_kernel, total, stacks[:20])
    assert in_kernel["write"] > 0 and in_kernel["read"] > 0, in_kernel
    keys = marshal.loads(base64.b64decode(r["pstats"]))
    for name in (SYSCALL_FRAMES[MACHINE][1], "vfs_read", "vfs_write"):
        assert ("~", 0, "<kernel %s>" % name) in keys, sorted(k for k in keys if k[0] == "~")


@kernels
@pythons
def test_dump_json(kernel, python):
    label, path, version = guest_python(python)
    r = report(kernel, "dump", python)
    ok(r)
    script = target("dump_target.py")
    lines = markers(host_target("dump_target.py"))
    [proc] = json.loads(r["stdout"])
    assert proc["pid"] == r["pid"] and proc["python"].startswith("%d.%d" % version[:2])
    threads = proc["threads"]
    assert {th["tid"] for th in threads} <= set(r["tids"]) and len(threads) == 4, threads
    by_inner = {th["frames"][0]["name"]: th for th in threads if th["frames"]}
    sleeper = by_inner["sleeper"]
    assert sleeper["name"] == "sleeper" and not sleeper["running"]
    assert sleeper["frames"][0]["line"] == lines["sleep"]
    assert sleeper["frames"][0]["file"] == script
    assert by_inner["spinner"]["frames"][0]["line"] == lines["spin"]
    main = [th for th in threads if th["tid"] == r["pid"]][0]
    names = [f["name"] for f in main["frames"]]
    assert names[-2:] == ["main", "<module>"], names


@kernels
@pythons
def test_gil_wait(kernel, python):
    """Two threads, one GIL: the waits are seen from the futex syscall's
    registers (bpf_task_pt_regs, or the kernel stack's top before 5.15).
    On the guest's one CPU the thread not running waits for the GIL or,
    once it is handed over, for the CPU (<preempted>): a quarter and a
    quarter of their time, about."""
    r = report(kernel, "gil", python)
    ok(r)
    stacks = folded_of(r)
    spin = samples_of(stacks, "spin_thread")
    wait = samples_of(stacks, "spin_thread", "<GIL wait>")
    assert spin > 100 and wait >= 0.2 * spin, (wait, spin, stacks[:5])
    held, on_cpu, wait_s = summary(r["stdout"])
    # a thread woken to take the GIL runs take_gil's code first, on the
    # CPU without it: longer under emulation (85-99% held seen)
    assert held >= 0.8 * on_cpu, r["stdout"]
    assert ("~", 0, "<GIL wait>") in marshal.loads(base64.b64decode(r["pstats"]))


# ---- once per kernel ----

@kernels
def test_top_plain_text(kernel):
    r = report(kernel, "top")
    ok(r)
    frames = r["stdout"].split("refbpf top: PID %d" % r["pid"])[1:]
    assert len(frames) >= 3, r["stdout"]
    full = rows(frames[1])
    assert full[0][0] == "spin" and full[0][1] > 90, frames[1]
    three = [x for x in full if x[0] == "share_three"]
    assert three and abs(three[0][2] - 50) < 15, frames[1]


@kernels
def test_every_writes_windows(kernel):
    r = report(kernel, "every")
    ok(r)
    windows = re.findall(r"^refbpf: window (\d) from (\S+): ([\d.]+) s, (\d+) samples -> (.*)$",
                         r["stdout"], re.M)
    assert [w[0] for w in windows] == ["1", "2", "3", "4"], r["stdout"]
    assert len(r["windows"]) == 4, sorted(r["windows"])
    for n, start, seconds, samples, files in windows:
        name = os.path.basename(files.strip())
        assert name in r["windows"], (name, sorted(r["windows"]))
        counts = sum(int(l.rsplit(" ", 1)[1]) for l in r["windows"][name].splitlines() if l)
        assert counts == int(samples), (name, counts, samples)
        # a window of the busy target has its samples; under emulation a
        # late rotation can leave the last one, up to -d's end, empty
        assert int(samples) > 0 or (n == "4" and float(seconds) < 0.2), r["stdout"]
    assert abs(sum(float(w[2]) for w in windows) - 3.5) < 0.5, r["stdout"]


@kernels
def test_all_finds_python_processes(kernel):
    r = report(kernel, "all_processes")
    ok(r)
    stacks = folded_of(r)
    # the one started after attaching spends its first seconds importing
    # (under emulation, on a CPU shared with the other target and refbpf:
    # 1 to 3 s of the 5 seen, with the host busy): found after its exec,
    # its own work is sampled, less of it
    for pid, least in ((r["before"], 50), (r["after"], 10)):
        n = sum(c for frames, c in stacks if frames[0][0].startswith("<process %d " % pid)
                and any(f[0] == "share_three" for f in frames))
        assert n > least, (pid, r["stdout"][-3000:])


@kernels
def test_container(kernel):
    r = report(kernel, "container")
    ok(r)
    assert not r["host_has_inside"]
    assert re.search(r"^  PID %d \(PID 1 in its namespace\)  Python 3\.9  /usr/bin/python3\.9 "
                     r"/app/busy\.py 60" % r["pid"], r["stdout"], re.M), r["stdout"]
    spin = markers(host_target("container_busy.py"))["spin"]
    stats = marshal.loads(base64.b64decode(r["pstats"]))
    work = stats[("/app/busy.py", spin - 1, "container_work")]
    assert work[3] >= 0.9 * max(v[3] for v in stats.values()), stats


@kernels
def test_without_kernel_btf(kernel):
    """No /sys/kernel/btf/vmlinux: recording refused in one line naming
    BTFHub; with --btf (this kernel's BTF from its package) it records;
    dump and --mode wall alone are refused, in one line naming the kernel
    feature."""
    r = report(kernel, "no_kernel_btf")
    without, given, dumped = r["without"], r["given"], r["dump"]
    assert without["rc"] != 0 and len(without["stderr"].strip().splitlines()) == 1, without
    assert "--btf" in without["stderr"] and "BTFHub" in without["stderr"], without
    ok(given)
    assert "own BTF no" in given["stderr"] and "task fields by probe reads" in given["stderr"], \
        given["stderr"][-2000:]
    assert self_samples(folded_of(given), "leaf") > 300, given["stdout"]
    assert dumped["rc"] != 0 and dumped["stderr"].strip().count("\n") == 0, dumped
    assert dumped["stderr"].startswith("refbpf: dump needs the kernel's own BTF"), dumped
    assert "CONFIG_DEBUG_INFO_BTF" in dumped["stderr"] and "5.8" in dumped["stderr"], dumped
    wall = r["wall"]
    assert wall["rc"] != 0 and wall["stderr"].strip().count("\n") == 0, wall
    assert wall["stderr"].startswith("refbpf: --mode wall needs the kernel's own BTF"), wall


@kernels
def test_memlock(kernel):
    """A 64 KiB RLIMIT_MEMLOCK: root raises it where the kernel charges it
    (before 5.11); without CAP_SYS_RESOURCE it cannot, and refbpf says so
    in one line there, and records on kernels that charge the cgroup."""
    r = report(kernel, "memlock")
    ok(r["root"])
    assert self_samples(folded_of(r["root"]), "leaf") > 100, r["root"]["stdout"]
    capless = r["no_cap_sys_resource"]
    if release_version(boot(kernel)["boot"]["release"]) >= (5, 11):
        ok(capless)
        assert self_samples(folded_of(capless), "leaf") > 100, capless["stdout"]
    else:
        assert capless["rc"] != 0, capless
        assert capless["stderr"].strip().count("\n") == 0, capless["stderr"]
        assert "RLIMIT_MEMLOCK" in capless["stderr"] and "5.11" in capless["stderr"], capless


# ---- the static build on an older userspace (on this host's kernel) ----

ROOT = os.path.dirname(TESTS)
STATIC = os.path.join(ROOT, "build-static", "refbpf")
BULLSEYE = os.path.join(PYTHONS_DIR, "bullseye-3.9")


def in_root(root, *cmd, **kw):
    """CMD chroot'ed into `root`, with /proc and /sys mounted in a mount
    namespace of its own (gone with it)."""
    script = 'mount -t proc proc "$0/proc" && mount --rbind /sys "$0/sys" && exec chroot "$@"'
    return subprocess.Popen(["unshare", "--mount", "sh", "-c", script, root, root] + list(cmd),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_static_build_runs_in_a_bullseye_root(tmp_path):
    """Debian 11's own userspace (glibc 2.31, no libbpf 1.x): the build
    linked against this machine's libraries cannot even start there; the
    static one records bullseye's own python3.9 from inside it."""
    from conftest import REFBPF
    if not os.access(STATIC, os.X_OK):
        pytest.fail("%s is not built: make static" % STATIC)
    if not os.path.isdir(BULLSEYE):
        pytest.fail("%s missing: make pythons fetches it" % BULLSEYE)
    root = str(tmp_path / "root")
    subprocess.run(["cp", "-a", BULLSEYE, root], check=True)
    for d in ("proc", "sys", "app", os.path.dirname(BULLSEYE).lstrip("/")):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    # the tree's interpreter finds its loader and libraries at BULLSEYE
    os.symlink("/", os.path.join(root, BULLSEYE.lstrip("/")))
    subprocess.run(["cp", STATIC, os.path.join(root, "refbpf")], check=True)
    subprocess.run(["cp", REFBPF, os.path.join(root, "refbpf-dynamic")], check=True)
    subprocess.run(["cp", host_target("known_stack.py"), os.path.join(root, "app")], check=True)

    dynamic = in_root(root, "/refbpf-dynamic", "--version")
    out, err = dynamic.communicate(timeout=60)
    assert dynamic.returncode != 0 and ("GLIBC_2." in err or "libbpf.so.1" in err), (out, err)

    target = in_root(root, "/usr/bin/python3.9", "/app/known_stack.py", "30", "5")
    try:
        # unshare, sh and chroot exec each other: the PID is Python's
        assert target.stdout.readline().startswith("READY"), target.stderr.read()
        rec = in_root(root, "/refbpf", "-p", str(target.pid), "-d", "2", "-F", "499",
                      "--folded", "/app/out.folded")
        out, err = rec.communicate(timeout=120)
    finally:
        target.kill()
        target.communicate(timeout=30)
    assert rec.returncode == 0, err
    assert "Python 3.9" in out, out
    stacks = parse_folded(os.path.join(root, "app", "out.folded"))
    leaf = self_samples(stacks, "leaf")
    assert leaf > 300 and leaf >= 0.95 * sum(c for _, c in stacks), stacks[:3]



# ---- the arm64 build's layouts against Debian's arm64 DWARF (on the host) ----

ARM64_LAYOUT_DUMP = os.path.join(ROOT, "build-arm64-static", "tests", "layout_dump")


def arm64_dump(*args, root=""):
    """(rc, fields, stderr) of the arm64 build's layout_dump: natively on
    an arm64 host, else under qemu-aarch64 (user mode; the tool is static)."""
    if not os.access(ARM64_LAYOUT_DUMP, os.X_OK):
        pytest.fail("%s is not built: make test-arm64 builds it" % ARM64_LAYOUT_DUMP)
    cmd = [ARM64_LAYOUT_DUMP] + [str(a) for a in args]
    if os.uname().machine != "aarch64":
        cmd = ["qemu-aarch64"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, REFBPF_DEBUG_ROOT=root))
    return r.returncode, dict(l.split("=", 1) for l in r.stdout.split()), r.stderr


@pythons
def test_arm64_layouts_match_dwarf(python):
    """What the arm64 build reads each interpreter with (3.8-3.12: its
    built-in table, whose GIL follows aarch64's pthread types; 3.13+:
    _Py_DebugOffsets), and the object layout of thread names and locals,
    equal the DWARF of Debian's arm64 python3.X-dbg, as
    tests/test_layout_dwarf.py checks the x86-64 build on this machine's."""
    label, path, version = guest_python(python)
    root = os.path.join(PYTHONS_DIR, python)
    rc, dwarf, err = arm64_dump("--dwarf", path, version[0], version[1], root=root)
    assert rc == 0 and dwarf, "no DWARF of %s (python3.%d-dbg): %s" % (path, version[1], err)
    source = ["--builtin", version[0], version[1]] if version < (3, 13) else ["--debug-offsets", path]
    rc, ours, err = arm64_dump(*source)
    assert rc == 0, err
    assert ours.get("gil_where") in ("1", "2") and "gil_size" in dwarf, (ours, dwarf)
    wrong = disagreements(ours, dwarf)
    assert not wrong, "%s of the arm64 build disagrees with DWARF of %s: {field: (ours, dwarf)} %r" % (
        source[0], path, wrong)
    rc, dwarf, err = arm64_dump("--objects-dwarf", path, version[0], version[1], root=root)
    assert rc == 0, err
    rc, ours, err = arm64_dump("--objects-builtin", version[0], version[1])
    assert rc == 0, err
    wrong = disagreements(ours, dwarf)
    assert not wrong, "the arm64 build's object table disagrees with DWARF of %s: %r" % (path, wrong)


if ARM64:
    # the x86-64 static build on a bullseye root: not the arm64 matrix's
    del test_static_build_runs_in_a_bullseye_root
else:
    del test_arm64_layouts_match_dwarf
