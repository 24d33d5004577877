"""Root tests against Python servers as they really run, started from
Debian's packages on loopback (127.0.0.1, free ports) and driven by a
bounded HTTP load (tests/servers/load.py): the werkzeug development server
with its reloader, gunicorn with four sync workers (one killed and
respawned while recording), and a private Apache httpd running the
application through mod_wsgi, in its default sub-interpreter and in the
main interpreter (WSGIApplicationGroup %{GLOBAL}).

Each test asserts that the application's own CPU-bound function carries
its share of the samples, in the collapsed stacks and in the pstats file,
under the right process. Missing packages skip loudly; scripts/install-deps.sh
installs them (python3-flask gunicorn apache2 libapache2-mod-wsgi-py3).
Every server runs in its own session and its whole process group is killed
at the end, whatever happened.
"""
import json
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from kernel_times import CpuGiven, assert_sampled_cpu, process_cpu_seconds, recorded_seconds
from profiling import markers, parse_folded

pytestmark = pytest.mark.root

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "servers")
# Debian's interpreter: the one python3-flask, gunicorn and mod_wsgi use.
PYTHON = "/usr/bin/python3"
GUNICORN = "/usr/bin/gunicorn"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
# A root frame is `<process PID CMDLINE>`, CMDLINE cut at this many
# characters and then followed by "..." (user/profile/profile_roots.c).
ROOT_CMDLINE_MAX = 60


# --- helpers ---------------------------------------------------------------

def needs_file(path, package):
    if not os.access(path, os.R_OK):
        pytest.skip("skipped: %s not installed (no %s; scripts/install-deps.sh installs it)"
                    % (package, path))


def needs_module(module, package):
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("skipped: python3 not installed (no %s)" % PYTHON)
    if subprocess.run([PYTHON, "-c", "import " + module], capture_output=True).returncode:
        pytest.skip("skipped: %s not installed (scripts/install-deps.sh installs it)" % package)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, timeout=20, server=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http_get(url)
        except OSError:
            if server is not None and server.poll() is not None:
                break
            time.sleep(0.1)
    raise AssertionError("%s never answered" % url)


def kill_group(proc):
    """SIGKILL the process group a server started (start_new_session=True)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except FileNotFoundError:
        return []


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return sorted(int(x) for x in r.stdout.split())


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return " ".join(a.decode() for a in f.read().split(b"\0") if a)


def process_root(pid, cmd):
    """The synthetic root frame of PID's stacks (user/profile/profile_roots.c)."""
    cut = cmd[:ROOT_CMDLINE_MAX] + ("..." if len(cmd) > ROOT_CMDLINE_MAX else "")
    return "<process %d %s>" % (pid, cut)


