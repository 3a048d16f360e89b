"""Issue 11, item 2: crash recovery. The daemon is killed with SIGKILL in the
middle of a git push, an API commit, a build, and with five spaces running,
then started again on the same data directory: every acknowledged commit is
there, every repository passes `git fsck`, the database passes
`PRAGMA integrity_check`, the killed daemon's app processes and cgroups are
gone, and every space is back at its stage within 30 s. A killed app comes
back after its crash backoff. A full disk refuses writes with clear errors and
damages nothing already stored."""
import errno
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import Hangar
from spaces_util import app_get, client, commit_raw, deploy, runtime, wait_stage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes and tmpfs mounts need root")

RECOVERY_LIMIT_S = 30
RECOVERY_TIMES = {}  # what each restart took, printed at the end of the module


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    """One daemon for the module, killed and restarted by the tests; the
    Python environment of the sandboxed apps is built once."""
    d = Hangar(tmp_path_factory.mktemp("recovery") / "data").start()
    yield d
    rc = d.stop()
    print("\nrecovery times (kill -9 to every space at its stage):")
    for what, seconds in RECOVERY_TIMES.items():
        print(f"  {what}: {seconds:.1f} s")
    assert not d.sanitizer_reports(), d.log()[-4000:]
    assert rc == 0, d.log()[-4000:]


@pytest.fixture
def gitenv(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("init.defaultBranch", "main")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    return env


def git(env, cwd, *args, check=True, timeout=120):
    r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"git {args}: {r.stderr}"
    return r


def kill_and_restart(h):
    """SIGKILL, then a start on the same data directory (a new port); returns
    the time of the kill, from which recovery times count."""
    killed = time.time()
    assert h.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    h.start()
    RECOVERY_TIMES.setdefault("daemon start after kill -9 (answers /api/health), slowest", 0)
    RECOVERY_TIMES["daemon start after kill -9 (answers /api/health), slowest"] = max(
        RECOVERY_TIMES["daemon start after kill -9 (answers /api/health), slowest"],
        time.time() - killed)
    return killed


def repo_dir(h, repo_id):
    return h.data_dir / "repos" / f"{repo_id}.git"


def check_storage(h):
    """git fsck on every repository and SQLite's integrity check."""
    repos = sorted((h.data_dir / "repos").glob("*/*.git"))
    assert repos
    for repo in repos:
        r = subprocess.run(["git", "fsck", "--full", "--no-progress"], cwd=repo,
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{repo}: {r.stdout}{r.stderr}"
        # No quarantine of a cut push is left behind.
        assert not list((repo / "objects").glob("incoming-*")), repo
    db = sqlite3.connect(h.data_dir / "hangar.db", timeout=10)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()


def main_sha(h, repo_id):
    return subprocess.run(["git", "rev-parse", "main"], cwd=repo_dir(h, repo_id),
                          capture_output=True, text=True, check=True).stdout.strip()


def is_ancestor(h, repo_id, sha, of="main"):
    return subprocess.run(["git", "merge-base", "--is-ancestor", sha, of],
                          cwd=repo_dir(h, repo_id)).returncode == 0


def processes(match):
    """PIDs whose command line or environment contains match (bytes)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if match in cmd or match in env:
            found.append(int(pid))
    return found


def app_pids(repo_id):
    return processes(f"SPACE_ID={repo_id}\0".encode())


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def cgroups_of(h):
    """The sandbox cgroups this daemon's data directory names (per v1 controller
    or the v2 tree): the instance tag is a BLAKE2b of DATA's real path."""
    tag = "h" + hashlib.blake2b(os.path.realpath(h.data_dir).encode(), digest_size=4).hexdigest()
    out = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-type", "d",
                          "-name", tag + "*"], capture_output=True, text=True).stdout
    return sorted(out.split())


def wait_all(h, repos, stage, since, limit=RECOVERY_LIMIT_S, label="restart"):
    """Waits for every space to reach stage; records and returns the times."""
    times = {}
    deadline = since + limit
    pending = set(repos)
    while pending and time.time() < deadline:
        for repo in sorted(pending):
            if runtime(h, repo)["stage"] == stage:
                times[repo] = time.time() - since
                pending.discard(repo)
        time.sleep(0.1)
    assert not pending, {r: runtime(h, r) for r in pending}
    RECOVERY_TIMES[f"{label}: slowest of {len(repos)}"] = max(times.values())
    return times


