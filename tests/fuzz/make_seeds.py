"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/ from real
inputs: line tables of real code objects (one file per format), the
_Py_DebugOffsets of real 3.13+ interpreters, images of real code objects
and the objects they point to (3.8-3.12), a small real ELF file and raw
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


# A code object with a long non-ASCII file name and a long line table, as
# the interpreter holds it: its first 256 bytes, then its name, file name,
# qualified name and line table, the pointers to them rewritten to where
# they lie in the image (at 0x10000 plus the page offset in the header).
CODE_IMAGE = r'''
import ctypes, struct, sys
src = "def work(a):\n" + "    a += 1\n" * 80 + "    return a\n"
ns = {}
exec(compile(src, "/" + "d" * 300 + "/fil\u00e9.py", "exec"), ns)
c = ns["work"].__code__
table = c.co_linetable if sys.version_info >= (3, 10) else c.co_lnotab
objs = [c.co_name, c.co_filename, getattr(c, "co_qualname", None), table]
page_offset = int(sys.argv[1])
base = 0x10000 + page_offset
head = ctypes.string_at(id(c), 256)
image = bytearray(head)
for o in objs:
    if o is None:
        continue
    at = (len(image) + 15) & ~15
    image += bytes(at - len(image)) + ctypes.string_at(id(o), sys.getsizeof(o))
    head = head.replace(struct.pack("<Q", id(o)), struct.pack("<Q", base + at))
image[:256] = head
sys.stdout.buffer.write(bytes([sys.version_info[1] - 8]) + struct.pack("<H", page_offset) + image)
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
        # page offsets: at a page's start, and near its end (reads clipped)
        for page_offset in (0, 0xf40):
            out = subprocess.run([py, "-c", CODE_IMAGE, str(page_offset)], capture_output=True)
            if out.returncode == 0 and (3, 8) <= tuple(map(int, ver.split("."))) <= (3, 12):
                write("fuzz_code_key", "py%s-%x" % (ver, page_offset), out.stdout)
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