class Load:
    """load.py in the background: CONCURRENCY clients on URL until stop()
    (it closes the client's stdin) or MAX_SECONDS, whichever comes first."""

    def __init__(self, url, concurrency, max_seconds=40):
        self.proc = subprocess.Popen([PYTHON, os.path.join(SERVERS, "load.py"), url,
                                      str(max_seconds), str(concurrency)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.ok = self.failed = None

    def stop(self):
        if self.ok is not None:
            return
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            raise AssertionError("the load did not stop")
        m = re.search(r"REQUESTS (\d+) FAILED (\d+)", out)
        assert m, "load.py: %s %s" % (out, err)
        self.ok, self.failed = int(m.group(1)), int(m.group(2))

    def kill(self):
        if self.proc.poll() is None:
            kill_group(self.proc)


TARGET_LINE = re.compile(r"^  PID (\d+)(?: \(PID \d+ in its namespace\))?  (.*)$", re.M)


def report_targets(stdout):
    """{pid: line} of the report's per-process lines."""
    return {int(m.group(1)): m.group(2) for m in TARGET_LINE.finditer(stdout)}


def target_samples(line):
    m = re.match(r"Python 3\.\S+  .*  (\d+) samples(  exited during recording)?$", line)
    return (int(m.group(1)), bool(m.group(2))) if m else (None, None)


def frames_of(stack):
    """The frames without a [truncated] marker."""
    return [f for f in stack if f[0] != "[truncated]"]


def root_of(frames):
    frames = frames_of(frames)
    return frames[0][0] if frames and frames[0][0].startswith("<process ") else None


def samples_with(stacks, name, root=None):
    return sum(c for frames, c in stacks
               if any(f[0] == name for f in frames)
               and (root is None or root_of(frames) == root))


def self_with(stacks, name):
    return sum(c for frames, c in stacks if frames and frames[-1][0] == name)


def pstats_entry(path, filename, name):
    """(cc, nc, tt, ct, callers) of one function and the profile's total tt."""
    st = pstats.Stats(str(path))
    found = [(k, v) for k, v in st.stats.items()
             if k[0] == filename and (k[2] == name or k[2].endswith("." + name))]
    assert len(found) == 1, "pstats: %s:%s: %r" % (filename, name,
                                                  [k for k in st.stats if k[2].endswith(name)])
    return found[0][0], found[0][1], st.total_tt


def run_record(refbpf_bin, args, timeout=60):
    """refbpf in the foreground, -v to a file; (returncode, stdout, stderr)."""
    r = subprocess.run([refbpf_bin] + [str(a) for a in args] + ["-v"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def explain(rc, out, err):
    lines = [l for l in err.splitlines() if not l.startswith("libbpf:")]
    return "refbpf exited %s\nstdout:\n%s\nstderr:\n%s" % (rc, out[:4000], "\n".join(lines[-40:]))


# --- werkzeug's reloader ----------------------------------------------------

def test_flask_reloader_pgrep_shows_the_handler(tmp_path, refbpf_bin):
    """`refbpf -p PARENT -p CHILD` with the PIDs of `pgrep -f app.py`: the
    reloader (idle, watching files) and the child serving requests."""
    needs_module("flask", "python3-flask")
    port = free_port()
    app = tmp_path / ("refbpf_flask_%d.py" % port)
    shutil.copy(os.path.join(SERVERS, "flask_app.py"), app)
    mark = markers(app)
    url = "http://127.0.0.1:%d/work" % port
    server = subprocess.Popen([PYTHON, str(app), str(port)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = None
    try:
        wait_http(url, server=server)
        pids = pgrep(str(app))
        # the reloader is the process started; it runs the server in a child
        assert len(pids) == 2 and server.pid in pids, pids
        child = [p for p in pids if p != server.pid][0]
        assert children(server.pid) == [child]
        child_cmd = cmdline(child)
        load = Load(url, 2)
        time.sleep(0.3)
        folded, prof = tmp_path / "out.folded", tmp_path / "out.prof"
        given = CpuGiven(server.pid, child)
        rc, out, err = run_record(refbpf_bin, ["-p", server.pid, "-p", child, "-d", "3",
                                               "-F", "199", "--folded", folded, "-o", prof])
        given_share = given.share()
        load.stop()
    finally:
        if load:
            load.kill()
        kill_group(server)
    assert rc == 0, explain(rc, out, err)
    assert load.ok > 20, "the server answered %d requests" % load.ok
    targets = report_targets(out)
    assert set(targets) == {server.pid, child}, explain(rc, out, err)
    child_samples, _ = target_samples(targets[child])
    parent_samples, _ = target_samples(targets[server.pid])
    assert parent_samples is not None, "the reloader was not profiled: " + targets[server.pid]
    assert child_samples is not None, targets[child]

    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    assert total == child_samples + parent_samples, explain(rc, out, err)
    handler = samples_with(stacks, "flask_handler_work")
    own = self_with(stacks, "flask_handler_work")
    # 2 clients: the child is busy (~1 CPU, its GIL); the hot loop is most of it
    assert_sampled_cpu(total, given_share * recorded_seconds(out), 199, what="the server")
    assert handler >= 0.3 * total and own >= 0.2 * total, (handler, own, total, out)
    # all of them in the child: the reloader only watches files
    assert child_samples >= handler, out
    # the handler is called by the route, at lines of its body
    for frames, c in stacks:
        names = [f[0] for f in frames]
        if "flask_handler_work" in names:
            i = names.index("flask_handler_work")
            assert names[i - 1] == "work", frames
            assert frames[i][1] == str(app) and frames[i - 1][1] == str(app), frames
            assert mark["handler_work"] < frames[i][2] <= mark["handler_work"] + 4, frames
            if parent_samples:   # several processes sampled: one root each
                assert root_of(frames) == process_root(child, child_cmd), frames

    # the same in the pstats file
    key, (cc, nc, tt, ct, callers), total_tt = pstats_entry(prof, str(app), "flask_handler_work")
    assert key[1] == mark["handler_work"], key
    assert tt >= 0.2 * total_tt and ct >= tt, (tt, ct, total_tt)
    assert abs(ct - handler / 199.0) < 0.02 * max(1.0, ct) + 1e-6, (ct, handler)
    assert any(k[0] == str(app) and k[2] == "work" and k[1] == mark["route"] for k in callers), \
        callers


# --- gunicorn ---------------------------------------------------------------

def wait_workers(master, n, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = children(master)
        if len(workers) == n:
            return workers
        time.sleep(0.1)
    raise AssertionError("gunicorn has workers %r, not %d" % (children(master), n))


def wait_file(path, word, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and word in open(path, errors="replace").read():
            return
        time.sleep(0.05)
    raise AssertionError("%s never said %r" % (path, word))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_gunicorn_every_worker_and_a_respawned_one(tmp_path, refbpf_bin, sig):
    """`refbpf -C -p MASTER`: the four sync workers found as descendants,
    each under its own `<process PID CMDLINE>` root; one worker is killed
    while recording, and the one gunicorn forks to replace it is followed
    and sampled too."""
    needs_file(GUNICORN, "gunicorn")
    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    server = subprocess.Popen([GUNICORN, "-w", "4", "-b", "127.0.0.1:%d" % port,
                               "--chdir", SERVERS, "wsgi_app:application"],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    load = rec = None
    folded, prof, errlog = tmp_path / "out.folded", tmp_path / "out.prof", tmp_path / "err"
    try:
        wait_http(url, server=server)
        master = server.pid
        workers = wait_workers(master, 4)
        cmds = {pid: cmdline(pid) for pid in [master] + workers}
        load = Load(url, 4)
        with open(errlog, "w") as errf:
            rec = subprocess.Popen([refbpf_bin, "-C", "-p", str(master), "-F", "199",
                                    "--folded", str(folded), "-o", str(prof), "-v"],
                                   stdout=subprocess.PIPE, stderr=errf, text=True)
        wait_file(errlog, "attached", 15)
        victim = workers[0]
        # what the kernel gives the processes alive throughout
        given = CpuGiven(master, *workers[1:])
        time.sleep(2)
        os.kill(victim, sig)
        deadline = time.monotonic() + 10
        respawned = []
        while not respawned and time.monotonic() < deadline:
            time.sleep(0.05)
            respawned = [w for w in children(master) if w not in workers]
        if respawned:
            cmds[respawned[0]] = cmdline(respawned[0])
            # A worker told to stop finishes its requests first, so the
            # new one may come seconds later on a busy machine: record
            # until the kernel has given it CPU time enough to sample
            # (0.5 s: about 100 samples), not for a fixed time.
            deadline = time.monotonic() + 30
            while process_cpu_seconds(respawned[0]) < 0.5 and time.monotonic() < deadline:
                time.sleep(0.1)
        rec.send_signal(signal.SIGINT)
        out, _ = rec.communicate(timeout=60)
        rc = rec.returncode
        survivors_share = given.share()
        load.stop()
    finally:
        if rec and rec.poll() is None:
            rec.kill()
            rec.wait()
        if load:
            load.kill()
        kill_group(server)
    err = open(errlog, errors="replace").read()
    assert rc == 0, explain(rc, out, err)
    assert len(respawned) == 1, "gunicorn did not respawn worker %d: %r" % (victim, respawned)
    new = respawned[0]
    assert load.ok > 50, (load.ok, load.failed)

    targets = report_targets(out)
    for pid in [master] + workers + [new]:
        assert pid in targets, "PID %d missing\n%s" % (pid, explain(rc, out, err))
        assert target_samples(targets[pid])[0] is not None, targets[pid]
    assert target_samples(targets[victim])[1], "not marked as exited: " + targets[victim]

    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    hot = samples_with(stacks, "app_hot_function")
    # at least what the survivors' CPU time warrants (the victim's and its
    # replacement's samples come on top)
    assert_sampled_cpu(total, survivors_share * recorded_seconds(out), 199, what="gunicorn")
    assert hot >= 0.5 * total, (hot, total, out)
    # every stack under exactly one of the processes' roots
    roots = {process_root(pid, cmds[pid]): pid for pid in cmds}
    for frames, c in stacks:
        assert root_of(frames) in roots, (root_of(frames), list(roots))
    for pid in workers + [new]:
        root = process_root(pid, cmds[pid])
        mine = samples_with(stacks, "app_hot_function", root)
        # the victim had 2 s of load, the new worker 0.5 s of CPU at least
        assert mine >= 20, "worker %d: %d samples of app_hot_function\n%s" % (
            pid, mine, explain(rc, out, err))
        assert mine <= target_samples(targets[pid])[0], (pid, mine, targets[pid])
    # the new worker's own stacks: forked by the arbiter, serving requests
    for frames, c in stacks:
        if root_of(frames) == process_root(new, cmds[new]) and \
                any(f[0] == "app_hot_function" for f in frames):
            names = [f[0] for f in frames]
            assert "Arbiter.spawn_worker" in names and names[-2:] == [
                "application", "app_hot_function"], names
    # the master is not serving
    assert samples_with(stacks, "app_hot_function", process_root(master, cmds[master])) == 0

    key, (cc, nc, tt, ct, callers), total_tt = pstats_entry(
        prof, os.path.join(SERVERS, "wsgi_app.py"), "app_hot_function")
    assert key[1] == markers(os.path.join(SERVERS, "wsgi_app.py"))["hot"], key
    assert tt >= 0.4 * total_tt, (tt, total_tt)
    assert [k[2] for k in callers] == ["application"], callers


# --- Apache httpd with mod_wsgi ---------------------------------------------

APACHE_CONF = """\
ServerRoot "{root}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
DefaultRuntimeDir {root}
ErrorLog {root}/error.log
LogLevel warn
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule wsgi_module {modules}/mod_wsgi.so
User {user}
Group {group}
# a fixed pool of 4 workers, never recycled: `pgrep` names all of them
StartServers 4
MinSpareServers 4
MaxSpareServers 4
ServerLimit 4
MaxRequestWorkers 4
MaxConnectionsPerChild 0
DocumentRoot {root}
WSGIScriptAlias / {root}/app.wsgi
{extra}
<Directory {root}>
    Require all granted
</Directory>
"""


def apache_user():
    import grp
    import pwd
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
            return user, group
        except KeyError:
            pass
    pytest.skip("skipped: no www-data or nobody user for apache2's workers")


class Apache:
    def __init__(self, root, port, conf, proc):
        self.root, self.port, self.conf, self.proc = root, port, conf, proc
        self.url = "http://127.0.0.1:%d/" % port

    def pids(self):
        return pgrep(self.conf)

    def log(self):
        path = os.path.join(self.root, "error.log")
        return open(path, errors="replace").read()[-3000:] if os.path.exists(path) else ""


@pytest.fixture(params=["sub-interpreter", "global"])
def apache(request):
    """A private httpd on a free loopback port, its own ServerRoot, PidFile
    and logs in a fresh directory its workers can read; killed (process
    group, then anything still running its config) and removed at the end."""
    needs_file(APACHE, "apache2")
    needs_file(os.path.join(APACHE_MODULES, "mod_mpm_prefork.so"), "apache2")
    needs_file(os.path.join(APACHE_MODULES, "mod_wsgi.so"), "libapache2-mod-wsgi-py3")
    user, group = apache_user()
    root = tempfile.mkdtemp(prefix="refbpf-httpd-", dir="/tmp")
    os.chmod(root, 0o755)
    port = free_port()
    shutil.copy(os.path.join(SERVERS, "wsgi_app.py"), os.path.join(root, "app.wsgi"))
    os.chmod(os.path.join(root, "app.wsgi"), 0o644)
    conf = os.path.join(root, "httpd.conf")
    extra = "WSGIApplicationGroup %{GLOBAL}" if request.param == "global" else ""
    with open(conf, "w") as f:
        f.write(APACHE_CONF.format(root=root, port=port, modules=APACHE_MODULES, user=user,
                                   group=group, extra=extra))
    proc = subprocess.Popen([APACHE, "-f", conf, "-DFOREGROUND"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Apache(root, port, conf, proc)
    server.mode = request.param

    def teardown():
        kill_group(proc)
        for _ in range(50):
            left = server.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)

    request.addfinalizer(teardown)
    try:
        wait_http(server.url + "interp", server=proc)
    except AssertionError:
        raise AssertionError("apache2 did not start (exit %s): %s" % (proc.poll(), server.log()))
    return server


def dump_app_thread(refbpf_bin, pids, deadline):
    """A thread caught in app_hot_function by `refbpf dump --json`."""
    while time.monotonic() < deadline:
        r = subprocess.run([refbpf_bin, "dump", "--json", "-p", ",".join(map(str, pids))],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        for proc in json.loads(r.stdout):
            for t in proc["threads"]:
                if any(f["function"] == "app_hot_function" for f in t["frames"]):
                    return proc["pid"], t
    return None, None


def test_apache_mod_wsgi(apache, tmp_path, refbpf_bin):
    """`refbpf -p $(pgrep -d, -f httpd.conf)`: the httpd parent (libpython
    mapped, never initialised: mod_wsgi initialises it in the workers) is
    listed and not fatal; the workers' application, in mod_wsgi's default
    sub-interpreter or in the main interpreter, is sampled."""
    group = http_get(apache.url + "interp")
    if apache.mode == "global":
        assert group == "group=''", group
    else:
        assert group == "group='localhost:%d|'" % apache.port, group
    parent = apache.proc.pid
    deadline = time.monotonic() + 10
    while len(children(parent)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    load = Load(apache.url, 4)
    try:
        time.sleep(0.5)
        pids = apache.pids()
        assert pids == sorted([parent] + children(parent)) and len(pids) == 5, pids
        workers = [p for p in pids if p != parent]
        folded, prof = tmp_path / "out.folded", tmp_path / "out.prof"
        given = CpuGiven(*pids)
        rc, out, err = run_record(refbpf_bin, ["-p", ",".join(map(str, pids)), "-d", "3",
                                               "-F", "199", "--folded", folded, "-o", prof])
        given_share = given.share()
        # which interpreter the application's thread runs in, load still on
        dumped_pid, thread = dump_app_thread(refbpf_bin, workers, time.monotonic() + 10)
        load.stop()
    finally:
        load.kill()
    assert rc == 0, explain(rc, out, err) + apache.log()
    assert load.ok > 50, (load.ok, load.failed, apache.log())
    targets = report_targets(out)
    assert set(targets) == set(pids), explain(rc, out, err)
    # the parent: listed, whatever it is, and not fatal
    assert targets[parent].startswith(("not profiled: ", "Python 3.")), targets[parent]
    sampled = {p: target_samples(targets[p])[0] for p in workers}
    assert all(n is not None for n in sampled.values()), explain(rc, out, err)

    app = os.path.join(apache.root, "app.wsgi")
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    hot = samples_with(stacks, "app_hot_function")
    assert_sampled_cpu(total, given_share * recorded_seconds(out), 199, what="apache")
    assert hot >= 0.5 * total, (hot, total, explain(rc, out, err))
    for frames, c in stacks:
        names = [f[0] for f in frames_of(frames)]
        if "app_hot_function" in names:
            i = names.index("app_hot_function")
            assert names[i - 1] == "application" and frames_of(frames)[i][1] == app, frames
            root = root_of(frames)
            assert root is None or int(root.split()[1]) in workers, frames
    key, (cc, nc, tt, ct, callers), total_tt = pstats_entry(prof, app, "app_hot_function")
    assert tt >= 0.5 * total_tt, (tt, total_tt)
    assert [k[2] for k in callers] == ["application"], callers

    assert thread is not None, "refbpf dump never caught a worker in app_hot_function"
    if apache.mode == "global":
        assert thread["interpreter"] == 0, thread
        return
    # mod_wsgi's default: the application runs in a sub-interpreter
    assert thread["interpreter"] >= 1, (dumped_pid, thread)
