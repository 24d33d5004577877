"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/ from real
inputs: line tables of real code objects (one file per format), the
_Py_DebugOffsets of real 3.13+ interpreters, a small real ELF file, raw
profiles and str characters of each width. Run as: python3 tests/fuzz/make_seeds.py [python3.X ...]
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


def str_seeds():
    """A str's characters as a target holds them: 1, 2 or 4 bytes each."""
    for name, text in (("ascii", "handle_request"), ("latin1", "caf\xe9"),
                       ("bmp", "\u540d\u524d_\xfc"), ("astral", "\U0001f40dx"),
                       ("surrogate", "a\ud800b")):
        width = max(1 if ord(c) < 256 else 2 if ord(c) < 65536 else 4 for c in text)
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[width]
        write("fuzz_py_str", name, bytes([width]) + text.encode(codec, "surrogatepass"))
    write("fuzz_py_str", "beyond", bytes([4]) + struct.pack("<II", 0x110000, 0xffffffff))


def raw_seeds():
    """Raw profiles: the small one, and those the tests render (GIL and wall
    figures, hostile names, several processes and threads)."""
    write("fuzz_raw", "small", open(os.path.join(HERE, "seed_raw.txt"), "rb").read())
    sys.path.insert(0, os.path.dirname(HERE))
    import test_gil
    import test_raw
    import test_visual
    write("fuzz_raw", "gil", test_gil.GIL_RAW.encode())
    write("fuzz_raw", "threads", test_raw.RAW.encode())
    write("fuzz_raw", "hostile", test_visual.RAW.encode())


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
    raw_seeds()
    str_seeds()


if __name__ == "__main__":
    main()
