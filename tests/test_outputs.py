"""Where outputs go: never through a symlink someone else planted in a
shared directory, owned by the invoking user under sudo, and a full disk
or unwritable path is a clear error with nothing half-written left under
the requested name. Driven through `refbpf report` on a raw profile, which
writes with the same code as a recording."""
import os
import subprocess
import tempfile

import pytest

RAW = "refbpf-raw 1\nmeta rate_hz=100 period_s=0.01 duration_s=1\n" + "".join(
    "func %d %d /srv/module_%d.py function_%d_%s f%d\n" % (i, i + 1, i % 50, i, "x" * 40, i)
    for i in range(3000)) + "".join(
    "stack 1 1 0 %d 0:1,%d:%d\n" % (i + 1, i, i + 2) for i in range(1, 3000))


@pytest.fixture
def raw(tmp_path):
    p = tmp_path / "run.raw"
    p.write_text(RAW)
    return p


def report(refbpf, *args, env=None):
    return subprocess.run([refbpf, "report"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def shared_dir():
    """A sticky world-writable directory like /tmp, owned by root."""
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root to plant a symlink owned by another user")
    d = tempfile.mkdtemp(dir="/tmp")
    os.chmod(d, 0o1777)
    yield d
    subprocess.run(["rm", "-rf", d])


def test_planted_symlink_is_not_followed(raw, refbpf_bin, shared_dir):
    victim = os.path.join(tempfile.mkdtemp(), "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    link = os.path.join(shared_dir, "profile.out")
    os.symlink(victim, link)
    os.lchown(link, 65534, 65534)
    r = report(refbpf_bin, raw, "-o", link)
    assert r.returncode == 1
    assert r.stderr.strip() == ("refbpf: cannot write %s: refusing to follow a symlink someone "
                                "else planted in a shared directory" % link), r.stderr
    assert open(victim).read() == "precious\n"
    assert os.path.islink(link)


def test_own_symlink_in_shared_dir_is_followed(raw, refbpf_bin, shared_dir):
    target = os.path.join(shared_dir, "real.prof")
    link = os.path.join(shared_dir, "latest.prof")
    os.symlink(target, link)
    r = report(refbpf_bin, raw, "-o", link)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(link) and os.path.getsize(target) > 0


def test_sudo_user_owns_the_outputs(raw, refbpf_bin, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root to act as sudo does")
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534")
    out = tmp_path / "mine.prof"
    r = report(refbpf_bin, raw, "-o", out, "--folded", tmp_path / "mine.folded", env=env)
    assert r.returncode == 0, r.stderr
    for p in (out, tmp_path / "mine.folded"):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (65534, 65534), p


def test_full_disk_leaves_nothing_under_the_name(raw, refbpf_bin):
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root to mount a small tmpfs")
    d = tempfile.mkdtemp()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d], check=True)
    try:
        out = os.path.join(d, "big.prof")
        r = report(refbpf_bin, raw, "-o", out)
        assert r.returncode == 1
        assert r.stderr.strip() == "refbpf: cannot write %s: No space left on device" % out
        assert os.listdir(d) == [], os.listdir(d)
        # the report still reaches stdout
        assert "(f1)" in r.stdout
    finally:
        subprocess.run(["umount", d])
        os.rmdir(d)


def test_device_and_unwritable_paths(raw, refbpf_bin, tmp_path):
    r = report(refbpf_bin, raw, "-o", "/dev/full")
    assert r.returncode == 1 and "No space left on device" in r.stderr, r.stderr
    r = report(refbpf_bin, raw, "--folded", tmp_path / "no" / "such" / "dir.folded")
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr
