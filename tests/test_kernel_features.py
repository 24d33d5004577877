"""Root tests: what refbpf finds of the kernel, the variants it chooses and
what it refuses, on this machine's kernel. tests/kernels/matrix.py checks
the same on every kernel from 5.10 (make test-kernels)."""
import os
import re
import shutil
import subprocess

import pytest

from profiling import Target, markers, parse_folded, target_path
from pythons import find_interpreters

pytestmark = pytest.mark.root

KERNEL_BTF = "/sys/kernel/btf/vmlinux"
FEATURES = re.compile(r"^refbpf: kernel (\S+): own BTF (\w+), bpf_get_current_task_btf (\w+) "
                      r"\(5\.11\), bpf_task_pt_regs (\w+) \(5\.15\), bpf_loop (\w+) \(5\.17\), "
                      r"BPF memory charged to (.*)$", re.M)
VARIANTS = re.compile(r"^refbpf: BPF variants: task fields by (.*), user registers from (.*), "
                      r"walks in bounded loops of global functions$", re.M)


def cpu_seconds(pid):
    """utime + stime of a process, from the kernel."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def newest():
    return find_interpreters()[-1]


def without_kernel_btf(*cmd):
    """CMD with an empty tmpfs over /sys/kernel/btf, in a mount namespace
    of its own: a kernel without BTF, as far as refbpf can tell."""
    return subprocess.run(["unshare", "--mount", "sh", "-c",
                           'mount -t tmpfs nobtf /sys/kernel/btf && exec "$@"', "sh"] +
                          [str(c) for c in cmd], capture_output=True, text=True, timeout=120)


def test_features_and_variants_named_with_v(refbpf_bin):
    release = os.uname().release
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", release).groups())
    if (major, minor) < (5, 17):
        pytest.skip("skipped: this test names what a 5.17+ kernel has; the matrix covers older")
    with Target(newest()[1], target_path("known_stack.py"), 30) as t:
        r = subprocess.run([refbpf_bin, "-v", "-p", str(t.pid), "-d", "0.5"],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = FEATURES.search(r.stderr)
    assert m and m.groups() == (release, "yes", "yes", "yes", "yes", "the memory cgroup"), \
        r.stderr[:2000]
    v = VARIANTS.search(r.stderr)
    assert v and v.groups() == ("BTF pointer", "bpf_task_pt_regs"), r.stderr[:2000]


def test_without_kernel_btf_refused_in_one_line_naming_btfhub(refbpf_bin):
    with Target(newest()[1], target_path("known_stack.py"), 30) as t:
        r = without_kernel_btf(refbpf_bin, "-p", t.pid, "-d", 1)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--btf PATH" in r.stderr and "BTFHub" in r.stderr, r.stderr


def test_btf_file_records_without_kernel_btf_and_dump_is_refused(refbpf_bin, tmp_path):
    """--btf with this kernel's BTF (a copy of its own): everything records,
    through the variants that need no BTF of the kernel's own; dump's task
    iterator does, and dump alone is refused, in one line."""
    btf = tmp_path / "vmlinux.btf"
    shutil.copy(KERNEL_BTF, btf)
    label, path, version = newest()
    script = target_path("known_stack.py")
    lines = markers(script)
    folded = tmp_path / "out.folded"
    with Target(path, script, 30, 5) as t:
        cpu = cpu_seconds(t.pid)
        rec = without_kernel_btf(refbpf_bin, "-v", "--btf", btf, "-p", t.pid, "-d", 2, "-F", 499,
                                 "--native", "--folded", folded)
        # what the kernel gave it while refbpf ran, start-up included
        cpu = cpu_seconds(t.pid) - cpu
        dump = without_kernel_btf(refbpf_bin, "dump", "--btf", btf, "-p", t.pid)
    assert rec.returncode == 0, rec.stderr[-3000:]
    assert FEATURES.search(rec.stderr).group(2) == "no", rec.stderr[:2000]
    assert VARIANTS.search(rec.stderr).groups() == ("probe reads", "the top of the kernel stack")
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    in_leaf = [(frames, c) for frames, c in stacks
               if any(f[0] == "leaf" and f[1] == str(script) and
                      f[2] in (lines["leaf_loop"], lines["leaf_body"]) for f in frames)]
    # its CPU time in the 2 s recorded, of the longer time refbpf ran
    # (start-up too, seconds on a loaded machine)
    assert total > 0.3 * 499 * min(cpu, 2.0), (total, cpu)
    assert total > 50 and sum(c for _, c in in_leaf) >= 0.95 * total, stacks[:3]
    # --native (its registers from the perf event, or from the top of the
    # kernel stack): the interpreter's own C frames above leaf's
    interp = os.path.basename(os.path.realpath(path))
    native = sum(c for frames, c in in_leaf
                 if any(f[1] is None and f[0].endswith("[%s]" % interp) for f in frames[1:]))
    assert native >= 0.5 * total, stacks[:3]
    assert dump.returncode != 0 and len(dump.stderr.strip().splitlines()) == 1, dump.stderr
    assert dump.stderr.startswith("refbpf: dump needs the kernel's own BTF for its BPF task "
                                  "iterator (CONFIG_DEBUG_INFO_BTF"), dump.stderr



def test_wall_mode_refused_with_only_a_btf_file(refbpf_bin, tmp_path):
    """--mode wall finds the threads asleep from before the recording with
    a BPF task iterator, which needs the kernel's own BTF: with only a
    --btf file it is refused in one line (not recorded without them)."""
    btf = tmp_path / "vmlinux.btf"
    shutil.copy(KERNEL_BTF, btf)
    with Target(newest()[1], target_path("known_stack.py"), 30) as t:
        r = without_kernel_btf(refbpf_bin, "--btf", btf, "-p", t.pid, "-d", 1, "--mode", "wall")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("refbpf: --mode wall needs the kernel's own BTF for its BPF "
                               "task iterator"), r.stderr
    assert "CONFIG_DEBUG_INFO_BTF" in r.stderr and "5.8" in r.stderr, r.stderr
