"""Helpers for tests that build and run spaces."""
import json
import socket
import time
from pathlib import Path

import requests
from huggingface_hub import HfApi

APPS = Path(__file__).resolve().parent / "apps"
TERMINAL = {"RUNNING", "BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE", "RUNTIME_ERROR", "PAUSED",
            "STOPPED", "SLEEPING"}


def client(hangar, token=None):
    return HfApi(endpoint=hangar.url, token=token or hangar.admin_token)


def deploy(hangar, name, app, sdk="gradio", files=None, private=False, token=None):
    """Creates admin/<name> and uploads tests/e2e/apps/<app> (plus extra files)."""
    api = client(hangar, token)
    repo_id = f"{api.whoami()['name']}/{name}"
    api.create_repo(repo_id, repo_type="space", space_sdk=sdk, private=private, exist_ok=True)
    if app:
        api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(APPS / app))
    for path, content in (files or {}).items():
        api.upload_file(repo_id=repo_id, repo_type="space", path_in_repo=path,
                        path_or_fileobj=content.encode() if isinstance(content, str) else content)
    return repo_id


def commit_raw(hangar, repo_id, files, summary="raw commit", token=None):
    """Commits files through the NDJSON commit API directly, without the
    client's README validation (as git push would): for invalid configs."""
    import base64
    lines = [json.dumps({"key": "header", "value": {"summary": summary, "description": ""}})]
    for path, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        lines.append(json.dumps({"key": "file", "value": {
            "path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}}))
    r = requests.post(f"{hangar.url}/api/spaces/{repo_id}/commit/main",
                      data="\n".join(lines) + "\n",
                      headers={**hangar.headers(token), "Content-Type": "application/x-ndjson"})
    r.raise_for_status()
    return r.json()["commitOid"]


def runtime(hangar, repo_id, token=None):
    r = requests.get(f"{hangar.url}/api/spaces/{repo_id}/runtime",
                     headers=hangar.headers(token))
    r.raise_for_status()
    return r.json()


def wait_stage(hangar, repo_id, want, timeout=240, token=None):
    """Polls the runtime until its stage is in want (a str or a set); returns it.
    Fails early when the space settles in another terminal stage."""
    want = {want} if isinstance(want, str) else set(want)
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        rt = runtime(hangar, repo_id, token)
        if not seen or seen[-1] != rt["stage"]:
            seen.append(rt["stage"])
        if rt["stage"] in want:
            return rt
        time.sleep(0.2)
    raise AssertionError(f"{repo_id} never reached {want}; stages {seen}; last {rt}\n"
                         + hangar.log()[-3000:])


def sse_events(url, headers=None, timeout=10, until=None, max_events=10000):
    """Reads HF-style SSE events ({"data","timestamp"}) until the stream ends,
    timeout passes, or until(event_text) is true."""
    events = []
    deadline = time.time() + timeout
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        r.raise_for_status()
        assert r.headers["Content-Type"].startswith("text/event-stream")
        try:
            for raw in r.iter_lines(chunk_size=1):
                if time.time() > deadline:
                    break
                line = raw.decode()
                if not line.startswith("data: {"):
                    continue
                ev = json.loads(line[6:])
                events.append(ev["data"])
                if until and until(ev["data"]):
                    break
                if len(events) >= max_events:
                    break
        except requests.exceptions.ConnectionError:
            pass
    return events


def app_get(hangar, subdomain, path="/", headers=None, **kw):
    """A request to a space's own address: glibc does not resolve *.localhost,
    so connect to 127.0.0.1 and name the space in the Host header."""
    h = {"Host": f"{subdomain}.localhost:{hangar.port}"}
    h.update(headers or {})
    return requests.get(f"{hangar.url}{path}", headers=h, **kw)


def resolve_localhost_subdomains():
    """Makes *.localhost resolve to loopback in this process, as browsers and
    curl do (glibc does not): for clients that take a space's host URL."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    return real
