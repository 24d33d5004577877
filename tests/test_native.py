"""--native: C frames interleaved with the Python frames, unwound from a
copied stack with CFI. A C extension built here (-O2, no frame pointers)
runs Python -> C -> Python -> C; every output must show exactly that, in
order, with no eval-loop frame left, on every interpreter with headers."""
import json
import os
import pstats
import re
import subprocess

import pytest

from kernel_times import CpuGiven, assert_sampled
from profiling import Target, parse_folded, run_refbpf, target_path
from test_formats import decode_pprof

pytestmark = pytest.mark.root

SCRIPT = target_path("native_mixed.py")
EXT_SOURCE = target_path("native_ext.c")
EXT = "native_ext.so"
# A native frame as the folded output writes it: "SYMBOL [MODULE]", and
# " (inlined)" for a function DWARF says was inlined there.
NATIVE = re.compile(r"^(?P<sym>.*) \[(?P<module>[^\]]*)\](?P<inlined> \(inlined\))?$")
CHAIN = ["py_outer", "c_call_back", "py_inner", "c_spin"]
READ_WRAPPERS = {"read", "__libc_read", "__read", "__GI___libc_read", "__read_nocancel"}


# interpreter path -> the directory its native_ext.so was built in, once
_BUILT = {}


def build_extension(python, tmp_path):
    """native_ext.so for this interpreter, from its own headers (built once
    per run, in the first test's tmp_path, which outlives the run)."""
    label, path, _ = python
    if path in _BUILT:
        return _BUILT[path]
    include = subprocess.run(
        [path, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True, text=True, timeout=60).stdout.strip()
    if not include or not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip("skipped: %s has no C headers (no %s/Python.h; Debian: install "
                    "libpython3.X-dev; make pythons fetches it for Debian's)" % (label, include))
    out = tmp_path / "ext"
    out.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-g", "-fomit-frame-pointer",
                    "-fno-optimize-sibling-calls", "-I", include,
                    # Debian's pyconfig.h includes <ARCH/python3.X/pyconfig.h>
                    "-I", os.path.dirname(include), "-o", str(out / EXT),
                    EXT_SOURCE], check=True, timeout=120)
    _BUILT[path] = out
    return out


def describe(frame):
    """(name, kind): kind 'py' for Python frames, else the native module."""
    name, file, _ = frame
    if file is not None:
        return name, "py"
    m = NATIVE.match(name)
    assert m, "frame %r is neither Python nor native" % name
    return m.group("sym"), m.group("module") + (" inlined" if m.group("inlined") else "")


def check_chain(frames, interp_modules):
    """The stack, root first, runs <module> -> py_outer -> c_call_back ->
    py_inner -> c_spin, with only the interpreter's own C frames between."""
    named = [describe(f) for f in frames]
    assert not [n for n, _ in named if n.startswith("_PyEval_EvalFrameDefault")], named
    ours = [(i, n) for i, (n, kind) in enumerate(named)
            if kind == "py" or kind == EXT]
    assert [n for _, n in ours] == ["<module>"] + CHAIN, named
    # between two links of the chain: the interpreter's call glue only
    for (a, _), (b, _) in zip(ours, ours[1:]):
        for n, kind in named[a + 1:b]:
            assert kind.split()[0] in interp_modules, (n, kind, named)
    # above c_spin: only what it inlined or calls (clock_gettime: libc,
    # named libc-2.31.so in bullseye's tree, then the vDSO)
    for n, kind in named[ours[-1][0] + 1:]:
        module = kind.split()[0]
        assert kind.startswith(EXT) or module in interp_modules | {"vdso"} or \
            re.fullmatch(r"libc-[\d.]+\.so", module), (n, kind, named)


def interpreter_modules(python):
    """Files the interpreter's own C code may be in: libpython or the binary."""
    _, path, version = python
    real = os.path.basename(os.path.realpath(path))
    return {real, os.path.basename(path), "libpython%d.%d.so.1.0" % version[:2],
            "libpython%d.%d.so" % version[:2], "libc.so.6"}


