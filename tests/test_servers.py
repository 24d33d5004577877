"""Root tests against Python servers as they really run, started from
Debian's packages on loopback and driven by a bounded HTTP load: the
werkzeug development server with its reloader, gunicorn with four sync
workers (one killed and respawned while recording), and Apache httpd
running the application in mod_wsgi's sub-interpreter."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from profiling import parse_folded

pytestmark = pytest.mark.root

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "servers")
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("%s never answered" % url)


def start_load(url, seconds, concurrency=2):
    return subprocess.Popen([PYTHON, os.path.join(SERVERS, "load.py"), url, str(seconds),
                             str(concurrency)], stdout=subprocess.PIPE, text=True)


def finish_load(load):
    out, _ = load.communicate(timeout=60)
    requests = int(out.split()[-1])
    assert requests > 10, "the server answered only %d requests" % requests


def kill_group(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def samples_of(stacks, name, pid=None):
    return sum(c for frames, c in stacks
               if any(f[0] == name for f in frames)
               and (pid is None or frames[0][0].startswith("<process %d " % pid)))


def needs(module_or_path):
    if module_or_path.startswith("/"):
        if not os.access(module_or_path, os.X_OK):
            pytest.skip("skipped: %s not installed (scripts/install-deps.sh installs it)"
                        % module_or_path)
    elif subprocess.run([PYTHON, "-c", "import " + module_or_path]).returncode:
        pytest.skip("skipped: python3-%s not installed (scripts/install-deps.sh installs it)"
                    % module_or_path)


def test_flask_reloader_pgrep_shows_the_handler(tmp_path, refbpf_bin):
    """`refbpf --pid $(pgrep -f app)` on a reloader parent and its child."""
    needs("flask")
    port = free_port()
    app = tmp_path / "server_dev.py"
    shutil.copy(os.path.join(SERVERS, "flask_app.py"), app)
    server = subprocess.Popen([PYTHON, str(app), str(port)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http("http://127.0.0.1:%d/work" % port)
        pids = pgrep(str(app))
        assert len(pids) == 2, pids          # the reloader and the server it runs
        load = start_load("http://127.0.0.1:%d/work" % port, 5)
        folded = tmp_path / "out.folded"
        r = subprocess.run([refbpf_bin, "--pid"] + [str(p) for p in pids] +
                           ["-d", "3", "-F", "499", "--folded", str(folded), "-o",
                            str(tmp_path / "out.prof")], capture_output=True, text=True,
                           timeout=60)
        finish_load(load)
    finally:
        kill_group(server)
    assert r.returncode == 0, r.stderr
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    handler = samples_of(stacks, "flask_handler_work")
    assert handler > 0.3 * total, (handler, total, r.stdout)
    for pid in pids:
        assert "PID %d  Python 3." % pid in r.stdout, r.stdout
    # the samples are the child's: the reloader only watches files
    child = [p for p in pids if p != server.pid][0]
    m = re.search(r"^  PID %d  Python \S+  .*  (\d+) samples" % child, r.stdout, re.M)
    assert m and int(m.group(1)) >= handler, r.stdout


def gunicorn_workers(master):
    return sorted(children(master))


def test_gunicorn_every_worker_and_a_respawned_one(tmp_path, refbpf_bin):
    needs("/usr/bin/gunicorn")
    port = free_port()
    server = subprocess.Popen(["/usr/bin/gunicorn", "-w", "4", "-b", "127.0.0.1:%d" % port,
                               "--chdir", SERVERS, "wsgi_app:application"],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d/" % port
        wait_http(url)
        deadline = time.monotonic() + 20
        while len(gunicorn_workers(server.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = gunicorn_workers(server.pid)
        assert len(workers) == 4, workers
        load = start_load(url, 9, 4)
        folded = tmp_path / "out.folded"
        rec = subprocess.Popen([refbpf_bin, "-C", "-p", str(server.pid), "-d", "7", "-F", "199",
                                "--folded", str(folded)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        respawned = []
        while not respawned and time.monotonic() < deadline:
            time.sleep(0.1)
            respawned = [w for w in gunicorn_workers(server.pid) if w not in workers]
        out, err = rec.communicate(timeout=60)
        finish_load(load)
    finally:
        kill_group(server)
    assert rec.returncode == 0, err
    assert respawned, "gunicorn did not respawn the killed worker"
    stacks = parse_folded(folded)
    for pid in workers[1:] + respawned:
        assert samples_of(stacks, "app_hot_function", pid) > 10, (pid, out)
    assert "PID %d  Python 3." % respawned[0] in out, out


APACHE_CONF = """
ServerRoot "{root}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
DefaultRuntimeDir {root}
ErrorLog {root}/error.log
LogLevel warn
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
User www-data
Group www-data
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 4
DocumentRoot {root}
WSGIScriptAlias / {root}/app.wsgi
<Directory {root}>
    Require all granted
</Directory>
"""


def test_apache_mod_wsgi_sub_interpreter(tmp_path, refbpf_bin):
    """`refbpf --pid $(pgrep apache2)`: the parent and the workers, the
    application running in mod_wsgi's default sub-interpreter."""
    needs("/usr/sbin/apache2")
    if not os.path.exists("/usr/lib/apache2/modules/mod_wsgi.so"):
        pytest.skip("skipped: libapache2-mod-wsgi-py3 not installed")
    root = tempfile.mkdtemp(prefix="refbpf-httpd-", dir="/tmp")
    os.chmod(root, 0o755)
    port = free_port()
    shutil.copy(os.path.join(SERVERS, "wsgi_app.py"), os.path.join(root, "app.wsgi"))
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write(APACHE_CONF.format(root=root, port=port))
    server = subprocess.Popen(["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = "http://127.0.0.1:%d/" % port
        try:
            wait_http(url)
        except AssertionError:
            log = open(os.path.join(root, "error.log")).read() if os.path.exists(
                os.path.join(root, "error.log")) else ""
            raise AssertionError("apache did not start: %s %s" % (log[-2000:], server.poll()))
        load = start_load(url, 6, 4)
        time.sleep(0.5)
        pids = [server.pid] + children(server.pid)
        folded = tmp_path / "out.folded"
        r = subprocess.run([refbpf_bin, "--pid"] + [str(p) for p in pids] +
                           ["-d", "4", "-F", "199", "--folded", str(folded)],
                           capture_output=True, text=True, timeout=60)
        finish_load(load)
    finally:
        kill_group(server)
        shutil.rmtree(root, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    hot = samples_of(stacks, "app_hot_function")
    assert hot > 0.5 * total and hot > 100, (hot, total, r.stdout)
    # the httpd parent is listed, Python or not, and is not fatal
    assert "PID %d " % server.pid in r.stdout, r.stdout
