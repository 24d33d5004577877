"""Helpers for the integration tests: start targets, run refbpf, read its
outputs back."""
import os
import re
import select
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "targets")


def target_path(name):
    return os.path.join(TARGETS, name)


def markers(script):
    """{marker: line} for `# @marker` comments in a target script."""
    found = {}
    with open(script) as f:
        for lineno, line in enumerate(f, 1):
            m = re.search(r"#\s*@(\w+)", line)
            if m:
                found[m.group(1)] = lineno
    return found


def process_age(pid):
    """Seconds since `pid` started, as the kernel counts them (its start
    time in /proc/PID/stat against /proc/uptime)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def wait_until_older_than(pid, seconds):
    """Sleep until the process has lived `seconds`: refbpf treats what it
    reads in a Python's first second as start-up, not as a fault."""
    while process_age(pid) < seconds:
        time.sleep(0.05)


class Target:
    """A Python target process, started and waited for until it prints READY."""

    def __init__(self, python, script, *args, env=None, ready=True, cwd=None):
        self.script = script
        self.proc = subprocess.Popen([str(python), str(script)] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, cwd=cwd, text=True)
        self.pid = self.proc.pid
        self.lines = []
        if ready:
            try:
                self.wait_for("READY", 60)
            except BaseException:
                self.stop()     # no `with` will: leave nothing running
                raise

    def wait_for(self, word, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.lines.append(line.rstrip("\n"))
                if line.startswith(word):
                    return line
            elif self.proc.poll() is not None:
                break
        raise AssertionError("target %s did not print %s; stderr: %s" % (
            self.script, word, self.proc.stderr.read() if self.proc.poll() is not None else ""))

    def rest_of_output(self, timeout=60):
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.extend(out.splitlines())
        return self.lines

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def sample_period_s(rate):
    """The time one sample stands for at -F `rate`: refbpf's period is 1%
    longer than 1/rate, so that samples do not keep step with the
    scheduler's tick (user/record/sample_period.h)."""
    period_ns = 10 ** 9 // rate
    return (period_ns + period_ns // 100) / 1e9


def run_refbpf(refbpf, args, timeout=120, check=True):
    r = subprocess.run([refbpf] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("refbpf %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
    return r


class Recording:
    """refbpf running in the background with -v, its stderr in a file, so a
    test can wait until it is attached before the target does what the
    test is about (the ASan build takes a while to start)."""

    def __init__(self, refbpf, args, tmp_path, wrapper=()):
        self.err_path = os.path.join(str(tmp_path), "refbpf-%d.stderr" % time.monotonic_ns())
        self.err_file = open(self.err_path, "w+")
        self.proc = subprocess.Popen(list(wrapper) + [refbpf, "-v"] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=self.err_file, text=True)

    def wait_attached(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.err_path) as f:
                if re.search(r"^refbpf: attached ", f.read(), re.M):
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("refbpf never attached: %s" % self.stderr()[-3000:])

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def finish(self, timeout=120):
        out, _ = self.proc.communicate(timeout=timeout)
        self.err_file.close()
        return self.proc.returncode, out, self.stderr()


def go_file(tmp_path):
    """A path the target waits for (REFBPF_TEST_GO) before it starts."""
    return os.path.join(str(tmp_path), "go")


def go(path):
    open(path, "w").close()


# a line refbpf does not know is "?" (None here), never another line
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>-?\d+|\?)\)$")


def parse_folded(path):
    """[(frames, count)] with frames root first as (qualname, file, line)."""
    stacks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, count = line.rsplit(" ", 1)
            frames = []
            for part in stack.split(";"):
                m = FRAME.match(part)
                frames.append((m.group("name"), m.group("file"),
                               None if m.group("line") == "?" else int(m.group("line")))
                              if m else (part, None, None))
            stacks.append((frames, int(count)))
    return stacks


def function_samples(stacks, name):
    """Samples in which a frame named `name` appears (once per sample)."""
    return sum(count for frames, count in stacks if any(f[0] == name for f in frames))


def self_samples(stacks, name):
    return sum(count for frames, count in stacks if frames and frames[-1][0] == name)
