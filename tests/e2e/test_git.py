"""Issue 3, item 2: git smart HTTP at /spaces/<owner>/<name>[.git], with the real git client."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ZERO = "0" * 40


@pytest.fixture
def gitenv(tmp_path):
    """An environment where git reads no user or system configuration."""
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"})
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("init.defaultBranch", "main"), ("credential.helper", "")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    return env


class Git:
    def __init__(self, env, cwd):
        self.env = env
        self.cwd = Path(cwd)

    def run(self, *args, check=True, cwd=None, timeout=120):
        r = subprocess.run(["git", "-c", "credential.helper=", *args], cwd=cwd or self.cwd,
                           env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return r

    def head(self, cwd=None):
        return self.run("rev-parse", "HEAD", cwd=cwd).stdout.strip()


@pytest.fixture
def git(gitenv, tmp_path):
    return Git(gitenv, tmp_path)


def url(hangar, token=None, space="admin/demo", user="user"):
    auth = f"{user}:{token}@" if token else ""
    return f"http://{auth}127.0.0.1:{hangar.port}/spaces/{space}"


def create_space(hangar, name="demo", token=None, private=False):
    r = requests.post(hangar.url + "/api/repos/create", headers=hangar.headers(token),
                      json={"name": name, "type": "space", "sdk": "static", "private": private})
    assert r.status_code == 200, r.text
    return r.json()


def api_sha(hangar, space="admin/demo", token=None):
    r = requests.get(f"{hangar.url}/api/spaces/{space}", headers=hangar.headers(token))
    assert r.status_code == 200, r.text
    return r.json()["sha"]


def bare_repo(hangar, space="admin/demo"):
    return hangar.data_dir / "repos" / f"{space}.git"


def bare_state(git, hangar, space="admin/demo"):
    """Every ref of the bare repository, and what else its object store holds."""
    repo = bare_repo(hangar, space)
    refs = git.run("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo).stdout
    leftovers = sorted(p.name for p in (repo / "objects").iterdir()
                       if p.name.startswith(("incoming-", "tmp_")))
    return refs, leftovers


def fsck(git, hangar, space="admin/demo"):
    r = git.run("fsck", "--strict", "--no-dangling", cwd=bare_repo(hangar, space), check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def commit_files(git, work, files, message):
    for name, content in files.items():
        path = Path(work) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", message, cwd=work)
    return git.head(cwd=work)


def clone(git, hangar, dest, token=None, space="admin/demo", suffix="", check=True):
    return git.run("clone", url(hangar, token, space) + suffix, str(dest), check=check)


def vm_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


# ---- clone, push, fetch -----------------------------------------------------------------


def test_clone_empty_push_and_clone_back(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    r = clone(git, hangar, work, hangar.admin_token)
    assert "empty repository" in r.stderr
    sha = commit_files(git, work, {"README.md": "# demo\n", "app/index.html": "<h1>hi</h1>\n"},
                       "first")
    git.run("push", "origin", "main", cwd=work)
    assert api_sha(hangar) == sha

    back = tmp_path / "back"
    clone(git, hangar, back, hangar.admin_token)
    assert git.head(cwd=back) == sha
    assert (back / "README.md").read_text() == "# demo\n"
    assert (back / "app" / "index.html").read_text() == "<h1>hi</h1>\n"

    # A second push; the earlier clone fetches it.
    sha2 = commit_files(git, work, {"README.md": "# demo v2\n"}, "second")
    git.run("push", "origin", "main", cwd=work)
    assert api_sha(hangar) == sha2
    git.run("pull", "-q", "--ff-only", cwd=back)
    assert git.head(cwd=back) == sha2
    assert (back / "README.md").read_text() == "# demo v2\n"
    fsck(git, hangar)


def test_dot_git_url_and_protocol_v0(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token, suffix=".git")
    sha = commit_files(git, work, {"a.txt": "a\n"}, "via .git")
    git.run("push", "origin", "main", cwd=work)
    assert api_sha(hangar) == sha
    for suffix, version in ((".git", "0"), ("", "0"), (".git", "2")):
        dest = tmp_path / f"clone{suffix}{version}"
        git.run("-c", f"protocol.version={version}", "clone", "-q", url(hangar) + suffix,
                str(dest))
        assert git.head(cwd=dest) == sha


def test_advertisement_headers(hangar, git, tmp_path):
    create_space(hangar)
    r = requests.get(url(hangar) + "/info/refs?service=git-upload-pack")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert "no-cache" in r.headers["Cache-Control"]
    assert r.content.startswith(b"001e# service=git-upload-pack\n0000")
    r = requests.get(url(hangar) + "/info/refs?service=git-upload-pack",
                     headers={"Git-Protocol": "version=2"})
    assert r.status_code == 200
    assert r.content.startswith(b"000eversion 2\n")
    r = requests.get(url(hangar) + "/info/refs?service=git-receive-pack",
                     headers=hangar.headers())
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-git-receive-pack-advertisement"
    assert r.content.startswith(b"001f# service=git-receive-pack\n0000")


def test_non_fast_forward_needs_force(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    first = commit_files(git, work, {"f.txt": "1\n"}, "one")
    git.run("push", "origin", "main", cwd=work)
    second = commit_files(git, work, {"f.txt": "2\n"}, "two")
    git.run("push", "origin", "main", cwd=work)
    assert api_sha(hangar) == second

    git.run("reset", "-q", "--hard", first, cwd=work)
    rewritten = commit_files(git, work, {"f.txt": "rewritten\n"}, "rewrite")
    r = git.run("push", "origin", "main", cwd=work, check=False)
    assert r.returncode != 0
    assert "rejected" in r.stderr
    assert api_sha(hangar) == second

    git.run("push", "--force", "origin", "main", cwd=work)
    assert api_sha(hangar) == rewritten
    fresh = tmp_path / "fresh"
    clone(git, hangar, fresh)
    assert git.head(cwd=fresh) == rewritten
    fsck(git, hangar)


def test_other_branch_kept_but_not_deployed(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    main = commit_files(git, work, {"f.txt": "main\n"}, "main")
    git.run("push", "origin", "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    feature = commit_files(git, work, {"f.txt": "feature\n"}, "feature")
    git.run("push", "origin", "feature", cwd=work)
    assert api_sha(hangar) == main
    refs = git.run("ls-remote", url(hangar), cwd=work).stdout
    assert f"{feature}\trefs/heads/feature" in refs
    assert f"{main}\trefs/heads/main" in refs

    # Deleting main is refused (HF keeps the default branch); other branches may go.
    r = git.run("push", "origin", ":main", cwd=work, check=False)
    assert r.returncode != 0
    assert "deletion of the current branch prohibited" in r.stderr
    git.run("push", "origin", ":feature", cwd=work)
    refs, _ = bare_state(git, hangar)
    assert refs == f"refs/heads/main {main}\n"
    assert api_sha(hangar) == main


# ---- access -------------------------------------------------------------------------------


def test_anonymous_clone_public_and_push_refused(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    sha = commit_files(git, work, {"f.txt": "x\n"}, "x")
    git.run("push", "origin", "main", cwd=work)

    anon = tmp_path / "anon"
    clone(git, hangar, anon)
    assert git.head(cwd=anon) == sha

    commit_files(git, anon, {"f.txt": "anonymous\n"}, "anon")
    r = git.run("push", "origin", "main", cwd=anon, check=False)
    assert r.returncode != 0
    assert "could not read Username" in r.stderr or "Authentication failed" in r.stderr
    r = requests.get(url(hangar) + "/info/refs?service=git-receive-pack")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    r = requests.post(url(hangar) + "/git-receive-pack", data=b"0000",
                      headers={"Content-Type": "application/x-git-receive-pack-request"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert api_sha(hangar) == sha


def test_private_space(hangar, git, tmp_path):
    create_space(hangar, private=True)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    sha = commit_files(git, work, {"secret.txt": "s\n"}, "secret")
    git.run("push", "origin", "main", cwd=work)

    r = clone(git, hangar, tmp_path / "anon", check=False)
    assert r.returncode != 0
    assert "could not read Username" in r.stderr
    r = requests.get(url(hangar) + "/info/refs?service=git-upload-pack")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")

    bob = hangar.cli("user", "add", "bob").stdout.strip()
    r = clone(git, hangar, tmp_path / "bob", bob, check=False)
    assert r.returncode != 0
    assert "not found" in r.stderr or "404" in r.stderr
    r = requests.get(url(hangar) + "/info/refs?service=git-upload-pack", auth=("bob", bob))
    assert r.status_code == 404
    assert r.headers.get("X-Error-Code") == "RepoNotFound"

    owner = tmp_path / "owner"
    clone(git, hangar, owner, hangar.admin_token)
    assert git.head(cwd=owner) == sha


def test_read_token_and_other_user_cannot_push(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    sha = commit_files(git, work, {"f.txt": "x\n"}, "x")
    git.run("push", "origin", "main", cwd=work)

    hangar.cli("user", "add", "alice")
    read = hangar.cli("token", "create", "admin", "--role", "read").stdout.strip()
    alice = hangar.cli("token", "create", "alice").stdout.strip()
    commit_files(git, work, {"f.txt": "y\n"}, "y")
    for token in (read, alice):
        r = git.run("push", url(hangar, token), "main", cwd=work, check=False)
        assert r.returncode != 0
        assert "403" in r.stderr
        r = requests.get(url(hangar) + "/info/refs?service=git-receive-pack",
                         auth=("git", token))
        assert r.status_code == 403
    # The read token still reads.
    r = requests.get(url(hangar) + "/info/refs?service=git-upload-pack", auth=("git", read))
    assert r.status_code == 200
    assert api_sha(hangar) == sha
    refs, _ = bare_state(git, hangar)
    assert refs == f"refs/heads/main {sha}\n"


def test_bad_requests(hangar, git):
    create_space(hangar)
    base = url(hangar)
    r = requests.get(base + "/info/refs")
    assert r.status_code == 403 and "Dumb HTTP" in r.json()["error"]
    r = requests.get(base + "/info/refs?service=git-upload-archive")
    assert r.status_code == 403
    r = requests.post(base + "/info/refs?service=git-upload-pack")
    assert r.status_code == 405
    r = requests.get(base + "/git-upload-pack")
    assert r.status_code == 405
    r = requests.post(base + "/git-upload-pack", data=b"0000",
                      headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = requests.post(base + "/git-upload-pack", data=b"0000",
                      headers={"Content-Type": "application/x-git-upload-pack-request",
                               "Content-Encoding": "br"})
    assert r.status_code == 415
    r = requests.post(base + "/git-upload-pack", data=b"not gzip at all",
                      headers={"Content-Type": "application/x-git-upload-pack-request",
                               "Content-Encoding": "gzip"})
    assert r.status_code == 400
    r = requests.get(url(hangar, space="admin/nope") + "/info/refs?service=git-upload-pack")
    assert r.status_code == 404
    r = requests.get(url(hangar, space="admin/" + "x" * 200) +
                     "/info/refs?service=git-upload-pack")
    assert r.status_code == 404
    r = requests.get(url(hangar, space="admin/..") + "/info/refs?service=git-upload-pack")
    assert r.status_code in (400, 404)
    # Other paths under /spaces/ are not git's.
    r = requests.get(base + "/resolve/main/README.md")
    assert r.status_code != 403


def test_gzip_request_body(hangar, git, tmp_path):
    """git gzips large fetch negotiations; an ls-refs in protocol v2 is enough to check."""
    import gzip
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    sha = commit_files(git, work, {"f.txt": "x\n"}, "x")
    git.run("push", "origin", "main", cwd=work)
    body = b"0014command=ls-refs\n00010000"
    headers = {"Content-Type": "application/x-git-upload-pack-request",
               "Git-Protocol": "version=2", "Content-Encoding": "gzip"}
    r = requests.post(url(hangar) + "/git-upload-pack", data=gzip.compress(body),
                      headers=headers)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-git-upload-pack-result"
    assert f"{sha} refs/heads/main".encode() in r.content
    r = requests.post(url(hangar) + "/git-upload-pack", data=gzip.compress(body)[:-8],
                      headers=headers)
    assert r.status_code == 400

    # A fetch with many haves makes git itself gzip its request.
    for i in range(60):
        commit_files(git, work, {"f.txt": f"{i}\n"}, f"local {i}")
    other = tmp_path / "other"
    clone(git, hangar, other)
    commit_files(git, other, {"g.txt": "remote\n"}, "remote side")
    git.run("push", url(hangar, hangar.admin_token), "main", cwd=other)
    git.run("-c", "protocol.version=0", "fetch", "-q", "origin", cwd=work)
    assert git.run("rev-parse", "origin/main", cwd=work).stdout.strip() == git.head(cwd=other)


# ---- failures and load -------------------------------------------------------------------


def receive_pack_request(git, work, old, new, ref="refs/heads/main"):
    """The body git push would send: one command and the pack of new."""
    line = f"{old} {new} {ref}\0 report-status side-band-64k agent=test\n".encode()
    pkt = f"{len(line) + 4:04x}".encode() + line + b"0000"
    spec = f"{new}\n^{old}\n" if old != ZERO else f"{new}\n"
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs", "-q"], cwd=work,
                          input=spec.encode(), capture_output=True, env=git.env, check=True)
    return pkt + pack.stdout


def test_disconnect_mid_push_leaves_repository_unchanged(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    base = commit_files(git, work, {"f.txt": "base\n"}, "base")
    git.run("push", "origin", "main", cwd=work)
    before = bare_state(git, hangar)

    new = commit_files(git, work, {"big.bin": os.urandom(8 << 20)}, "big")
    body = receive_pack_request(git, work, base, new)
    head = (f"POST /spaces/admin/demo/git-receive-pack HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nUser-Agent: git/2.39\r\n"
            f"Content-Type: application/x-git-receive-pack-request\r\n"
            f"Authorization: Bearer {hangar.admin_token}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        s.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # let receive-pack start indexing what came
    deadline = time.time() + 10
    while "stopping it" not in hangar.log() and time.time() < deadline:
        time.sleep(0.05)
    assert "connection ended during git receive-pack" in hangar.log()
    # git removes its quarantine once stopped; wait for that, then compare.
    while bare_state(git, hangar) != before and time.time() < deadline:
        time.sleep(0.05)
    assert bare_state(git, hangar) == before
    fsck(git, hangar)
    assert api_sha(hangar) == base

    # A truncated chunked body (the client dies mid-chunk) is the same.
    head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        s.sendall(head + f"{len(body):x}\r\n".encode() + body[: len(body) // 3])
        time.sleep(0.3)
    deadline = time.time() + 10
    while (hangar.log().count("connection ended during git receive-pack") < 2 or
           bare_state(git, hangar) != before) and time.time() < deadline:
        time.sleep(0.05)
    assert bare_state(git, hangar) == before
    fsck(git, hangar)

    # A malformed chunk mid-push: the server answers 400 itself and git stops.
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        part = body[: len(body) // 4]
        s.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\nzz\r\n")
        s.settimeout(10)
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    deadline = time.time() + 10
    while (hangar.log().count("connection ended during git receive-pack") < 3 or
           bare_state(git, hangar) != before) and time.time() < deadline:
        time.sleep(0.05)
    assert bare_state(git, hangar) == before
    fsck(git, hangar)

    # The space still takes a push.
    git.run("push", "origin", "main", cwd=work)
    assert api_sha(hangar) == new
    fsck(git, hangar)


def test_killed_git_push_leaves_repository_unchanged(hangar, git, tmp_path):
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    base = commit_files(git, work, {"f.txt": "base\n"}, "base")
    git.run("push", "origin", "main", cwd=work)
    before = bare_state(git, hangar)
    commit_files(git, work, {"big.bin": os.urandom(96 << 20)}, "big")
    # Its own session, so that the helpers (remote-http, send-pack) die with it.
    push = subprocess.Popen(["git", "-c", "credential.helper=", "push", "origin", "main"],
                            cwd=work, env=git.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    # receive-pack makes its quarantine when the pack starts to arrive.
    while not list((bare_repo(hangar) / "objects").glob("*incoming-*")):
        assert push.poll() is None or push.returncode == 0, "git push failed on its own"
        if push.poll() is not None or time.time() > deadline:
            break
        time.sleep(0.005)
    try:
        os.killpg(push.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it already finished: the skip below says so
    push.wait()
    if api_sha(hangar) != base:
        pytest.skip("the push completed before it could be killed")
    deadline = time.time() + 15
    while bare_state(git, hangar) != before and time.time() < deadline:
        time.sleep(0.05)
    assert bare_state(git, hangar) == before
    assert "connection ended during git receive-pack" in hangar.log()
    fsck(git, hangar)
    assert api_sha(hangar) == base


def test_large_push_and_clone_memory_stays_bounded(hangar_factory, git, tmp_path):
    # ASan keeps up to 256 MB of freed memory in quarantine, which would read as
    # growth here: keep it tiny so RSS shows what the daemon really holds.
    hangar = hangar_factory(env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:"
                                                 "quarantine_size_mb=1"})
    create_space(hangar)
    work = tmp_path / "work"
    clone(git, hangar, work, hangar.admin_token)
    main = commit_files(git, work, {"README.md": "small\n"}, "small")
    git.run("push", "origin", "main", cwd=work)
    # A branch other than main, so that no build of the big file (outside this
    # module) runs in the daemon while its memory is measured.
    git.run("checkout", "-q", "-b", "big", cwd=work)
    data = os.urandom(50 << 20)
    sha = commit_files(git, work, {"big.bin": data}, "big")
    pid = hangar.proc.pid
    rss_before = vm_kib(pid, "VmRSS")
    git.run("push", "origin", "big", cwd=work, timeout=300)
    back = tmp_path / "back"
    git.run("clone", "-q", "-b", "big", url(hangar), str(back), timeout=300)
    assert git.head(cwd=back) == sha
    assert (back / "big.bin").read_bytes() == data
    peak = vm_kib(pid, "VmHWM")
    growth = vm_kib(pid, "VmRSS") - rss_before
    print(f"daemon RSS before {rss_before} KiB, peak {peak} KiB, growth {growth} KiB")
    # Streaming: neither the 50 MB pack pushed nor the one cloned is ever held
    # (measured under ASan: peak about 28 MB, growth about 5 MB).
    assert peak < 100 * 1024, f"peak RSS {peak} KiB"
    assert growth < 25 * 1024, f"RSS grew by {growth} KiB"
    assert api_sha(hangar) == main
    fsck(git, hangar)


def test_shutdown_waits_for_a_push(hangar_factory, git, tmp_path):
    h = hangar_factory()
    create_space(h)
    work = tmp_path / "work"
    clone(git, h, work, h.admin_token)
    sha = commit_files(git, work, {"big.bin": os.urandom(20 << 20)}, "big")
    push = subprocess.Popen(["git", "-c", "credential.helper=", "push", "origin", "main"],
                            cwd=work, env=git.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while "git-receive-pack" not in h.log() and time.time() < deadline:
        time.sleep(0.01)  # the info/refs of the push is logged first
    rc = h.stop()
    out, err = push.communicate(timeout=60)
    assert rc == 0
    refs, leftovers = bare_state(git, h)
    assert leftovers == []
    if push.returncode == 0:
        assert refs == f"refs/heads/main {sha}\n"
    else:
        assert refs == ""
