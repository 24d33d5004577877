"""The value decoders of `dump --locals` against Python itself (no root):
floats as repr() writes them, ints from their digits in both encodings
(before 3.12: a signed digit count; since: lv_tag), strings quoted and
escaped as documented."""
import random
import struct
import subprocess

from conftest import tool_path


def run(lines):
    r = subprocess.run([tool_path("values_check")], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_float_repr_is_pythons():
    rnd = random.Random(1234)
    values = [0.0, -0.0, 1.0, -1.5, 100.0, 0.1, 1e16, 1e15, 123456789012345678.0, 1e-4,
              9.999e-5, 1e-5, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
              float("inf"), float("-inf"), 0.3, 2.0 ** 53, 1 / 3, 1234.5678]
    values += [struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
               for _ in range(3000)]
    values += [rnd.uniform(-1e6, 1e6) for _ in range(1000)]
    values += [float(rnd.randint(-10 ** 17, 10 ** 17)) for _ in range(500)]
    values = [v for v in values if v == v]   # nan: checked alone below
    got = run(["f %016x" % struct.unpack("<Q", struct.pack("<d", v))[0] for v in values])
    wrong = [(v, g) for v, g in zip(values, got) if g != repr(v)]
    assert not wrong, wrong[:10]
    assert run(["f 7ff8000000000000"]) == ["nan"]


def long_fields(v, tagged):
    digits = []
    m = abs(v)
    while m:
        digits.append(m & ((1 << 30) - 1))
        m >>= 30
    if tagged:
        sign = 1 if v == 0 else (2 if v < 0 else 0)
        size = len(digits) << 3 | sign
    else:
        size = (-len(digits) if v < 0 else len(digits)) & (2 ** 64 - 1)
    return size, (digits + [0, 0, 0])[:3]


def test_long_decode_both_encodings():
    rnd = random.Random(99)
    values = [0, 1, -1, 2 ** 30 - 1, 2 ** 30, -2 ** 30, 2 ** 60, 2 ** 64 - 1, -(2 ** 64 - 1)]
    values += [rnd.randint(-2 ** 64 + 1, 2 ** 64 - 1) for _ in range(2000)]
    for tagged in (0, 1):
        lines = []
        for v in values:
            size, d = long_fields(v, tagged)
            lines.append("l %d %x %x %x %x" % (tagged, size, *d))
        assert run(lines) == [str(v) for v in values]
        # past 64 bits, or a digit count past what was read
        size, d = long_fields(2 ** 64, tagged)
        assert run(["l %d %x %x %x %x" % (tagged, size, *d)]) == ["ERANGE"]
        size, _ = long_fields(2 ** 200, tagged)
        assert run(["l %d %x 0 0 0" % (tagged, size)]) == ["ERANGE"]
    # malformed: a digit past 30 bits; 3.12+ zero with digits, reserved sign
    assert run(["l 0 1 40000000 0 0", "l 1 9 1 0 0", "l 1 b 1 0 0"]) == ["EINVAL"] * 3


def expected_str_repr(s, cut):
    quote = '"' if "'" in s and '"' not in s else "'"
    out = quote
    for ch in s:
        if ch in (quote, "\\"):
            out += "\\" + ch
        elif ch in "\n\r\t":
            out += {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
        elif ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
            out += "\\x%02x" % ord(ch)
        else:
            out += ch
    return out + quote + ("..." if cut else "")


def test_str_repr_quotes_and_escapes():
    texts = ["", "plain", "it's", 'say "hi"', "both ' and \"", "back\\slash", "tab\tnl\ncr\r",
             "\x00\x1b[2J\x7f\x85\x9f", "h\u00e9llo \u2713", "\u202e bidi", "emoji \U0001f600"]
    rnd = random.Random(7)
    alphabet = "ab'\"\\\n\t\x01\x7f\x80\u00e9\u2713\U0001f600 "
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
              for _ in range(300)]
    for cut in (0, 1):
        got = run(["s %d %s" % (cut, t.encode().hex()) for t in texts])
        want = [expected_str_repr(t, cut) for t in texts]
        wrong = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
        assert not wrong, wrong[:5]
    # Python's own repr where it agrees (printable text)
    for t in ["plain", "it's", 'say "hi"', "both ' and \"", "back\\slash", "tab\tnl\ncr\r"]:
        assert run(["s 0 %s" % t.encode().hex()]) == [repr(t)]
