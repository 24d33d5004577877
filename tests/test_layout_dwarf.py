"""Layouts are facts to verify: every built-in table entry (3.8-3.12) must
equal what the DWARF of each real interpreter says, and for 3.13+ our
_Py_DebugOffsets parser must agree with the DWARF too."""
import glob
import os
import subprocess

import pytest

from conftest import tool_path
from pythons import find_interpreters

INTERPRETERS = find_interpreters()


def interpreter_elf(path):
    """The ELF holding the interpreter: libpython for shared builds (found
    next to the executable, as pyenv installs it), else the executable."""
    real = os.path.realpath(path)
    prefix = os.path.dirname(os.path.dirname(real))
    libs = sorted(glob.glob(os.path.join(prefix, "lib", "libpython3*.so.1.0")))
    return libs[0] if libs else real


def debug_root(path):
    """Trees fetched by scripts/fetch-pythons.sh keep their DWARF inside."""
    real = os.path.realpath(path)
    parts = real.split("/usr/bin/")
    return parts[0] if len(parts) == 2 and parts[0] else ""


def dump(*args, root=""):
    env = dict(os.environ, REFBPF_DEBUG_ROOT=root) if root else None
    r = subprocess.run([tool_path("layout_dump")] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60, env=env)
    return r.returncode, dict(l.split("=", 1) for l in r.stdout.split()), r.stderr


# bpf/abi.h's enum py_layout_flags
LAYOUT_TLBC = 1 << 7
LAYOUT_GIL_SWITCHABLE = 1 << 8

# layout_dump --dwarf's exit status when the DWARF it found describes another
# version (a refusal); 1 is any other failure (no file, no DWARF at all).
REFUSED = 3


def dwarf_of(python):
    """(rc, layout, stderr) from the interpreter's own DWARF."""
    label, path, version = python
    return dump("--dwarf", interpreter_elf(path), version[0], version[1],
                root=debug_root(path))


def disagreements(ours, dwarf):
    """{field: (ours, dwarf)} for each field where our layout differs."""
    return {k: (ours.get(k), dwarf[k]) for k in dwarf if ours.get(k) != dwarf[k]}


