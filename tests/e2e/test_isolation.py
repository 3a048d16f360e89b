"""Issue 11, isolation: a hostile app (tests/e2e/apps/hostile) tries to get out
of its space, under the sandbox driver and (when podman can run containers)
the oci driver, and answers over HTTP what happened. Every attempt must fail
or be contained, and the other space keeps serving throughout.

One daemon serves the module, with a small hardware profile (64 pids, 256 MB)
so that the fork bomb and the memory hog reach their limits quickly."""
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import Hangar
from spaces_util import APPS, app_get, client, deploy, runtime, wait_stage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime needs root")

PIDS = 64
MEMORY_MB = 256
STORAGE_MB = 32
BASE_IMAGE = "localhost/hangar-python:3.11"
DOCKERFILE = f"""FROM {BASE_IMAGE}
WORKDIR /home/user/app
COPY . .
CMD ["python3", "app.py"]
"""
# Links a pusher commits, pointing out of the checkout: from DATA/builds/<space>/<sha>/app/,
# ../../../.. is DATA.
LINKS = {"shadow": "/etc/shadow", "key": "../../../../secret.key",
         "database": "../../../../hangar.db", "victim_marker": "../../../../volumes/VICTIM/marker.txt"}


def podman_problem():
    """Why the oci runtime cannot be tested here, or None."""
    if not shutil.which("podman"):
        return "podman is not installed (make deps installs it)"
    try:
        r = subprocess.run(["podman", "image", "exists", BASE_IMAGE], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"podman does not answer: {e}"
    if r.returncode != 0:
        return f"the base image {BASE_IMAGE} is missing (make base-image)"
    return None


class HostService:
    """A TCP service on every host address and an abstract unix socket in the
    host's network namespace: spaces must not reach either."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"hangar-isolation-{os.getpid()}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract)
        self.unix.listen(16)
        self.accepted = []
        for s in (self.tcp, self.unix):
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        while True:
            try:
                conn, peer = s.accept()
            except OSError:
                return
            self.accepted.append(peer)
            try:
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-service\n")
            finally:
                conn.close()

    def close(self):
        self.tcp.close()
        self.unix.close()


def git(env, *args, cwd):
    r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"git {' '.join(args)} failed:\n{r.stderr}"
    return r.stdout


def push_with_links(h, tmp, name, files, links, sdk):
    """Creates admin/<name> and pushes files plus symbolic links with git (the
    HF clients cannot commit a link; git can)."""
    client(h).create_repo(f"admin/{name}", repo_type="space", space_sdk=sdk)
    home, work = tmp / f"home-{name}", tmp / f"work-{name}"
    home.mkdir()
    work.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    git(env, "init", "-q", "-b", "main", cwd=work)
    for path, content in files.items():
        (work / path).write_bytes(content if isinstance(content, bytes) else content.encode())
    for path, target in links.items():
        os.symlink(target, work / path)
    git(env, "add", "-A", cwd=work)
    git(env, "-c", "user.name=Mallory", "-c", "user.email=m@example.com", "commit", "-q", "-m",
        "links out", cwd=work)
    url = f"http://admin:{h.admin_token}@127.0.0.1:{h.port}/spaces/admin/{name}"
    git(env, "push", "-q", url, "main", cwd=work)
    return f"admin/{name}"


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("isolation")
    hw = tmp / "hardware.json"
    hw.write_text(json.dumps({"profiles": [{"name": "cpu-basic", "cpu": 1,
                                            "memory_mb": MEMORY_MB, "pids": PIDS,
                                            "storage_mb": STORAGE_MB}]}))
    h = Hangar(tmp / "data", extra_args=["--hardware", str(hw)])
    h.start()
    w = World()
    w.h, w.service, w.podman = h, HostService(), podman_problem()
    try:
        w.victim = deploy(h, "victim", "hostile")
        wait_stage(h, w.victim, "RUNNING")
        marker = next(p for p in (h.data_dir / "volumes").glob("*/marker.txt")
                      if "admin/victim" in p.read_text())
        w.victim_marker = marker
        w.victim_app = next((h.data_dir / "builds").glob("*/*/app/app.py"))
        links = {k: v.replace("VICTIM", marker.parent.name) for k, v in LINKS.items()}
        app = (APPS / "hostile" / "app.py").read_text()
        readme = (APPS / "hostile" / "README.md").read_text()
        w.spaces = {"sandbox": push_with_links(h, tmp, "hostile", {"README.md": readme,
                                                                    "app.py": app}, links,
                                               "gradio")}
        if w.podman is None:
            docker_readme = readme.replace("sdk: gradio", "sdk: docker\napp_port: 7860")
            w.spaces["oci"] = push_with_links(h, tmp, "hostile-oci",
                                              {"README.md": docker_readme, "app.py": app,
                                               "Dockerfile": DOCKERFILE}, links, "docker")
        w.links = links
        for repo in w.spaces.values():
            wait_stage(h, repo, "RUNNING", timeout=600)
        yield w
    finally:
        w.service.close()
        rc = h.stop()
        reports = h.sanitizer_reports()
        assert not reports, f"sanitizer reported {reports}:\n{h.log()[-4000:]}"
        assert rc in (0, None, -9), h.log()[-4000:]


@pytest.fixture(params=["sandbox", "oci"])
def hostile(request, world):
    if request.param not in world.spaces:
        pytest.skip(f"oci runtime not tested: {world.podman}")
    return request.param, world.spaces[request.param]


def sub(repo):
    return repo.replace("/", "-")


def probe(world, repo, route, timeout=60, **query):
    r = app_get(world.h, sub(repo), route, params=query, timeout=timeout)
    assert r.status_code == 200, (route, query, r.status_code, r.text[:300])
    return r.json()


def assert_others_serve(world):
    """The victim space still answers, for itself."""
    r = app_get(world.h, "admin-victim", "/whoami", timeout=10)
    assert r.status_code == 200 and r.text == "admin/victim", (r.status_code, r.text[:200])


def test_files_of_others_daemon_and_secret_key_are_out_of_reach(world, hostile):
    kind, repo = hostile
    h = world.h
    data = h.data_dir.resolve()
    pid = h.proc.pid
    secret_key = (data / "secret.key").read_bytes()
    targets = [str(data / "hangar.db"), str(data / "secret.key"),
               str(world.victim_marker.resolve()), str(world.victim_app.resolve()),
               next(str(p) for p in (data / "repos").rglob("config")),
               f"/proc/{pid}/environ", f"/proc/{pid}/root{data}/secret.key",
               f"/proc/{pid}/root/etc/shadow", f"/proc/{pid}/cwd/hangar.db", "/etc/shadow"]
    for path in targets:
        got = probe(world, repo, "/read", path=path)
        assert not got["ok"], f"{kind}: {path} was readable: {got}"
    for path in (str(data / "repos"), str(data / "volumes"), str(data / "builds"),
                 f"/proc/{pid}/root/", f"/proc/{pid}/fd"):
        got = probe(world, repo, "/list", path=path)
        assert not got["ok"], f"{kind}: {path} could be listed: {got}"
    # The sandbox mounts the shared environment at its host path (under
    # DATA/cache): that skeleton may show, nothing else of DATA.
    got = probe(world, repo, "/list", path=str(data))
    assert not got["ok"] or set(got["entries"]) <= {"cache"}, got
    # Its own /data and /app are its own; nothing of the host's is writable.
    assert probe(world, repo, "/write", path="/data/mine.txt")["ok"]
    for path in ("/etc/hangar-probe", "/usr/hangar-probe", f"{data}/hangar-probe"):
        assert not probe(world, repo, "/write", path=path)["ok"], path
        assert not Path(path).exists()
    # Whatever it read, the key never came out.
    assert secret_key.hex() not in json.dumps(probe(world, repo, "/read", path="key"))
    assert_others_serve(world)


def test_symlinks_in_its_repository_are_plain_files(world, hostile):
    kind, repo = hostile
    for name, target in world.links.items():
        # relative: the app's directory is /app in the sandbox, WORKDIR in an image
        got = probe(world, repo, "/read", path=name)
        # checked out (and copied into the image) as a file holding the link's text
        assert got["ok"] and not got["islink"], (kind, name, got)
        assert got["data"] == target, (kind, name, got)
    # The API serves the link's text too, never what it points at.
    for name, target in world.links.items():
        r = requests.get(f"{world.h.url}/spaces/{repo}/resolve/main/{name}",
                         headers=world.h.headers())
        assert r.status_code in (200, 404), (name, r.status_code)
        assert r.content in (target.encode(), b"") or r.status_code == 404, (name, r.content[:100])
        assert (world.h.data_dir / "secret.key").read_bytes() not in r.content


def test_static_space_does_not_follow_links(world, tmp_path):
    h = world.h
    repo = push_with_links(h, tmp_path, "static-links", {
        "README.md": "---\nsdk: static\n---\n", "index.html": "<h1>hello</h1>\n"},
        world.links, "static")
    assert app_get(h, sub(repo), "/").text == "<h1>hello</h1>\n"
    key = (h.data_dir / "secret.key").read_bytes()
    for name in world.links:
        r = app_get(h, sub(repo), f"/{name}")
        assert r.status_code == 404, (name, r.status_code, r.content[:100])
        assert key not in r.content and b"root:" not in r.content
        r = requests.get(f"{h.url}/spaces/{repo}/resolve/main/{name}", headers=h.headers())
        assert key not in r.content and b"root:" not in r.content
        assert r.content == world.links[name].encode() or r.status_code == 404


def host_addresses():
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return [m.group(1) for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out)]


def test_daemon_host_services_and_other_spaces_are_unreachable(world, hostile):
    kind, repo = hostile
    h, service = world.h, world.service
    before = len(service.accepted)
    for addr in host_addresses():
        for port in (h.port, service.port):
            got = probe(world, repo, "/connect", host=addr, port=port)
            assert not got["ok"] or "host-service" not in got["reply"] and \
                "hangar" not in got["reply"].lower(), (kind, addr, port, got)
            assert not got["ok"], (kind, addr, port, got)
    got = probe(world, repo, "/unix", path="@" + service.abstract)
    assert not got["ok"], (kind, got)
    assert len(service.accepted) == before, service.accepted
    # Port 7860 on its loopback is itself, never the victim listening on 7860 too.
    got = probe(world, repo, "/connect", host="127.0.0.1", port=7860)
    assert got["ok"] and got["reply"].endswith(repo), got
    assert_others_serve(world)


def test_fork_bomb_stops_at_the_pids_limit(world, hostile):
    kind, repo = hostile
    got = probe(world, repo, "/forkbomb", timeout=120)
    assert not got["ok"] and got["failure"]["errno"] == "EAGAIN", (kind, got)
    assert got["forked"] < PIDS, got
    # and the app, and the others, are fine afterwards
    assert app_get(world.h, sub(repo), "/whoami").text == repo
    assert_others_serve(world)


def test_cgroup_limits_cannot_be_lifted(world, hostile):
    kind, repo = hostile
    got = probe(world, repo, "/cgroup")
    assert not got.get("ok"), (kind, got)


def test_filling_data_is_contained(world, hostile):
    kind, repo = hostile
    want = STORAGE_MB + 16
    got = probe(world, repo, "/fill", timeout=120, path="/data/fill", mb=want)
    assert_others_serve(world)
    if got["ok"]:
        pytest.skip(f"no /data quota yet: {kind} wrote {want} MiB over storage_mb={STORAGE_MB} "
                    "(the host had room; the quota is another part of the runtime)")
    assert got["failure"]["errno"] in ("ENOSPC", "EDQUOT"), got
    assert got["written"] <= (STORAGE_MB + 1) << 20, got
    assert app_get(world.h, sub(repo), "/whoami").text == repo


def events(h, repo, timeout=3):
    """The space's stored events (the history the stream starts with)."""
    out = []
    with requests.get(f"{h.url}/api/spaces/{repo}/events", headers=h.headers(), stream=True,
                      timeout=timeout) as r:
        deadline = time.time() + timeout
        try:
            for raw in r.iter_lines(chunk_size=1):
                if raw.startswith(b"data: {"):
                    out.append(json.loads(raw[6:]))
                if time.time() > deadline:
                    break
        except requests.exceptions.ConnectionError:
            pass
    return out


def test_memory_hog_is_killed_reported_and_restarted(world, hostile):
    kind, repo = hostile
    h = world.h
    try:
        r = app_get(h, sub(repo), "/memory", timeout=60)
        assert r.status_code >= 500, (kind, r.status_code, r.text[:200])
    except requests.exceptions.ConnectionError:
        pass
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(e["type"] == "oom" for e in events(h, repo, timeout=1)):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"{kind}: no oom event; runtime {runtime(h, repo)}")
    assert_others_serve(world)
    # restarted after its backoff
    wait_stage(h, repo, "RUNNING", timeout=120)
    assert app_get(h, sub(repo), "/whoami").text == repo
