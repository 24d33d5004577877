"""--kernel: kernel frames on top of the Python stack, named from
/proc/kallsyms, in every output (folded, pstats keys in cProfile's style
for C functions)."""
import marshal
import os

import pytest

from kernel_times import CpuGiven, assert_sampled
from profiling import Target, markers, parse_folded, run_refbpf, target_path

pytestmark = pytest.mark.root


def kernel_names(frames):
    return [f[0][len("<kernel "):-1] for f in frames if f[0].startswith("<kernel ")]


# A system call's first kernel frames, by architecture (uname -m): its
# entry from user mode (arm64's named el0_sync before 5.11) and the
# function every system call passes through.
SYSCALL_FRAMES = {
    "x86_64": (("entry_SYSCALL_64",), "do_syscall_64"),
    "aarch64": (("el0t_64_sync", "el0_sync"), "do_el0_svc"),
}
MACHINE = os.uname().machine


def syscall_kernel_samples(stacks, script, lines, machine=MACHINE):
    """Samples of syscalls.py's pump() inside write(2) and read(2), by
    which, checking on the way that every kernel stack sits right above
    the Python frame that made the call and starts at the syscall entry
    of `machine`. Shared with the kernel matrix (tests/kernels/matrix.py)."""
    entries, dispatch = SYSCALL_FRAMES[machine]
    in_kernel = {"write": 0, "read": 0}
    for frames, count in stacks:
        knames = kernel_names(frames)
        if not knames:
            continue
        # kernel frames are the innermost ones, right above the Python
        # frame that made the call: the line of the os.write or os.read
        first = next(i for i, f in enumerate(frames) if f[0].startswith("<kernel "))
        assert all(f[0].startswith("<kernel ") for f in frames[first:]), frames
        caller = frames[first - 1]
        assert caller[0] == "pump" and caller[1] == script, frames
        if dispatch not in knames:
            continue  # an interrupt taken in user mode, say
        assert knames[0].startswith(entries), knames
        if caller[2] == lines["write"] and ("ksys_write" in knames or "vfs_write" in knames):
            in_kernel["write"] += count
        if caller[2] == lines["read"] and ("ksys_read" in knames or "vfs_read" in knames):
            in_kernel["read"] += count
    return in_kernel


def test_kernel_frames_of_syscalls(python, tmp_path, refbpf_bin):
    label, path, version = python
    script = target_path("syscalls.py")
    lines = markers(script)
    folded, pstats = tmp_path / "out.folded", tmp_path / "out.prof"
    with Target(path, script) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 3, "-F", 499, "--kernel",
                                    "--folded", folded, "-o", pstats])
        stacks = parse_folded(folded)
        total = sum(c for _, c in stacks)
        assert_sampled(total, given, r.stdout, 499)
    assert "kernel stacks" in r.stdout.splitlines()[0], r.stdout
    in_kernel = syscall_kernel_samples(stacks, script, lines)
    # a pipe loop of 64 KiB copies spends most of its time in the kernel
    assert in_kernel["write"] + in_kernel["read"] > 0.4 * total, (in_kernel, total, stacks[:20])
    assert in_kernel["write"] > 0 and in_kernel["read"] > 0, in_kernel
    # pstats: C functions keyed as cProfile does, ('~', 0, '<...>')
    with open(pstats, "rb") as f:
        keys = marshal.load(f)
    for name in (SYSCALL_FRAMES[MACHINE][1], "vfs_read", "vfs_write"):
        assert ("~", 0, "<kernel %s>" % name) in keys, sorted(k for k in keys if k[0] == "~")


def test_no_kernel_frames_without_the_option(tmp_path, refbpf_bin):
    folded = tmp_path / "out.folded"
    with Target("/usr/bin/python3", target_path("syscalls.py")) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 1, "--folded", folded])
    stacks = parse_folded(folded)
    assert stacks and not any(kernel_names(frames) for frames, _ in stacks)
