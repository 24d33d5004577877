"""Write line-table test vectors from the running interpreter itself.

For every code object of a set of stdlib modules (recursively through
co_consts), print the raw line table and, for every instruction, the line
the interpreter reports for it:
  3.10+: co_lines() (cross-checked with co_positions() on 3.11+)
  3.8, 3.9: dis.findlinestarts, the interpreter's reading of co_lnotab
Runs under any CPython 3.8-3.15; stdlib only. Output format: see
tests/tools/linetable_check.c.
"""
import dis
import importlib
import sys
import types

MODULES = ["json.decoder", "json.encoder", "argparse", "dataclasses", "email.message",
           "http.server", "asyncio.base_events", "collections", "inspect", "typing",
           "difflib", "pstats"]

# Functions written to exercise corner cases: long jumps, many lines,
# line numbers going backwards, huge line gaps, comprehensions, try/except.
EXTRA = '''
def backwards(x):
    for i in range(3):
        try:
            x += i
        except Exception:
            x -= 1
        finally:
            x *= 2
    return [y for y in range(x)
            if y % 3
            ]


def long_body(a):
''' + "".join("    a = a + %d\n" % i for i in range(400)) + '''
    return a
''' + "\n" * 3000 + '''
def far_away():
    return 1
'''


def walk(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from walk(const)


def lines_per_unit(code):
    n = len(code.co_code) // 2
    lines = [None] * n
    if sys.version_info >= (3, 10):
        for start, end, line in code.co_lines():
            for off in range(start, end, 2):
                if off // 2 < n:
                    lines[off // 2] = -1 if line is None else line
        if sys.version_info >= (3, 11):
            for unit, pos in enumerate(code.co_positions()):
                if unit < n:
                    expected = -1 if pos[0] is None else pos[0]
                    if lines[unit] != expected:
                        raise SystemExit("co_lines and co_positions disagree in %s at %d"
                                         % (code.co_name, unit))
    else:
        starts = list(dis.findlinestarts(code))
        line = code.co_firstlineno
        k = 0
        for unit in range(n):
            while k < len(starts) and starts[k][0] <= unit * 2:
                line = starts[k][1]
                k += 1
            lines[unit] = line
    return lines


def table(code):
    if sys.version_info >= (3, 10):
        return code.co_linetable, 2 if sys.version_info < (3, 11) else 3
    return code.co_lnotab, 1


def main():
    codes = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        with open(mod.__file__, "rb") as f:
            codes.append(compile(f.read(), mod.__file__, "exec"))
    codes.append(compile(EXTRA, "<extra>", "exec"))
    out = sys.stdout
    for top in codes:
        for code in walk(top):
            raw, kind = table(code)
            units = len(code.co_code) // 2
            out.write("CODE %d %d %d %s %s\n" % (kind, code.co_firstlineno, units,
                                                 raw.hex() or "-", code.co_name or "?"))
            for unit, line in enumerate(lines_per_unit(code)):
                out.write("L %d %d\n" % (unit, -1 if line is None else line))
            out.write("END\n")


if __name__ == "__main__":
    main()
