"""Issue 2: the daemon, its limits and timeouts, accounts and tokens."""
import json
import re
import signal
import socket
import subprocess
import time

import requests

from conftest import HANGAR_BIN


def raw_request(port, data, read_timeout=5.0):
    """Sends raw bytes and returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)
        s.settimeout(read_timeout)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_health(hangar):
    r = requests.get(hangar.url + "/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"]


def test_whoami_with_admin_token(hangar):
    r = requests.get(hangar.url + "/api/whoami-v2", headers=hangar.headers())
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "admin"
    assert body["type"] == "user"
    assert body["orgs"] == []
    assert body["auth"]["type"] == "access_token"
    assert body["auth"]["accessToken"]["role"] == "write"
    assert body["auth"]["accessToken"]["displayName"]


def test_whoami_basic_auth_any_username(hangar):
    r = requests.get(hangar.url + "/api/whoami-v2", auth=("whoever", hangar.admin_token))
    assert r.status_code == 200
    assert r.json()["name"] == "admin"


def test_whoami_bad_and_missing_token(hangar):
    for headers in ({"Authorization": "Bearer hf_notavalidtoken"}, {},
                    {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Digest x"}):
        r = requests.get(hangar.url + "/api/whoami-v2", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
        assert r.headers["Content-Type"] == "application/json"
        assert "error" in r.json()


def test_whoami_with_huggingface_hub(hangar):
    from huggingface_hub import HfApi
    info = HfApi(endpoint=hangar.url, token=hangar.admin_token).whoami()
    assert info["name"] == "admin"
    assert info["auth"]["accessToken"]["role"] == "write"


def test_unknown_api_path_is_json_404(hangar):
    r = requests.get(hangar.url + "/api/no/such/thing")
    assert r.status_code == 404
    assert "error" in r.json()
    r = requests.delete(hangar.url + "/api/health")
    assert r.status_code == 405
    assert "error" in r.json()


def test_user_and_token_commands(hangar):
    r = hangar.cli("user", "add", "alice")
    alice_token = r.stdout.strip()
    assert alice_token.startswith("hf_") and len(alice_token) == 37
    who = requests.get(hangar.url + "/api/whoami-v2", headers=hangar.headers(alice_token)).json()
    assert who["name"] == "alice"

    read_token = hangar.cli("token", "create", "alice", "--role", "read",
                            "--name", "ci").stdout.strip()
    who = requests.get(hangar.url + "/api/whoami-v2", headers=hangar.headers(read_token)).json()
    assert who["auth"]["accessToken"] == {**who["auth"]["accessToken"], "role": "read",
                                          "displayName": "ci"}

    dup = hangar.cli("user", "add", "alice", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    bad = hangar.cli("user", "add", "bad/name", check=False)
    assert bad.returncode == 2 and "invalid user name" in bad.stderr
    missing = hangar.cli("token", "create", "nobody", check=False)
    assert missing.returncode == 1 and "no user" in missing.stderr
    role = hangar.cli("token", "create", "alice", "--role", "admin", check=False)
    assert role.returncode == 2


def test_tokens_are_stored_hashed(hangar):
    token = hangar.cli("user", "add", "bob").stdout.strip()
    db = (hangar.data_dir / "hangar.db").read_bytes()
    wal = hangar.data_dir / "hangar.db-wal"
    blob = db + (wal.read_bytes() if wal.exists() else b"")
    assert token.encode() not in blob
    assert hangar.admin_token.encode() not in blob


def test_oversized_header_gets_431(hangar):
    big = "x" * 100_000
    r = requests.get(hangar.url + "/api/health", headers={"X-Big": big})
    assert r.status_code == 431
    many = {f"X-H{i}": "v" for i in range(200)}
    r = requests.get(hangar.url + "/api/health", headers=many)
    assert r.status_code == 431
    # The daemon still serves afterwards.
    assert requests.get(hangar.url + "/api/health").status_code == 200


def test_body_over_limit_gets_413(hangar_factory):
    h = hangar_factory(extra_args=["--max-body", "2048"])
    r = requests.post(h.url + "/api/whoami-v2", data=b"x" * 10_000)
    assert r.status_code == 413
    assert "error" in r.json()


def test_malformed_request_gets_400(hangar):
    out = raw_request(hangar.port, b"GARBAGE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")
    smuggle = (b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert raw_request(hangar.port, smuggle).startswith(b"HTTP/1.1 400")


def test_keepalive_and_pipelining_in_order(hangar):
    reqs = (b"GET /api/health HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /api/nope HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /api/whoami-v2 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /api/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    out = raw_request(hangar.port, reqs)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"200", b"404", b"401", b"200"]

    with requests.Session() as s:
        for _ in range(20):
            assert s.get(hangar.url + "/api/health").status_code == 200


def test_stalled_header_is_cut_off(hangar_factory):
    h = hangar_factory(extra_args=["--header-timeout", "1"])
    start = time.time()
    out = raw_request(h.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Partial: ", read_timeout=10)
    elapsed = time.time() - start
    assert out.startswith(b"HTTP/1.1 408"), out
    assert elapsed < 5


def test_idle_connection_is_closed(hangar_factory):
    h = hangar_factory(extra_args=["--idle-timeout", "1"])
    start = time.time()
    out = raw_request(h.port, b"", read_timeout=10)
    assert out == b""
    assert time.time() - start < 5


def test_sigterm_finishes_inflight_request(hangar):
    """A request whose body is still arriving when SIGTERM comes is answered,
    then the daemon exits 0."""
    s = socket.create_connection(("127.0.0.1", hangar.port))
    body = json.dumps({"content": "x"}).encode()
    s.sendall(b"POST /api/whoami-v2 HTTP/1.1\r\nHost: x\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body[:3])
    time.sleep(0.3)
    hangar.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert hangar.proc.poll() is None, "daemon exited with a request in flight"
    # New connections are refused while draining.
    try:
        socket.create_connection(("127.0.0.1", hangar.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused
    s.sendall(body[3:])
    s.settimeout(5)
    reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 405"), reply
    assert b"Connection: close" in reply
    s.close()
    assert hangar.proc.wait(10) == 0


def test_sigterm_idle_exits_zero(hangar):
    assert hangar.stop() == 0
    assert "stopped" in hangar.log()


def test_restart_keeps_users_and_tokens(hangar_factory, tmp_path):
    data = tmp_path / "persist"
    h = hangar_factory(data_dir=data)
    token = h.cli("user", "add", "carol").stdout.strip()
    assert h.stop() == 0
    h.start()
    r = requests.get(h.url + "/api/whoami-v2", headers=h.headers(token))
    assert r.status_code == 200 and r.json()["name"] == "carol"
    assert requests.get(h.url + "/api/whoami-v2", headers=h.headers()).json()["name"] == "admin"
    check = subprocess.run(["sqlite3", str(data / "hangar.db"), "PRAGMA integrity_check"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "ok"


def test_kill9_leaves_consistent_database(hangar_factory, tmp_path):
    data = tmp_path / "crash"
    h = hangar_factory(data_dir=data)
    tokens = [h.cli("user", "add", f"user{i}").stdout.strip() for i in range(5)]
    h.proc.kill()
    h.proc.wait()
    check = subprocess.run(["sqlite3", str(data / "hangar.db"), "PRAGMA integrity_check"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "ok"
    h.start()
    for t in tokens:
        assert requests.get(h.url + "/api/whoami-v2", headers=h.headers(t)).status_code == 200


def test_access_log_is_json(hangar):
    requests.get(hangar.url + "/api/health?x=1")
    # The line is written when the response ends, which may be just after the
    # client has read it: give the daemon a moment.
    deadline = time.time() + 5
    while True:
        lines = [json.loads(l) for l in hangar.log().splitlines() if l.startswith("{")]
        found = [l for l in lines if l.get("url") == "/api/health?x=1"]
        if found or time.time() > deadline:
            break
        time.sleep(0.05)
    entry = found[-1]
    assert entry["status"] == 200 and entry["method"] == "GET"
    assert "ms" in entry and "remote" in entry


def test_cli_usage_errors():
    r = subprocess.run([HANGAR_BIN, "nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = subprocess.run([HANGAR_BIN, "serve", "--header-timeout", "abc"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "bad duration" in r.stderr
    r = subprocess.run([HANGAR_BIN, "help"], capture_output=True, text=True)
    assert r.returncode == 0 and "serve" in r.stdout