def test_mixed_stack_in_every_output(refbpf_bin, python, tmp_path):
    label, path, version = python
    ext = build_extension(python, tmp_path)
    folded, prof, raw, svg, ss, pp, html = (
        tmp_path / n for n in ("n.folded", "n.prof", "n.raw", "n.svg", "n.json", "n.pb.gz",
                               "n.html"))
    with Target(path, SCRIPT, ext, 60) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-v", "-p", t.pid, "-d", "3", "-F", "499", "--native",
                                    "--folded", folded, "-o", prof, "--raw", raw,
                                    "--flamegraph", svg, "--speedscope", ss, "--pprof", pp,
                                    "--html", html])
        stacks = parse_folded(folded)
        total = sum(n for _, n in stacks)
        assert_sampled(total, given, r.stdout, 499)
    spinning = [(frames, n) for frames, n in stacks
                if any(describe(f) == ("c_spin", EXT) for f in frames)]
    in_spin = sum(n for _, n in spinning)
    assert in_spin >= 0.8 * total, (in_spin, total, r.stderr)
    for frames, _ in spinning:
        check_chain(frames, interpreter_modules(python))
    # DWARF of the extension: the helper c_spin inlines is a frame too
    # (about a quarter of the loop's time here, idle or under CPU hogs)
    inlined = sum(n for frames, n in spinning
                  if describe(frames[-1]) == ("spin_step", EXT + " inlined"))
    assert inlined >= 0.1 * in_spin, (inlined, in_spin)

    # pstats: C functions keyed as cProfile keys them, called by Python
    st = pstats.Stats(str(prof))
    c_spin = ("~", 0, "<native c_spin [native_ext.so]>")
    c_call_back = ("~", 0, "<native c_call_back [native_ext.so]>")
    assert c_spin in st.stats and c_call_back in st.stats, sorted(st.stats)[:20]
    # called by py_inner, directly or through the interpreter's call glue
    for key, callers in ((c_spin, {"py_inner"}), (c_call_back, {"py_outer"})):
        for caller in st.stats[key][4]:
            assert caller[2] in callers or (caller[:2] == ("~", 0) and
                                            caller[2].startswith("<native ")), (key, caller)
    assert pstats.func_std_string(c_spin) == "{native c_spin [native_ext.so]}"

    # the flame graph gives native frames their own class
    svg_text = svg.read_text()
    assert re.search(r'<g class="f native"[^>]*>\s*<title>c_spin \[native_ext\.so\]', svg_text), \
        svg_text[:2000]

    # speedscope: native frames by name, no file; pprof: the same chain
    frames = json.loads(ss.read_text())["shared"]["frames"]
    spin = [f for f in frames if f["name"] == "c_spin [native_ext.so]"]
    assert len(spin) == 1 and "file" not in spin[0], spin
    prof_pb = decode_pprof(pp)
    loc_name = {lid: prof_pb["functions"][loc["lines"][0][0]]["name"]
                for lid, loc in prof_pb["locations"].items()}
    chains = [[loc_name[l] for l in sm["locations"]][::-1] for sm in prof_pb["samples"]]
    wanted = ["py_outer", "c_call_back [native_ext.so]", "py_inner", "c_spin [native_ext.so]"]
    assert any([n for n in c if n in wanted] == wanted for c in chains), chains[:3]
    # the HTML report's flame graph data marks them native
    assert re.search(r'"c_spin \[native_ext\.so\]"', html.read_text())
    assert '"native"' in html.read_text()

    # the raw file renders the same stacks later, without the target
    again = tmp_path / "again.folded"
    rep = subprocess.run([refbpf_bin, "report", str(raw), "--folded", str(again)],
                         capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0, rep.stderr
    assert again.read_bytes() == folded.read_bytes()
    report = subprocess.run([refbpf_bin, "report", str(raw)], capture_output=True, text=True,
                            timeout=60).stdout
    assert "~:0(c_spin [native_ext.so])" in report
    # what it cost, as -v prints it (docs/wall-gil-native.md)
    assert re.search(r"--native: \d+ stacks unwound", r.stderr), r.stderr


def test_without_native_no_native_frames(refbpf_bin, python, tmp_path):
    """The default path is unchanged: Python frames only, C calls invisible."""
    label, path, version = python
    ext = build_extension(python, tmp_path)
    folded = tmp_path / "p.folded"
    with Target(path, SCRIPT, ext, 60) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", "1", "--folded", folded])
    stacks = parse_folded(folded)
    assert stacks
    for frames, _ in stacks:
        assert all(f[1] is not None for f in frames), frames
    assert any([f[0] for f in frames][-2:] == ["py_outer", "py_inner"] for frames, _ in stacks)


def samples_in_read(stacks):
    """Samples of native_syscall.py inside glibc's read(2) wrapper (older
    glibcs: in libpthread too), checking that the Python function above it
    is reader(). Shared with the kernel matrix (tests/kernels/matrix.py)."""
    in_read = 0
    for frames, n in stacks:
        names = [describe(f) for f in frames]
        last_py = max(i for i, (_, kind) in enumerate(names) if kind == "py")
        if not any(name in READ_WRAPPERS and kind.startswith("lib")
                   for name, kind in names[last_py + 1:]):
            continue
        assert names[last_py][0] == "reader", names
        in_read += n
    return in_read


def test_sample_in_the_kernel_unwinds_from_the_syscall(refbpf_bin, python, tmp_path):
    """A thread sampled inside read(2): its user registers are the ones
    saved on kernel entry, and the stack goes reader -> ... -> read."""
    label, path, version = python
    folded = tmp_path / "k.folded"
    with Target(path, target_path("native_syscall.py"), 60) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", "2", "--native", "--folded", folded])
    stacks = parse_folded(folded)
    total = sum(n for _, n in stacks)
    in_read = samples_in_read(stacks)
    assert in_read >= 0.5 * total, (in_read, total, stacks[:3])


def test_deep_stack_keeps_its_innermost_frames(refbpf_bin, python, tmp_path):
    """Recursion deeper than the stack copy and the frame limit: each stack
    is cut to its innermost 1024 frames and marked truncated, the spinning
    frame innermost of the Python ones; from 3.11 on, no native frame sits
    between two recursive calls (one activation runs them all)."""
    label, path, version = python
    folded = tmp_path / "d.folded"
    with Target(path, target_path("native_deep.py"), 60, 1500) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", "2", "--native", "--folded", folded])
    stacks = parse_folded(folded)
    assert stacks
    spinning = 0
    for frames, n in stacks:
        assert frames[0][0] == "[truncated]" and len(frames) == 1025, (len(frames), frames[:2])
        names = [describe(f) for f in frames[1:]]
        py = [i for i, (_, kind) in enumerate(names) if kind == "py"]
        # the innermost Python frame spins (in time.monotonic's C code, often)
        if names[py[-1]][0] == "recurse":
            spinning += n
        # 3.11+ run the recursion in one activation; 3.8-3.10 call through C
        if version >= (3, 11):
            assert py == list(range(py[0], py[-1] + 1)), names
    assert spinning >= 0.5 * sum(n for _, n in stacks)


def test_native_with_kernel_gil_and_wall_mode(refbpf_bin, python, tmp_path):
    """Every stack option at once: the C chain stays intact under the GIL
    and kernel leaves, and c_spin (which keeps the GIL) is never marked as
    running without it or waiting for it. A free-threaded build switches
    its GIL on when it imports native_ext (single-phase init, no
    Py_mod_gil): there too c_spin holds it, never runs with it off."""
    label, path, version = python
    ext = build_extension(python, tmp_path)
    folded = tmp_path / "all.folded"
    with Target(path, SCRIPT, ext, 60) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", "2", "--native", "--kernel", "--gil",
                                    "--mode", "wall", "--folded", folded])
    assert "wall mode" in r.stdout.splitlines()[0], r.stdout[:500]
    stacks = parse_folded(folded)
    spinning = [(frames, n) for frames, n in stacks
                if any(describe_any(f) == ("c_spin", EXT) for f in frames)]
    # on a busy machine much of the wall time is spent preempted: stacks a
    # thread leaves the CPU in carry no C frames (no stack record then)
    off_cpu = ("<preempted>", "<off-CPU>", "<GIL wait>")
    on_cpu = sum(n for frames, n in stacks if not any(f[0] in off_cpu for f in frames))
    assert sum(n for _, n in spinning) >= 0.8 * on_cpu, (stacks[:3], r.stderr[-2000:])
    for frames, _ in spinning:
        assert not any(f[0] in ("<no GIL>", "<GIL wait>", "<GIL disabled>") for f in frames), \
            frames[-4:]
        user = [f for f in frames if not (f[1] is None and f[0].startswith("<"))]
        check_chain(user, interpreter_modules(python))