def test_kill_during_git_push(h, gitenv, tmp_path):
    client(h).create_repo("admin/pushed", repo_type="space", space_sdk="static")
    work = tmp_path / "work"
    url = f"http://user:{h.admin_token}@127.0.0.1:{h.port}/spaces/admin/pushed"
    git(gitenv, tmp_path, "clone", "-q", url, str(work))
    (work / "index.html").write_text("<p>first</p>\n")
    git(gitenv, work, "add", "-A")
    git(gitenv, work, "commit", "-qm", "first")
    git(gitenv, work, "push", "-q", "origin", "main")
    acked = git(gitenv, work, "rev-parse", "HEAD").stdout.strip()

    # A big pack (random bytes do not compress) on its way when the daemon dies.
    (work / "big.bin").write_bytes(os.urandom(24 << 20))
    git(gitenv, work, "add", "-A")
    git(gitenv, work, "commit", "-qm", "big")
    big = git(gitenv, work, "rev-parse", "HEAD").stdout.strip()
    push = subprocess.Popen(["git", "push", "origin", "main"], cwd=work, env=gitenv,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not processes(b"receive-pack\0--stateless-rpc\0.\0"):
        time.sleep(0.01)
    assert push.poll() is None, push.stdout.read()
    kill_and_restart(h)
    out = push.communicate(timeout=60)[0]
    assert push.returncode != 0, out  # cut: never acknowledged

    # The cut receive-pack leaves, and main is the acknowledged commit.
    deadline = time.time() + 15
    while time.time() < deadline and processes(b"receive-pack\0--stateless-rpc\0.\0"):
        time.sleep(0.1)
    assert main_sha(h, "admin/pushed") == acked
    check_storage(h)
    # The same push again goes through on the restarted daemon.
    url = f"http://user:{h.admin_token}@127.0.0.1:{h.port}/spaces/admin/pushed"
    git(gitenv, work, "push", "-q", url, "main")
    assert main_sha(h, "admin/pushed") == big
    check_storage(h)


def test_kill_during_api_commits(h):
    repo = "admin/committed"
    client(h).create_repo(repo, repo_type="space", space_sdk="static")
    acked, errors = [], []
    stop = threading.Event()

    def commits():
        n = 0
        while not stop.is_set():
            n += 1
            try:
                acked.append(commit_raw(h, repo, {f"f{n}.txt": os.urandom(32 << 10).hex()},
                                        summary=f"commit {n}"))
            except (requests.RequestException, KeyError) as e:
                errors.append(e)
                return

    # An LFS upload through huggingface_hub in flight, in a process of its own
    # (its retries against the dead port would outlast the test).
    script = ("import os, sys; from huggingface_hub import HfApi; "
              "HfApi(endpoint=sys.argv[1], token=sys.argv[2]).upload_file("
              "path_or_fileobj=os.urandom(24 << 20), path_in_repo='w.bin', "
              f"repo_id={repo!r}, repo_type='space')")
    upload = subprocess.Popen([sys.executable, "-c", script, h.url, h.admin_token],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    thread = threading.Thread(target=commits)
    thread.start()
    deadline = time.time() + 30
    while len(acked) < 5 and time.time() < deadline:
        time.sleep(0.05)
    kill_and_restart(h)
    stop.set()
    thread.join(60)
    upload.kill()
    upload.wait()
    assert len(acked) >= 5, errors
    head = main_sha(h, repo)
    for sha in acked:
        assert is_ancestor(h, repo, sha), f"acknowledged {sha} lost; main is {head}"
    check_storage(h)
    # The history is readable through the API, the last acknowledged file too.
    r = requests.get(f"{h.url}/api/spaces/{repo}/commits/main", headers=h.headers())
    assert r.status_code == 200 and len(r.json()) >= len(acked)
    # Commits go on after the restart.
    commit_raw(h, repo, {"after.txt": "after the restart"})


def build_processes(h):
    """This daemon's build steps (uv): they carry HANGAR_BUILD and a TMPDIR
    under its DATA (their cwd is /app inside the sandbox)."""
    data = os.path.realpath(h.data_dir).encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(b"HANGAR_BUILD=") for e in env) and \
                any(e.startswith(b"TMPDIR=" + data + b"/") for e in env):
            found.append(int(pid))
    return found


def test_stale_ref_locks_of_a_killed_daemon_are_cleared(h):
    """A kill -9 between taking main's lock and moving it (a commit or a
    push in flight) leaves refs/heads/main.lock behind; the next start must
    clear it, or every later commit is a 409 and every push fails."""
    repo = "admin/locked"
    client(h).create_repo(repo, repo_type="space", space_sdk="static")
    commit_raw(h, repo, {"index.html": "<p>one</p>"})
    assert h.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    heads = repo_dir(h, repo) / "refs" / "heads"
    (heads / "main.lock").write_text("0" * 40 + "\n")
    (repo_dir(h, repo) / "packed-refs.lock").write_text("")
    h.start()
    assert not (heads / "main.lock").exists()
    assert not (repo_dir(h, repo) / "packed-refs.lock").exists()
    sha = commit_raw(h, repo, {"index.html": "<p>two</p>"})
    assert main_sha(h, repo) == sha
    check_storage(h)


def test_kill_during_build(h):
    repo = deploy(h, "built", "envapp")
    # Killed as soon as a build step runs: with uv's cache warm the whole
    # environment can be made in under half a second.
    deadline = time.time() + 60
    steps = []
    while time.time() < deadline and not steps:
        steps = build_processes(h)
        time.sleep(0.01)
    assert steps
    assert runtime(h, repo)["stage"] == "BUILDING"
    # The killed build left a half-made environment to remove.
    since = kill_and_restart(h)
    # Removing the half-made environment does not block the loop: the daemon
    # keeps answering at once.
    for _ in range(5):
        assert requests.get(h.url + "/api/health", timeout=2).status_code == 200
    # The killed daemon's build steps do not go on writing beside the new build.
    assert not [p for p in steps if pid_alive(p)], steps
    # The build starts again and the app runs.
    wait_stage(h, repo, "RUNNING", timeout=300)
    RECOVERY_TIMES["build cut by kill -9, rebuilt and running"] = time.time() - since
    assert app_get(h, "admin-built", "/").status_code == 200
    check_storage(h)


def test_kill_with_five_spaces_running(h):
    repos = ["admin/built"] + [deploy(h, f"run{i}", "envapp") for i in range(4)]
    for repo in repos:
        wait_stage(h, repo, "RUNNING", timeout=300)
    # Desired stages other than RUNNING come back too: a paused space stays paused.
    paused = deploy(h, "paused", "envapp")
    client(h).pause_space(paused)
    wait_stage(h, paused, "PAUSED", timeout=60)
    before = {repo: app_pids(repo) for repo in repos}
    assert all(before.values()), before
    groups_before = cgroups_of(h)
    assert groups_before

    since = kill_and_restart(h)
    wait_all(h, repos + ["admin/pushed"], "RUNNING", since, label="kill -9 with 5 running")
    assert runtime(h, paused)["stage"] == "PAUSED"
    assert not app_pids(paused)
    for repo in repos:
        sub = repo.replace("/", "-")
        r = app_get(h, sub, "/", timeout=10)
        assert r.status_code == 200, (repo, r.status_code, r.text[:200])
        # The killed daemon's apps are gone: none runs twice.
        old = [p for p in before[repo] if pid_alive(p)]
        assert not old, f"{repo}: processes of the killed daemon still run: {old}"
        assert app_pids(repo), repo
    # Its cgroups too: one group per running space (under each controller),
    # holding only the new instances' processes.
    groups = cgroups_of(h)
    assert len({os.path.basename(g) for g in groups}) == len(repos), groups
    old_pids = {p for pids in before.values() for p in pids}
    for g in groups:
        procs = {int(p) for p in Path(g, "cgroup.procs").read_text().split()}
        assert procs and not procs & old_pids, (g, procs)
    check_storage(h)


def test_killed_app_comes_back_within_its_backoff(h):
    repo = "admin/run0"
    wait_stage(h, repo, "RUNNING", timeout=60)
    pids = app_pids(repo)
    assert pids
    killed = time.time()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_stage(h, repo, {"APP_STARTING", "RUNTIME_ERROR"}, timeout=10)
    rt = wait_stage(h, repo, "RUNNING", timeout=30)
    took = time.time() - killed
    RECOVERY_TIMES["app kill -9 to RUNNING (backoff 1 s)"] = took
    assert app_get(h, "admin-run0", "/").status_code == 200
    assert not any(pid_alive(p) for p in pids)
    assert took < 1 + 15, rt  # the first backoff is 1 s, then the app's own start


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small" / "data"  # the daemon's log stays outside, in small/
    mnt.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk(small_disk, gitenv, tmp_path):
    d = Hangar(small_disk).start()
    try:
        full_disk_checks(d, gitenv, tmp_path)
    finally:
        rc = d.stop()
    assert not d.sanitizer_reports(), d.log()[-4000:]
    assert rc == 0, d.log()[-4000:]


def full_disk_checks(d, gitenv, tmp_path):
    repo = "admin/tight"
    client(d).create_repo(repo, repo_type="space", space_sdk="static")
    first = commit_raw(d, repo, {"index.html": "<p>kept</p>\n"}, summary="kept")
    free = os.statvfs(d.data_dir).f_bavail * os.statvfs(d.data_dir).f_frsize

    # git push of more than the disk holds: refused, said so through git.
    work = tmp_path / "work"
    url = f"http://user:{d.admin_token}@127.0.0.1:{d.port}/spaces/{repo}"
    git(gitenv, tmp_path, "clone", "-q", url, str(work))
    (work / "big.bin").write_bytes(os.urandom(free + (4 << 20)))
    git(gitenv, work, "add", "-A")
    git(gitenv, work, "commit", "-qm", "too big")
    r = git(gitenv, work, "push", "origin", "main", check=False)
    assert r.returncode != 0
    assert "remote: fatal:" in r.stderr and "No space left on device" in r.stderr, r.stderr
    assert main_sha(d, repo) == first

    # An LFS upload of more than fits: a clear error.
    with pytest.raises(Exception) as e:
        client(d).upload_file(path_or_fileobj=os.urandom(free + (4 << 20)), path_in_repo="w.bin",
                              repo_id=repo, repo_type="space")
    chain, err = [], e.value
    while err is not None:
        chain.append(str(err))
        err = err.__cause__ or err.__context__
    assert any("507" in c and "Not enough storage space" in c for c in chain), chain

    # An API commit that does not fit (random bytes: git cannot compress them).
    import base64
    import json
    free = os.statvfs(d.data_dir).f_bavail * os.statvfs(d.data_dir).f_frsize
    content = base64.b64encode(os.urandom(free + (2 << 20))).decode()
    body = json.dumps({"key": "header", "value": {"summary": "big", "description": ""}}) + "\n"
    body += json.dumps({"key": "file", "value": {"path": "big.txt", "content": content,
                                                  "encoding": "base64"}}) + "\n"
    resp = requests.post(f"{d.url}/api/spaces/{repo}/commit/main", data=body,
                         headers={**d.headers(), "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 507, (resp.status_code, resp.text)
    assert "Not enough storage space" in resp.headers.get("X-Error-Message", ""), resp.text

    # Nothing stored is damaged and the daemon serves on.
    assert main_sha(d, repo) == first
    r = requests.get(f"{d.url}/spaces/{repo}/resolve/main/index.html", headers=d.headers())
    assert r.status_code == 200 and r.text == "<p>kept</p>\n"
    check_storage(d)
    assert requests.get(d.url + "/api/health").status_code == 200
    # The failed writes left no garbage behind: a small commit still fits.
    commit_raw(d, repo, {"small.txt": "fits"}, summary="small")

    # A disk full to the last block: the database's writes fail too, each
    # with an answer, and the daemon goes on serving reads.
    filler = d.data_dir / "filler"
    try:
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
    except OSError as e:
        # full: while writing, or already (then even making the file is refused)
        assert e.errno == errno.ENOSPC, e
    r = requests.post(d.url + "/api/repos/create", headers=d.headers(),
                      json={"name": "more", "type": "space", "sdk": "static"})
    assert r.status_code == 507, (r.status_code, r.text)
    assert "Not enough storage space" in r.headers["X-Error-Message"]
    resp = requests.post(f"{d.url}/api/spaces/{repo}/commit/main",
                         data=json.dumps({"key": "header", "value": {"summary": "s"}}) + "\n" +
                         json.dumps({"key": "file", "value": {"path": "x.txt", "content": "eA==",
                                                               "encoding": "base64"}}) + "\n",
                         headers={**d.headers(), "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 507, (resp.status_code, resp.text)
    assert "Not enough storage space" in resp.headers["X-Error-Message"]
    assert requests.get(d.url + "/api/health").status_code == 200
    r = requests.get(f"{d.url}/spaces/{repo}/resolve/main/index.html", headers=d.headers())
    assert r.status_code == 200 and r.text == "<p>kept</p>\n"
    filler.unlink(missing_ok=True)
    commit_raw(d, repo, {"later.txt": "room again"}, summary="later")
    client(d).create_repo("admin/more", repo_type="space", space_sdk="static")
    check_storage(d)