@pytest.mark.parametrize("python", INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def test_layout_matches_dwarf(python):
    label, path, version = python
    elf = interpreter_elf(path)
    rc, dwarf, err = dwarf_of(python)
    assert rc != REFUSED, "the DWARF of %s does not describe its own version: %s" % (label, err)
    if rc != 0:
        pytest.skip("skipped: no DWARF for %s (%s): %s" % (label, elf, err.strip()))
    if version[:2] <= (3, 12):
        rc, ours, err = dump("--builtin", version[0], version[1])
        source = "built-in table"
    else:
        rc, ours, err = dump("--debug-offsets", elf)
        source = "_Py_DebugOffsets"
    assert rc == 0, err
    # --gil reads the GIL through these: every build must describe it,
    # free-threaded ones too (their GIL is switched off unless turned on)
    gil_keys = [k for k in dwarf if k.startswith("gil_") or k == "tstate_interp"]
    assert gil_keys and "gil_where" in ours, "layout_dump prints no GIL fields"
    assert dwarf["gil_where"] in ("1", "2") and int(dwarf["gil_size"]) > 0, dwarf
    switchable = int(dwarf["flags"]) & LAYOUT_GIL_SWITCHABLE != 0
    assert switchable == label.endswith("t"), (label, dwarf["flags"])
    # free-threaded 3.14+: each thread's bytecode, found by the frame's
    # tlbc_index in the code object's co_tlbc (a GIL build has neither)
    tlbc = int(dwarf["flags"]) & LAYOUT_TLBC != 0
    assert tlbc == (label.endswith("t") and version[:2] >= (3, 14)), (label, dwarf["flags"])
    if tlbc:
        assert int(dwarf["frame_tlbc_index"]) and int(dwarf["code_tlbc"]), dwarf
        assert dwarf["code_adaptive"] == dwarf["code.code_adaptive"], dwarf
    else:
        assert dwarf["frame_tlbc_index"] == dwarf["code_tlbc"] == dwarf["code_adaptive"] == "0"
    wrong = disagreements(ours, dwarf)
    assert not wrong, "%s disagrees with DWARF of %s: {field: (ours, dwarf)} %r" % (
        source, elf, wrong)


TABLED = [i for i in INTERPRETERS if (3, 8) <= i[2] < (3, 13)]


@pytest.mark.parametrize("python", TABLED, ids=[i[0] for i in TABLED])
def test_each_altered_table_field_is_reported(python):
    """The comparison above is not vacuous: every field of the built-in
    table is compared, so a table wrong in any one field is reported, with
    that field named."""
    label, path, version = python
    rc, dwarf, err = dwarf_of(python)
    if rc != 0:
        pytest.skip("skipped: no DWARF for %s: %s" % (label, err.strip()))
    rc, table, err = dump("--builtin", version[0], version[1])
    assert rc == 0, err
    assert set(table) == set(dwarf), set(table) ^ set(dwarf)
    for field, value in table.items():
        altered = dict(table, **{field: str(int(value) + 8)})
        assert set(disagreements(altered, dwarf)) == {field}, field


OLDER = [i for i in TABLED if i[2] >= (3, 9)]


@pytest.mark.parametrize("python", OLDER, ids=[i[0] for i in OLDER])
def test_a_wrong_table_is_caught(python):
    """A version's DWARF read as the version before is refused (that
    version's types are not all there), or differs from that version's
    table; failing to read the DWARF at all is neither."""
    label, path, version = python
    rc, _, err = dwarf_of(python)
    if rc != 0:
        pytest.skip("skipped: no DWARF for %s: %s" % (label, err.strip()))
    older = (version[0], version[1] - 1)
    rc, dwarf, err = dump("--dwarf", interpreter_elf(path), older[0], older[1],
                          root=debug_root(path))
    if rc == REFUSED:
        assert "does not describe Python %d.%d" % older in err, err
        return
    assert rc == 0, "not a refusal but an error: %s" % err
    rc, table, err = dump("--builtin", older[0], older[1])
    assert rc == 0, err
    assert disagreements(table, dwarf), "%s's DWARF read as %d.%d equals its table" % (
        (label,) + older)


@pytest.mark.parametrize("python", INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def test_object_layout_matches_dwarf(python):
    """The object layout thread names and locals are read with (dicts,
    types, ints, floats, tuples, cells, code objects' names of locals,
    frames' locals) equals what each interpreter's DWARF says; on 3.13+
    so do the fields taken from its _Py_DebugOffsets."""
    label, path, version = python
    elf = interpreter_elf(path)
    rc, dwarf, err = dump("--objects-dwarf", elf, version[0], version[1], root=debug_root(path))
    if rc != 0:
        pytest.skip("skipped: no DWARF for %s (%s): %s" % (label, elf, err.strip()))
    builtin = ["--objects-builtin", version[0], version[1]] + (["t"] if label.endswith("t") else [])
    rc, ours, err = dump(*builtin)
    assert rc == 0, err
    wrong = {k: (ours.get(k), dwarf[k]) for k in dwarf if ours.get(k) != dwarf[k]}
    assert not wrong, "built-in object table disagrees with DWARF of %s: %r" % (elf, wrong)
    if version[:2] >= (3, 13):
        rc, described, err = dump("--objects-debug-offsets", elf)
        assert rc == 0, err
        assert len(described) >= 12, described
        wrong = {k: (v, dwarf[k]) for k, v in described.items() if dwarf[k] != v}
        assert not wrong, "_Py_DebugOffsets read wrong against DWARF of %s: %r" % (elf, wrong)


def test_a_wrong_object_table_is_caught():
    """3.12's object table checked against 3.11's DWARF differs: the
    comparison can fail."""
    found = [i for i in INTERPRETERS if i[2][:2] == (3, 11)]
    if not found:
        pytest.skip("skipped: no Python 3.11 here")
    elf = interpreter_elf(found[0][1])
    rc, dwarf, err = dump("--objects-dwarf", elf, 3, 11, root=debug_root(found[0][1]))
    if rc != 0:
        pytest.skip("skipped: no DWARF for 3.11: %s" % err.strip())
    rc, table, err = dump("--objects-builtin", 3, 12)
    assert rc == 0 and dwarf != table
    assert dwarf["interp_modules"] != table["interp_modules"]