def describe_any(frame):
    """describe(), with the kernel's and the markers' frames left as names."""
    if frame[1] is None and frame[0].startswith("<"):
        return frame[0], "synthetic"
    return describe(frame)


# the C library: libc, and libpthread before glibc 2.34 (bullseye's 2.31)
LIBC = re.compile(r"lib(c|pthread)(\.so\.\d+|-[\d.]+\.so)")
# Each waiting function, and what the libc functions it waits in are named
# like (glibc's exported names, or its internal ones where it has symbols;
# time.sleep is select() before 3.11)
# The interpreter's functions that wait for the GIL: to take it back after
# a wait, when the eval loop is asked to hand it over (_Py_HandlePending),
# and to hand it over (drop_gil, under PyEval_SaveThread, waits until the
# thread that asked has taken it: forced switching)
GIL_FUNCTIONS = {"PyEval_RestoreThread", "PyEval_AcquireThread", "PyEval_SaveThread",
                 "PyEval_ReleaseThread", "take_gil", "drop_gil", "_Py_HandlePending",
                 "_PyThreadState_Attach", "_PyThreadState_Detach", "_PyEval_AcquireLock",
                 "_PyEval_ReleaseLock", "PyGILState_Ensure", "PyGILState_Release"}
WAITS = {"in_sleep": re.compile(r"nanosleep|select"),
         "in_recv": re.compile(r"recv"),
         "in_event_wait": re.compile(r"sem_|futex|cond_")}


