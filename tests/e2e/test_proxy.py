"""Issue 5: spaces at their own address (<subdomain>.<domain>), static spaces,
private access, /metrics, request smuggling at the front door.

glibc does not resolve *.localhost, so requests go to 127.0.0.1 with the
space's Host header, as a browser resolving *.localhost would send it."""
import hashlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import Hangar
from spaces_util import app_get, client, commit_raw, deploy, runtime, sse_events, wait_stage

README = """---
title: Demo
sdk: static
custom_headers:
  cross-origin-opener-policy: same-origin
disable_embedding: true
---
# Demo
"""


@pytest.fixture
def gitenv(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C"})
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("init.defaultBranch", "main")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    return env


def create_space(hangar, name="demo", private=False, sdk="static"):
    r = requests.post(hangar.url + "/api/repos/create", headers=hangar.headers(),
                      json={"name": name, "type": "space", "sdk": sdk, "private": private})
    assert r.status_code == 200, r.text


def push(hangar, gitenv, tmp_path, files, name="demo"):
    work = tmp_path / f"work-{name}"
    work.mkdir(exist_ok=True)
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())

    def git(*args):
        subprocess.run(["git", "-c", "credential.helper=", *args], cwd=work, env=gitenv,
                       check=True, capture_output=True)

    if not (work / ".git").exists():
        git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "update")
    url = f"http://user:{hangar.admin_token}@127.0.0.1:{hangar.port}/spaces/admin/{name}"
    git("push", "-q", url, "main")


def app(hangar, path="/", sub="admin-demo", method="GET", headers=None, **kw):
    h = {"Host": f"{sub}.localhost:{hangar.port}"}
    h.update(headers or {})
    return requests.request(method, hangar.url + path, headers=h, allow_redirects=False, **kw)


def raw(hangar, data, host="admin-demo.localhost"):
    """Sends bytes as they are and returns the first response line."""
    with socket.create_connection(("127.0.0.1", hangar.port), timeout=5) as s:
        s.sendall(data.replace(b"HOST", host.encode()))
        reply = b""
        while b"\r\n" not in reply:
            piece = s.recv(4096)
            if not piece:
                break
            reply += piece
    return reply.split(b"\r\n")[0].decode()


@pytest.fixture
def site(hangar, gitenv, tmp_path):
    create_space(hangar)
    push(hangar, gitenv, tmp_path, {
        "README.md": README,
        "index.html": "<h1>hello</h1>\n",
        "style.css": "body { color: red }\n",
        "docs/index.html": "<p>docs</p>\n",
        "data/blob.bin": bytes(range(256)) * 4,
    })
    return hangar


def test_empty_static_space_says_no_app_file(hangar):
    create_space(hangar)
    r = app(hangar)
    assert r.status_code == 404
    assert "No app file" in r.text
    assert r.headers["Content-Type"].startswith("text/html")


