"""The interpreter's own view of its threads' stacks, for the peer tests:
what CPython itself says (sys._current_frames) is what refbpf must say.

report_when_parked(file, lines) starts a thread that waits until every
other thread of the process has a frame of `file` on one of `lines` (where
it parks: sleeping or joining) and the stacks stop changing, then prints one
line,
VIEW <json>: [{"tid", "name", "frames"}], each frame as `refbpf dump
--json` gives it ({"function", "name", "file", "line", "firstlineno"},
innermost first), and ends. Only the reporting thread is left out.
"""
import json
import sys
import threading
import time


def frame_view(frame):
    code = frame.f_code
    return {"function": getattr(code, "co_qualname", code.co_name), "name": code.co_name,
            "file": code.co_filename, "line": frame.f_lineno,
            "firstlineno": code.co_firstlineno}


def stacks(skip):
    by_ident = {t.ident: t for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        if ident == skip or ident not in by_ident:
            continue
        frames = []
        while frame is not None:
            frames.append(frame_view(frame))
            frame = frame.f_back
        t = by_ident[ident]
        out.append({"tid": t.native_id, "name": t.name, "frames": frames})
    return sorted(out, key=lambda s: s["tid"])


def parked(view, file, lines):
    return bool(view) and all(any(f["file"] == file and f["line"] in lines for f in s["frames"])
                              for s in view)


def report(file, lines, timeout=60):
    me = threading.get_ident()
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        view = stacks(me)
        if view == last and parked(view, file, lines):
            print("VIEW " + json.dumps(view), flush=True)
            return
        last = view
        time.sleep(0.1)
    print("VIEW never parked: " + json.dumps(last), flush=True)


def report_when_parked(file, lines):
    threading.Thread(target=report, args=(file, set(lines)), name="own-view").start()


def marked(file, marker="park"):
    """The lines of `file` whose comment says @park."""
    with open(file) as f:
        return [n for n, line in enumerate(f, 1)
                if "#" in line and "@" + marker in line.split("#", 1)[1].split()]