@pytest.mark.parametrize("how", ["blocked", "naps"])
def test_wall_native_shows_the_libc_frame_a_thread_waits_in(refbpf_bin, python, tmp_path, how):
    """--mode wall --kernel --native: a thread in time.sleep, one in
    socket.recv and one in threading.Event.wait each show, in their time
    off the CPU, the libc function they wait in between their Python
    frames and the kernel's: blocked throughout the recording (no
    switch-out: their stacks are taken from memory at the start), and
    waiting 20 ms at a time (the stack of each switch-out). Where the C
    library has symbols for them, the frames name the wait (trixie's and
    sid's trees have none for its internal functions: `?? [libc.so.6]`)."""
    label, path, version = python
    folded = tmp_path / "waits.folded"
    with Target(path, target_path("wall_waits.py"), how) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", "1.5", "--mode", "wall", "--kernel",
                                    "--native", "--folded", folded])
    wall_native_waits(parse_folded(folded), how, r.stdout)


def wall_native_waits(stacks, how, stdout):
    """wall_waits.py's waits each shown with libc and kernel frames
    (tests/kernels/matrix.py judges its guests' with this too)."""
    for func, expected in WAITS.items():
        waits = [(frames, n) for frames, n in stacks if ("<off-CPU>", None, None) in frames and
                 any(f[0] == func and f[1] is not None for f in frames)]
        total = sum(n for _, n in waits)
        assert total > 0, "%s: no time off the CPU (%s)\n%s" % (func, how, stdout[:1500])
        shown, names = 0, set()
        for frames, n in waits:
            py = max(i for i, f in enumerate(frames) if f[1] is not None)
            off = frames.index(("<off-CPU>", None, None))
            libc = [describe(f)[0] for f in frames[py + 1:off]
                    if LIBC.fullmatch(describe(f)[1].split()[0])]
            kernel = [f for f in frames[off + 1:] if f[0].startswith("<kernel ")]
            if libc and kernel:
                shown += n
                # The libc functions' names are judged only where the
                # interpreter's function that called into libc is named:
                # the GIL handed over or taken back around the wait (a
                # thread of wall_waits.py woken while another holds it) is
                # a wait of its own, not the one the function makes, and a
                # caller the binary has no symbol for (take_gil is static,
                # and the guests have no DWARF) may be one of those.
                native = [describe(f) for f in frames[py + 1:off]]
                first_libc = next(i for i, (_, m) in enumerate(native)
                                  if LIBC.fullmatch(m.split()[0]))
                caller = native[first_libc - 1][0] if first_libc else None
                if caller not in (None, "??") and \
                        not any(name in GIL_FUNCTIONS for name, _ in native):
                    names.update(libc)
        # a switch-out whose stack copy was lost has its Python frames only
        assert shown >= 0.9 * total, "%s (%s): %d of %d samples show libc and kernel frames; "\
            "stacks: %r" % (func, how, shown, total, waits[:2])
        named = names - {"??"}
        assert not named or any(expected.search(n) for n in named), (func, how, names)