def test_static_space_served_from_main(site):
    r = app(site)
    assert r.status_code == 200
    assert r.text == "<h1>hello</h1>\n"
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["ETag"].startswith('"') and len(r.headers["ETag"]) == 42
    assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    css = app(site, "/style.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert app(site, "/index.html").text == r.text
    # Host names are case-insensitive; the port is optional.
    assert app(site, sub="Admin-Demo").status_code == 200
    h = requests.get(site.url + "/", headers={"Host": "admin-demo.localhost"})
    assert h.status_code == 200
    # Directories: redirected to their slash form, then their index.html.
    d = app(site, "/docs?x=1")
    assert d.status_code == 301 and d.headers["Location"] == "/docs/?x=1"
    assert app(site, "/docs/").text == "<p>docs</p>\n"
    missing = app(site, "/nope.js")
    assert missing.status_code == 404 and "Not Found" in missing.text
    post = app(site, "/", method="POST", data=b"x")
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"


def test_new_commit_is_served(site, gitenv, tmp_path):
    first = app(site).headers["ETag"]
    push(site, gitenv, tmp_path, {"index.html": "<h1>v2</h1>\n"})
    deadline = time.time() + 3
    while app(site).text != "<h1>v2</h1>\n" and time.time() < deadline:
        time.sleep(0.1)
    r = app(site)
    assert r.text == "<h1>v2</h1>\n"
    assert r.headers["ETag"] != first


def test_etag_range_and_head(site):
    r = app(site, "/data/blob.bin")
    assert r.status_code == 200 and len(r.content) == 1024
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Accept-Ranges"] == "bytes"
    etag = r.headers["ETag"]
    nm = app(site, "/data/blob.bin", headers={"If-None-Match": etag})
    assert nm.status_code == 304 and nm.content == b"" and nm.headers["ETag"] == etag
    assert app(site, "/data/blob.bin", headers={"If-None-Match": f'"x", W/{etag}'}).status_code \
        == 304
    assert app(site, "/data/blob.bin", headers={"If-None-Match": '"other"'}).status_code == 200
    part = app(site, "/data/blob.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == bytes(range(10, 20))
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    tail = app(site, "/data/blob.bin", headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == bytes(range(252, 256))
    open_end = app(site, "/data/blob.bin", headers={"Range": "bytes=1020-"})
    assert open_end.content == bytes(range(252, 256))
    bad = app(site, "/data/blob.bin", headers={"Range": "bytes=5000-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == "bytes */1024"
    # If-Range with another validator: the whole file.
    stale = app(site, "/data/blob.bin", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == 1024
    head = app(site, "/data/blob.bin", method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == "1024"


@pytest.mark.parametrize("path", ["/../README.md", "/docs/../../x", "/%2e%2e/README.md",
                                  "/docs/%2E%2E/%2e%2e/x", "/a%5cb", "/x%00.html", "/%zz"])
def test_path_escapes_are_refused(site, path):
    line = raw(site, f"GET {path} HTTP/1.1\r\nHost: HOST\r\n\r\n".encode())
    assert line.startswith("HTTP/1.1 400"), line


def test_dot_segments_inside_the_tree(site):
    r = app(site, "/docs/./index.html")
    assert r.status_code == 200 and r.text == "<p>docs</p>\n"


def test_unknown_subdomain_and_main_host(hangar):
    r = app(hangar, sub="nobody-here")
    assert r.status_code == 404 and "There is no space" in r.text
    assert app(hangar, sub="bad_label").status_code == 404
    assert app(hangar, sub="a.b").status_code == 404
    # The main host (and any host not under the domain) is the API, git and UI.
    assert requests.get(hangar.url + "/api/health").status_code == 200
    assert requests.get(hangar.url + "/api/health",
                        headers={"Host": f"localhost:{hangar.port}"}).status_code == 200
    assert requests.get(hangar.url + "/api/health",
                        headers={"Host": "example.com"}).status_code == 200


@pytest.fixture
def private_site(hangar, gitenv, tmp_path):
    create_space(hangar, "secret", private=True)
    push(hangar, gitenv, tmp_path, {"index.html": "TOPSECRET\n"}, name="secret")
    return hangar


def test_private_static_access_matrix(private_site):
    h = private_site
    bob = h.cli("user", "add", "bob").stdout.strip()
    admin_read = h.cli("token", "create", "admin", "--role", "read").stdout.strip()
    sub = "admin-secret"
    anon = app(h, sub=sub)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic")
    assert "TOPSECRET" not in anon.text
    assert app(h, sub=sub, headers={"Authorization": "Bearer hf_invalid"}).status_code == 401
    other = app(h, sub=sub, headers={"Authorization": f"Bearer {bob}"})
    assert other.status_code == 404 and "TOPSECRET" not in other.text
    owner = app(h, sub=sub, headers={"Authorization": f"Bearer {h.admin_token}"})
    assert owner.status_code == 200 and owner.text == "TOPSECRET\n"
    assert app(h, sub=sub, headers={"Authorization": f"Bearer {admin_read}"}).status_code == 200
    assert app(h, sub=sub, auth=("anyone", h.admin_token)).status_code == 200
    # gradio_client puts the token in X-HF-Authorization, keeping Authorization for the app.
    hf = app(h, sub=sub, headers={"X-HF-Authorization": f"Bearer {h.admin_token}",
                                  "Authorization": "Basic YXBwOnVzZXI="})
    assert hf.status_code == 200
    assert app(h, sub=sub, headers={"X-HF-Authorization": f"Bearer {bob}"}).status_code == 404


def test_smuggling_refused_at_the_front_door(site):
    shapes = [
        b"POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nHost: HOST\r\nX-A: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ]
    for shape in shapes:
        line = raw(site, shape)
        assert line.startswith("HTTP/1.1 400"), (shape, line)


def test_metrics(site):
    assert app(site).status_code == 200
    assert requests.get(site.url + "/metrics").status_code == 401
    bob = site.cli("user", "add", "bob").stdout.strip()
    assert requests.get(site.url + "/metrics", headers=site.headers(bob)).status_code == 403
    r = requests.get(site.url + "/metrics", headers=site.headers())
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'hangar_space_requests_total{space="admin/demo",code="2xx"}' in text
    assert 'hangar_space_request_duration_seconds_bucket{space="admin/demo",le="+Inf"}' in text
    assert "# TYPE hangar_space_cold_start_seconds histogram" in text
    assert "# TYPE hangar_build_duration_seconds histogram" in text
    assert 'hangar_space_websockets_open{space="admin/demo"} 0' in text


# ---- running spaces: the reverse proxy end to end -------------------------------------------
# The app is tests/unit/proxy/backend.py (stdlib asyncio), deployed as a gradio space's app.py.

BACKEND = Path(__file__).resolve().parents[1] / "unit" / "proxy" / "backend.py"
APP_README = """---
sdk: gradio
app_file: app.py
custom_headers:
  cross-origin-embedder-policy: require-corp
disable_embedding: true
---
"""
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime needs root")


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One daemon for the module (builds are slow) with a running proxy test app.
    ASan's quarantine is kept small so RSS shows what the daemon itself holds."""
    tmp = tmp_path_factory.mktemp("proxy")
    h = Hangar(tmp / "data", ["--proxy-loops", "2"],
               env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=8",
                    "HANGAR_UPSTREAM_TIMEOUT": "2"})
    h.start()
    try:
        repo = deploy(h, "app", None, files={"README.md": APP_README, "app.py": BACKEND.read_text()})
        wait_stage(h, repo, "RUNNING", timeout=600)
        yield h
    finally:
        rc = h.stop()
        reports = h.sanitizer_reports()
        assert not reports, f"sanitizer reported {reports}:\n{h.log()[-4000:]}"
        assert rc in (0, None, -9), h.log()[-4000:]


def read_until(sock, needle, acc=b""):
    while needle not in acc:
        piece = sock.recv(65536)
        if not piece:
            raise AssertionError(f"closed before {needle!r}; got {acc[-300:]!r}")
        acc += piece
    return acc


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssWatch:
    def __init__(self, pid):
        self.pid, self.base, self.peak, self.stop = pid, rss_kb(pid), 0, False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)

    def grew_mb(self):
        self.stop = True
        self.thread.join()
        return (self.peak - self.base) / 1024


@needs_root
def test_proxied_request_and_response_headers(running):
    h = running
    r = app_get(h, "admin-app", "/headers?x=1",
                headers={"X-HF-Authorization": "Bearer hf_for_the_proxy",
                         "Authorization": "Bearer for-the-app", "Connection": "keep-alive, X-Drop",
                         "X-Drop": "1", "X-Forwarded-For": "10.1.2.3"})
    assert r.status_code == 200
    seen = dict((k.lower(), v) for k, v in r.json()["headers"])
    assert r.json()["request"] == "GET /headers?x=1"
    assert seen["host"] == f"admin-app.localhost:{h.port}"
    assert seen["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"admin-app.localhost:{h.port}"
    assert seen["authorization"] == "Bearer for-the-app"
    assert "x-hf-authorization" not in seen and "x-drop" not in seen
    assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    echo = requests.post(h.url + "/echo", data=b"x" * 100000,
                         headers={"Host": f"admin-app.localhost:{h.port}"})
    assert echo.status_code == 200 and echo.content == b"x" * 100000
    chunked = app_get(h, "admin-app", "/chunked")
    assert chunked.text == "one,two,three"


@needs_root
def test_sse_events_arrive_one_by_one_through_a_space(running):
    h = running
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(f"GET /sse HTTP/1.1\r\nHost: admin-app.localhost:{h.port}\r\n\r\n".encode())
        got = read_until(s, b"data: 1")
        assert b"data: 2" not in got
        assert b"text/event-stream" in got
        assert app_get(h, "admin-app", "/release").status_code == 200
        got = read_until(s, b"data: 2", got)
        read_until(s, b"\r\n0\r\n\r\n", got)


def ws_frame(opcode, payload):
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


@needs_root
def test_websocket_echo_through_a_space(running):
    h = running
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: admin-app.localhost:{h.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = read_until(s, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        rest = head.split(b"\r\n\r\n", 1)[1]
        for i in range(20):
            msg = f"message {i}".encode()
            s.sendall(ws_frame(1, msg))
            rest = read_until(s, msg, rest)
            rest = rest.split(msg, 1)[1]
        s.sendall(ws_frame(8, b""))
        read_until(s, b"\x88\x00", rest)
    metrics = requests.get(h.url + "/metrics", headers=h.headers()).text
    assert 'hangar_space_websockets_open{space="admin/app"} 0' in metrics


@needs_root
def test_100mb_each_way_with_rss_bounded(running):
    h = running
    size = 100 * 1024 * 1024
    block = bytes(range(256)) * 256

    def body():
        for _ in range(size // len(block)):
            yield block

    watch = RssWatch(h.proc.pid)
    up = requests.post(h.url + "/upload", data=body(),
                       headers={"Host": f"admin-app.localhost:{h.port}"}, timeout=300)
    assert up.status_code == 200
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)
    assert up.text == f"{size} {digest.hexdigest()}"
    got = 0
    with app_get(h, "admin-app", f"/download?n={size}", stream=True, timeout=300) as down:
        assert down.status_code == 200
        for piece in down.iter_content(1 << 20):
            got += len(piece)
    assert got == size
    grew = watch.grew_mb()
    print(f"daemon RSS grew {grew:.1f} MB while 200 MB went through")
    assert grew < 48


@needs_root
def test_errors_of_the_app_become_pages(running):
    h = running
    # The app promises 100 bytes and closes after 10: the client sees a cut, not success.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        app_get(h, "admin-app", "/cut").content
    # No response head within HANGAR_UPSTREAM_TIMEOUT (2 s here): 504 and a page.
    t0 = time.time()
    slow = app_get(h, "admin-app", "/hang", timeout=30)
    assert slow.status_code == 504 and "Gateway Timeout" in slow.text
    assert 1.5 < time.time() - t0 < 10
    # The space still serves afterwards.
    assert app_get(h, "admin-app", "/hello").text == "hello world\n"
    metrics = requests.get(h.url + "/metrics", headers=h.headers()).text
    assert 'hangar_space_upstream_errors_total{space="admin/app",kind="timeout"} 1' in metrics
    assert 'hangar_space_upstream_errors_total{space="admin/app",kind="reset"} 1' in metrics


@needs_root
def test_sleeping_space_wakes_for_api_clients_and_browsers(running):
    h = running
    api = client(h)
    repo = deploy(h, "nap", None, files={"README.md": APP_README, "app.py": BACKEND.read_text()})
    api.add_space_variable(repo, "STARTUP_DELAY", "2")
    wait_stage(h, repo, "RUNNING", timeout=600)
    api.set_space_sleep_time(repo, 2)
    wait_stage(h, repo, "SLEEPING", timeout=60)
    # An API client is held until the app is up, then served: no error.
    t0 = time.time()
    r = app_get(h, "admin-nap", "/hello", timeout=120)
    assert r.status_code == 200 and r.text == "hello world\n", r.text
    assert time.time() - t0 >= 1.5
    wait_stage(h, repo, "SLEEPING", timeout=60)
    # Asleep; a longer sleep time lets the woken app stay up between reloads.
    api.set_space_sleep_time(repo, 3600)
    # A browser waiting for more than a second gets a page that reloads itself.
    page = app_get(h, "admin-nap", "/", headers={"Accept": "text/html,*/*"}, timeout=30)
    assert page.status_code == 200
    assert "Waking up" in page.text and 'http-equiv="refresh"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    deadline = time.time() + 60
    while time.time() < deadline:
        again = app_get(h, "admin-nap", "/hello", headers={"Accept": "text/html"}, timeout=30)
        if again.text == "hello world\n":
            break
        time.sleep(2)
    assert again.status_code == 200 and again.text == "hello world\n"
    metrics = requests.get(h.url + "/metrics", headers=h.headers()).text
    assert 'hangar_space_wakes_total{space="admin/nap"} 2' in metrics
    # A paused space is never woken: 503 with the reason.
    api.pause_space(repo)
    paused = app_get(h, "admin-nap", "/hello")
    assert paused.status_code == 503 and "paused" in paused.text
    assert paused.headers["Retry-After"] == "5"


SLOW_SETUP = """
import time, sys
time.sleep(90)  # a build that holds the only build slot
sys.exit(1)
"""


def asleep(h, name):
    """A running test app named name, left to go to sleep (sleep time 1 s)."""
    repo = deploy(h, name, None, files={"README.md": APP_README, "app.py": BACKEND.read_text()})
    wait_stage(h, repo, "RUNNING", timeout=600)
    client(h).set_space_sleep_time(repo, 1)
    wait_stage(h, repo, "SLEEPING", timeout=60)
    return repo


@needs_root
def test_wake_does_not_wait_behind_a_build(running):
    """With one build at a time (the default), a sleeping space still wakes
    at once while another space's build holds the slot."""
    h = running
    api = client(h)
    repo = asleep(h, "doze")
    busy = deploy(h, "busy", None)
    commit_raw(h, busy, {"README.md": APP_README, "app.py": "", "requirements.txt": "./slow\n",
                         "slow/setup.py": SLOW_SETUP})
    # Its slow step is running: the slot is taken.
    lines = sse_events(f"{h.url}/api/spaces/{busy}/logs/build", h.headers(), timeout=120,
                       until=lambda l: "--> installing" in l)
    assert any("--> installing" in l for l in lines), lines
    time.sleep(1)
    assert runtime(h, busy)["stage"] == "BUILDING"
    t0 = time.time()
    r = app_get(h, "admin-doze", "/hello", timeout=60)
    woke = time.time() - t0
    assert r.status_code == 200 and r.text == "hello world\n", r.text
    assert runtime(h, busy)["stage"] == "BUILDING"  # still holding the slot
    assert woke < 20, f"the wake waited {woke:.1f} s"
    api.delete_repo(busy, repo_type="space")
    api.set_space_sleep_time(repo, -1)


@needs_root
def test_commit_while_asleep_is_served_after_the_wake(running):
    """A wake starts the app from the build it kept when the space went to
    sleep, unless main moved meanwhile: then the new commit is what answers."""
    h = running
    api = client(h)
    repo = asleep(h, "later")
    assert app_get(h, "admin-later", "/hello", timeout=60).text == "hello world\n"
    wait_stage(h, repo, "SLEEPING", timeout=60)
    newer = BACKEND.read_text().replace('b"hello world\\n"', 'b"hello again\\n"')
    assert newer != BACKEND.read_text()
    commit_raw(h, repo, {"app.py": newer})
    deadline = time.time() + 300
    while time.time() < deadline:
        r = app_get(h, "admin-later", "/hello", timeout=120)
        if r.status_code == 200 and r.text == "hello again\n":
            break
        assert r.text in ("hello world\n", "hello again\n") or r.status_code == 503, r.text
        time.sleep(1)
    assert r.text == "hello again\n", r.text
    api.set_space_sleep_time(repo, -1)


@needs_root
def test_private_running_space(running):
    h = running
    deploy(h, "hidden", None, private=True,
           files={"README.md": APP_README, "app.py": BACKEND.read_text()})
    wait_stage(h, "admin/hidden", "RUNNING", timeout=600)
    assert app_get(h, "admin-hidden", "/hello").status_code == 401
    r = app_get(h, "admin-hidden", "/headers",
                headers={"X-HF-Authorization": f"Bearer {h.admin_token}",
                         "Authorization": "Basic YXBwOnNlY3JldA=="})
    assert r.status_code == 200
    seen = dict((k.lower(), v) for k, v in r.json()["headers"])
    assert "x-hf-authorization" not in seen
    assert seen["authorization"] == "Basic YXBwOnNlY3JldA=="


def loop_requests(h):
    """hangar_proxy_loop_requests_total as {(loop, served): count}."""
    text = requests.get(h.url + "/metrics", headers=h.headers()).text
    counts = {}
    for line in text.splitlines():
        if line.startswith("hangar_proxy_loop_requests_total{"):
            labels, value = line[len("hangar_proxy_loop_requests_total{"):].split("} ")
            pairs = dict(p.split("=") for p in labels.split(","))
            counts[(pairs["loop"].strip('"'), pairs["served"].strip('"'))] = int(value)
    return counts


def access_lines(h, request_id):
    return [line for line in h.log().splitlines()
            if '"type":"access"' in line and f'"request_id":"{request_id}"' in line]


@needs_root
def test_every_loop_serves_running_spaces(running):
    """--proxy-loops 2: both loops take connections and serve a running public
    space themselves; what they hand to the main loop is still logged once,
    with the client's address."""
    h = running
    assert app_get(h, "admin-app", "/hello").status_code == 200  # the main loop publishes its route
    before = loop_requests(h)
    assert {loop for loop, _ in before} == {"0", "1"}

    def session_run(results):
        with requests.Session() as s:
            for _ in range(25):
                r = s.get(h.url + "/hello", headers={"Host": f"admin-app.localhost:{h.port}"})
                results.append(r.status_code)

    results = []
    threads = [threading.Thread(target=session_run, args=(results,)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 400
    after = loop_requests(h)
    by_loop = {loop: after[(loop, "loop")] - before.get((loop, "loop"), 0) for loop in ("0", "1")}
    handed_on = sum(after[(loop, "main")] - before.get((loop, "main"), 0) for loop in ("0", "1"))
    print(f"served by each loop: {by_loop}; handed to the main loop: {handed_on}")
    assert sum(by_loop.values()) >= 360, (by_loop, handed_on)
    assert min(by_loop.values()) > 0, by_loop  # 16 connections, each accepted by either loop

    # Served by a loop: the app sees the client's address once; the hop header never.
    r = app_get(h, "admin-app", "/headers")
    seen = dict((k.lower(), v) for k, v in r.json()["headers"])
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert "x-hangar-hop" not in seen
    assert len(access_lines(h, r.headers["X-Request-Id"])) == 1
    # Handed on: logged once, by the main loop, with the client's address.
    r = requests.get(h.url + "/api/health")
    assert r.status_code == 200
    assert "," not in r.headers["X-Request-Id"]  # one header: the loop's and main's are one id
    for _ in range(50):
        lines = access_lines(h, r.headers["X-Request-Id"])
        if lines:
            break
        time.sleep(0.02)
    assert len(lines) == 1 and '"remote":"127.0.0.1"' in lines[0], lines


@needs_root
def test_a_space_made_private_is_private_at_once(running):
    """The loops serve a public space from a route; making it private must
    not leave a window where they still serve it to anyone."""
    h = running
    api = client(h)
    with requests.Session() as s:
        host = {"Host": f"admin-app.localhost:{h.port}"}
        for _ in range(5):
            assert s.get(h.url + "/hello", headers=host).status_code == 200
        api.update_repo_settings("admin/app", private=True, repo_type="space")
        try:
            assert s.get(h.url + "/hello", headers=host).status_code == 401
            assert app_get(h, "admin-app", "/hello").status_code == 401
        finally:
            api.update_repo_settings("admin/app", private=False, repo_type="space")
        assert s.get(h.url + "/hello", headers=host).status_code == 200


def test_the_main_loops_listener_takes_only_signed_requests(hangar):
    """Worker loops hand requests to the main loop on a loopback port; a
    request there without the per-start secret is refused."""
    import re
    m = re.search(r"handed-on requests on port (\d+)", hangar.log())
    assert m, hangar.log()[-2000:]
    port = int(m.group(1))
    assert requests.get(f"http://127.0.0.1:{port}/api/health").status_code == 403
    forged = {"X-Hangar-Hop": "0" * 32 + " 10.9.9.9 forged"}
    assert requests.get(f"http://127.0.0.1:{port}/api/health", headers=forged).status_code == 403
    assert requests.get(hangar.url + "/api/health", headers=forged).status_code == 200
    assert "10.9.9.9" not in hangar.log()
