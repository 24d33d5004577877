"""Line tables: our decoder against the interpreter's own answer, for every
instruction of every code object of several stdlib modules, on every
interpreter available; plus malformed tables."""
import os
import subprocess

import pytest

from conftest import tool_path
from pythons import find_interpreters

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = os.path.join(HERE, "pyvectors", "dump_linetables.py")
INTERPRETERS = find_interpreters()


@pytest.mark.parametrize("python", INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def test_decoder_matches_interpreter(python):
    label, path, version = python
    vectors = subprocess.run([path, DUMP], capture_output=True, timeout=300)
    assert vectors.returncode == 0, vectors.stderr.decode()
    r = subprocess.run([tool_path("linetable_check")], input=vectors.stdout,
                       capture_output=True, timeout=300)
    out = r.stdout.decode()
    assert r.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1].split()
    codes, instrs = int(summary[1]), int(summary[4])
    assert codes > 1000 and instrs > 50000, out


def check(vectors):
    return subprocess.run([tool_path("linetable_check")], input=vectors.encode(),
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("kind,table", [
    (1, "0a"),               # lnotab: odd length
    (2, "020001"),           # PEP 626: odd length
    (3, "00"),               # PEP 657: entry without its start bit
    (3, "f0" + "7f" * 20),   # PEP 657: varint that never ends
    (3, "e8"),               # PEP 657: missing line delta
    (9, "00"),               # unknown kind
])
def test_malformed_tables_are_rejected(kind, table):
    r = check("CODE %d 1 4 %s bad\nL 0 1\nEND\n" % (kind, table))
    assert b"DECODE-ERROR bad" in r.stdout
    assert r.returncode == 1


def test_known_tables():
    # 3.8 lnotab: line 1 for bytes 0-5, then +2 -> 3 for the rest (8 units)
    # 3.10: 4 bytes line 5, 4 bytes no line (-128), 2 bytes back to 5+1
    # 3.11: one-line-1 entry of 2 units (line 11), none entry of 1 unit
    vectors = (
        "CODE 1 1 8 0602 a\nL 0 1\nL 2 1\nL 3 3\nL 7 3\nEND\n"
        "CODE 2 5 0 04000480020 b\n".replace("020 b", "0201 b") +
        "L 0 5\nL 1 5\nL 2 -1\nL 3 -1\nL 4 6\nL 5 -1\nEND\n"
        "CODE 3 10 0 d9f8 c\nL 0 11\nL 1 11\nL 2 -1\nL 3 -1\nEND\n"
    )
    r = check(vectors)
    assert r.returncode == 0, r.stdout.decode()
    assert b"checked 3 code objects, 14 instructions, 0 mismatches" in r.stdout


def test_empty_table_has_no_lines():
    r = check("CODE 3 7 0 - empty\nL 0 -1\nEND\n")
    assert r.returncode == 0, r.stdout.decode()
