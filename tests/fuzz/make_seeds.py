"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/ from real
inputs: line tables of real code objects (one file per format), the
_Py_DebugOffsets of real 3.13+ interpreters, images of real code objects
and the objects they point to (3.8-3.12), a small real ELF file, raw
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


class Image:
    """A made-up 3.12 address space for fuzz_py_objects: type objects and
    singletons where the fuzzer expects them, then objects appended."""
    BASE = 0x10000

    def __init__(self):
        self.buf = bytearray(0x200 * 12)
        for i, name in enumerate(["?", "str", "int", "float", "bool", "bytes", "tuple", "dict",
                                  "module", "cell", "NoneType"]):
            if i == 0:
                continue
            at = 0x200 * i
            self.put(at + 8, self.BASE)               # ob_type: anything
            self.put(at + 24, self.cstr(name))        # tp_name
            self.put(at + 32, 16)                     # tp_basicsize

    def addr(self, off):
        return self.BASE + off

    def type_at(self, i):
        return self.BASE + 0x200 * i

    def put(self, off, value, size=8):
        self.buf[off:off + size] = value.to_bytes(size, "little", signed=value < 0)

    def alloc(self, size):
        off = (len(self.buf) + 15) & ~15
        self.buf.extend(bytes(off - len(self.buf) + size))
        return off

    def cstr(self, text):
        off = self.alloc(len(text) + 1)
        self.buf[off:off + len(text)] = text.encode()
        return self.addr(off)

    def obj(self, type_index, size):
        off = self.alloc(size)
        self.put(off, 1)
        self.put(off + 8, self.type_at(type_index))
        return off

    def str(self, text):
        data = text.encode()
        off = self.obj(1, 40 + len(data) + 1)
        self.put(off + 16, len(text))
        self.put(off + 32, (1 << 6) | (1 << 5) | (1 << 2), 4)   # ascii, compact, kind 1
        self.buf[off + 40:off + 40 + len(data)] = data
        return self.addr(off)

    def int(self, v):
        digits = []
        m = abs(v)
        while m:
            digits.append(m & ((1 << 30) - 1))
            m >>= 30
        off = self.obj(2, 24 + 4 * max(1, len(digits)))
        self.put(off + 16, len(digits) << 3 | (1 if v == 0 else 2 if v < 0 else 0))
        for i, d in enumerate(digits):
            self.put(off + 24 + 4 * i, d, 4)
        return self.addr(off)

    def float(self, v):
        off = self.obj(3, 24)
        self.buf[off + 16:off + 24] = struct.pack("<d", v)
        return self.addr(off)

    def tuple(self, items):
        off = self.obj(6, 24 + 8 * len(items))
        self.put(off + 16, len(items))
        for i, x in enumerate(items):
            self.put(off + 24 + 8 * i, x)
        return self.addr(off)

    def bytes(self, data):
        off = self.obj(5, 33 + len(data))
        self.put(off + 16, len(data))
        self.buf[off + 32:off + 32 + len(data)] = data
        return self.addr(off)

    def keys(self, items, kind):
        """A 3.12 keys object of 8 slots: kind 1 (str keys) or 2 (split)."""
        off = self.alloc(32 + 8 + 16 * len(items))
        self.put(off, 1)
        self.put(off + 8, 3, 1)          # log2_size
        self.put(off + 9, 3, 1)          # log2_index_bytes
        self.put(off + 10, kind, 1)
        self.put(off + 24, len(items))   # nentries
        for i, (k, v) in enumerate(items):
            self.put(off + 32 + i, i, 1)
            self.put(off + 40 + 16 * i, k)
            self.put(off + 48 + 16 * i, v)
        return self.addr(off)

    def dict(self, items):
        off = self.obj(7, 48)
        self.put(off + 16, len(items))
        self.put(off + 32, self.keys(items, 1))
        return self.addr(off)


def py_objects_seeds():
    """fuzz_py_objects: one 3.12 image (a runtime, an interpreter whose
    sys.modules holds threading, whose _active holds a Thread; a frame and
    its code object) and a header per operation."""
    im = Image()
    # a Thread: its attributes split against its class's shared keys
    cls = im.alloc(896)
    im.put(cls + 24, im.cstr("Thread"))
    im.put(cls + 32, 16)
    im.put(cls + 168, (1 << 4) | (1 << 9))       # MANAGED_DICT, HEAPTYPE
    name_key = im.str("_name")
    im.put(cls + 880, im.keys([(im.str("_target"), 0), (name_key, 0)], 2))
    values = im.alloc(16)
    im.put(values, im.addr(0x200 * 10))          # _target: None
    im.put(values + 8, im.str("worker-1"))
    thread = im.alloc(24 + 16) + 24
    im.put(thread - 24, im.addr(values) - 1)     # tagged values
    im.put(thread + 8, im.addr(cls))
    active = im.dict([(im.int(140000000000001), im.addr(thread))])
    module = im.obj(8, 24)
    im.put(module + 16, im.dict([(im.str("_active"), active)]))
    modules = im.dict([(im.str("sys"), 0), (im.str("threading"), im.addr(module))])
    interp = im.alloc(952)
    im.put(interp + 944, modules)
    runtime = im.alloc(48)
    im.put(runtime + 40, im.addr(interp))
    # a frame running a code object with three locals, one of them a cell
    names = im.tuple([im.str("count"), im.str("label"), im.str("captured")])
    code = im.obj(0, 200)
    im.put(code + 96, names)
    im.put(code + 104, im.bytes(bytes([0x20, 0x20, 0x40])))
    cell = im.obj(9, 24)
    im.put(cell + 16, im.int(6))
    frame = im.alloc(72 + 24)
    im.put(frame, im.addr(code))
    im.put(frame + 72, im.int(3))
    im.put(frame + 80, im.str("it's\n"))
    im.put(frame + 88, im.addr(cell))
    seeds = {
        "describe_str": (0, im.str("hello 'world'") - im.BASE, 0),
        "describe_int": (0, im.int(-2 ** 62) - im.BASE, 0),
        "describe_float": (0, im.float(1.5e-7) - im.BASE, 0),
        "dict": (1, modules - im.BASE, 0),
        "instance": (2, thread, 0),
        "locals": (3, frame, code),
        "thread_names": (4, runtime, 0),
        "tuple": (5, names - im.BASE, 0),
    }
    for name, (op, a, b) in seeds.items():
        header = struct.pack("<BBII6x", 4, op, a, b)    # layout 4: 3.12
        write("fuzz_py_objects", name, header + bytes(im.buf))


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
    raw_seeds()
    str_seeds()
    py_objects_seeds()


if __name__ == "__main__":
    main()
