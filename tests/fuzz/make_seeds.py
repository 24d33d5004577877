"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/ from real
inputs: line tables of real code objects (one file per format), the
_Py_DebugOffsets of real 3.13+ interpreters, a small real ELF file and raw
profiles. Run as: python3 tests/fuzz/make_seeds.py [python3.X ...]
(the committed corpus was made with the interpreters listed in
tests/fuzz/corpus/README)."""
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

TABLES = r'''
import struct, sys
def f(a, b):
    x = a + b
    for i in range(3):
        try:
            x += i
        except ValueError:
            x -= 1
    return [y * 2 for y in range(x)]
c = f.__code__
if sys.version_info >= (3, 11):
    kind, table = 3, c.co_linetable
elif sys.version_info >= (3, 10):
    kind, table = 2, c.co_linetable
else:
    kind, table = 1, c.co_lnotab
sys.stdout.buffer.write(struct.pack("<BiH", kind - 1, c.co_firstlineno, len(c.co_code) // 2) + table)
'''


def write(kind, name, data):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def elf_vaddr_bytes(path, symbol, size):
    syms = subprocess.run(["readelf", "-sW", path], capture_output=True, text=True).stdout
    m = re.search(r"^\s*\d+:\s+([0-9a-f]+)\s+\S+\s+OBJECT\s+\S+\s+\S+\s+\S+\s+%s$" % symbol,
                  syms, re.M)
    if not m:
        return None
    addr = int(m.group(1), 16)
    segs = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    for line in segs.splitlines():
        p = line.split()
        if len(p) > 5 and p[0] == "LOAD":
            off, vaddr, filesz = int(p[1], 16), int(p[2], 16), int(p[4], 16)
            if vaddr <= addr < vaddr + filesz:
                with open(path, "rb") as f:
                    f.seek(off + addr - vaddr)
                    return f.read(size)
    return None


def main():
    for py in sys.argv[1:]:
        out = subprocess.run([py, "-c", TABLES], capture_output=True)
        ver = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
        if out.returncode == 0:
            write("fuzz_linetable", "py%s" % ver, out.stdout)
        real = os.path.realpath(py)
        lib = os.path.join(os.path.dirname(os.path.dirname(real)), "lib", "libpython%s.so.1.0" % ver)
        head = elf_vaddr_bytes(real, "_PyRuntime", 1024) or (
            elf_vaddr_bytes(lib, "_PyRuntime", 1024) if os.path.exists(lib) else None)
        if head and head.startswith(b"xdebugpy"):
            write("fuzz_debug_offsets", "py%s%s" % (ver, "t" if real.endswith("t") else ""), head)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "tiny.c")
        with open(src, "w") as f:
            f.write("long _PyRuntime[4] = {1}; long Py_Version = 0x030c0000;\n"
                    "int main(void) { return (int)_PyRuntime[0]; }\n")
        exe = os.path.join(d, "tiny")
        subprocess.run(["gcc", "-Os", "-Wl,--build-id", "-o", exe, src], check=True)
        with open(exe, "rb") as f:
            write("fuzz_elf", "tiny", f.read())
    write("fuzz_raw", "small", open(os.path.join(HERE, "seed_raw.txt"), "rb").read())


if __name__ == "__main__":
    main()
