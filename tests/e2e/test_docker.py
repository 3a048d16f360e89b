"""Issue 7: Docker spaces built from their Dockerfile and run as containers
(the oci driver over podman), on a machine without any container registry.

One daemon serves the module: a cold image build (pip installing FastAPI)
happens once, and the later tests see what a real space lives through.
Timings are printed (pytest -s shows them)."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, Hangar
from spaces_util import APPS, app_get, client, runtime, sse_events, wait_stage

SECRET = "docker-secret-value-never-shown-8841"
BASE_IMAGE = "localhost/hangar-python:3.11"


def podman_problem():
    """Why podman cannot run containers here, or None."""
    if os.geteuid() != 0:
        return "the oci driver is tested as root (as the daemon runs)"
    if not shutil.which("podman"):
        return "podman is not installed (make deps installs it)"
    try:
        r = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"podman does not answer: {e}"
    if r.returncode != 0:
        return f"podman cannot run here: {r.stderr.strip()[-300:]}"
    return None


PROBLEM = podman_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=str(PROBLEM))


def ensure_base_image():
    """`make base-image` (idempotent: nothing to do when the image exists)."""
    r = subprocess.run([str(ROOT / "scripts" / "base-image.sh")], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, f"make base-image failed:\n{r.stdout}\n{r.stderr}"


class Git:
    """git with no user configuration, pushing over Hangar's smart HTTP."""

    def __init__(self, home, work):
        home.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                           ("init.defaultBranch", "main")):
            self.run("config", "--global", key, value, cwd=home)

    def run(self, *args, cwd=None):
        r = subprocess.run(["git", *args], cwd=cwd or self.work, env=self.env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"git {' '.join(args)} failed:\n{r.stderr}"
        return r.stdout


def podman_env(hangar):
    """The daemon's own podman configuration (its storage is under DATA)."""
    oci = hangar.data_dir.resolve() / "oci"
    return {**os.environ, "CONTAINERS_CONF": str(oci / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(oci / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(oci / "registries.conf")}


def podman(hangar, *args):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(hangar),
                       timeout=60)
    assert r.returncode == 0, f"podman {' '.join(args)}: {r.stderr}"
    return r.stdout


def build_log(hangar, repo):
    return sse_events(f"{hangar.url}/api/spaces/{repo}/logs/build", hangar.headers(), timeout=5)


def run_log(hangar, repo, until=None, timeout=5):
    return sse_events(f"{hangar.url}/api/spaces/{repo}/logs/run", hangar.headers(),
                      timeout=timeout, until=until)


def seconds_after(lines, pattern):
    """The number in the last log line matching pattern (a regex with one group)."""
    found = [float(m.group(1)) for m in map(re.compile(pattern).search, lines) if m]
    assert found, f"no line matches {pattern!r}:\n" + "\n".join(lines[-30:])
    return found[-1]


def wait_running(hangar, repo, timeout):
    """Waits for RUNNING; fails at once on an error stage (with its message)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rt = runtime(hangar, repo)
        if rt["stage"] == "RUNNING":
            return rt
        if rt["stage"] in ("BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE"):
            raise AssertionError(f"{repo}: {rt['stage']}: {rt.get('errorMessage')}")
        time.sleep(0.2)
    raise AssertionError(f"{repo} not RUNNING after {timeout} s: {rt}\n{hangar.log()[-3000:]}")


def wait_for(fn, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what}: gave up after {timeout} s (last: {last})")


@pytest.fixture(scope="module")
def dhangar(tmp_path_factory):
    """A daemon for the module; spaces get 192 MiB (the OOM test needs a limit)."""
    ensure_base_image()
    h = Hangar(tmp_path_factory.mktemp("docker") / "data", ["--space-memory", "192"])
    h.start(timeout=60)
    yield h
    rc = h.stop()
    reports = h.sanitizer_reports()
    assert not reports, f"sanitizer reported {reports}:\n{h.log()[-4000:]}"
    assert rc in (0, None), f"hangar exited {rc}:\n{h.log()[-4000:]}"
    # Its containers went with it.
    assert podman(h, "ps", "-aq").strip() == ""


@pytest.fixture(scope="module")
def space(dhangar, tmp_path_factory):
    """admin/fastapi, pushed by git with its secret and variable already set."""
    api = client(dhangar)
    repo = "admin/fastapi"
    api.create_repo(repo, repo_type="space", space_sdk="docker")
    api.add_space_secret(repo, "API_KEY", SECRET)
    api.add_space_variable(repo, "GREETING", "bonjour")
    base = tmp_path_factory.mktemp("git")
    work = base / "work"
    shutil.copytree(APPS / "docker_fastapi", work)
    git = Git(base / "home", work)
    git.run("init", "-q", "-b", "main")
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "FastAPI space")
    git.run("remote", "add", "origin",
            f"http://user:{dhangar.admin_token}@127.0.0.1:{dhangar.port}/spaces/{repo}")
    pushed = time.time()
    git.run("push", "-q", "origin", "main")
    wait_running(dhangar, repo, timeout=600)
    print(f"\n[docker] push to RUNNING, cold build: {time.time() - pushed:.1f} s")
    return {"repo": repo, "git": git, "work": work, "subdomain": "admin-fastapi"}


def test_pushed_by_git_builds_runs_as_uid_1000_and_answers(dhangar, space):
    r = app_get(dhangar, space["subdomain"], "/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uid"] == 1000 and body["gid"] == 1000
    assert body["greeting"] == "bonjour"
    assert body["space_id"] == space["repo"]
    import hashlib
    assert body["secret_sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    # Build and run logs over the API.
    build = build_log(dhangar, space["repo"])
    assert any("build arg GREETING=bonjour" in line for line in build), build[-20:]
    digest = hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    assert any(f"build secret API_KEY: {len(SECRET)} bytes, sha256 {digest}" in line
               for line in build), build[-20:]
    assert any("Build succeeded" in line for line in build)
    cold = seconds_after(build, r"built in ([0-9.]+) s")
    run = run_log(dhangar, space["repo"], until=lambda line: "run: uid" in line)
    assert any("run: uid 1000 version v1" in line for line in run), run
    start = seconds_after(run_log(dhangar, space["repo"]), r"answering on port 7860 after ([0-9.]+) s")
    print(f"[docker] cold image build {cold:.1f} s; container start to first answer {start:.2f} s")
    rt = runtime(dhangar, space["repo"])
    assert rt["stage"] == "RUNNING" and rt["sdk"] == "docker"


def test_secret_never_in_inspect_logs_or_command_lines(dhangar, space):
    names = podman(dhangar, "ps", "--format", "{{.Names}}").split()
    assert len(names) == 1 and names[0].startswith("hangar-"), names
    inspect = podman(dhangar, "inspect", names[0])
    assert SECRET not in inspect
    assert "GREETING=bonjour" in inspect  # variables are plain environment
    # Nor on any command line, nor in a file left under DATA/oci.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert SECRET.encode() not in cmdline.read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    state = dhangar.data_dir / "oci" / "state"
    assert [p.name for p in state.iterdir() if p.suffix == ".env"] == []
    assert not list((dhangar.data_dir / "cache" / "build-secrets").glob("*/*"))
    for url in ("logs/build", "logs/run"):
        lines = sse_events(f"{dhangar.url}/api/spaces/{space['repo']}/{url}", dhangar.headers(),
                           timeout=3)
        assert not any(SECRET in line for line in lines), url
    assert SECRET not in dhangar.log()


def test_app_port_is_reachable_only_through_the_proxy(dhangar, space):
    # Nothing is published on the host: the container has its own network namespace.
    ports = podman(dhangar, "ps", "--format", "{{.Ports}}").strip()
    assert ports == "", ports
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:7860/", timeout=2)


def test_data_survives_a_restart(dhangar, space):
    api = client(dhangar)
    r = requests.put(f"{dhangar.url}/note/kept-across-restarts",
                     headers={"Host": f"{space['subdomain']}.localhost:{dhangar.port}"})
    assert r.status_code == 200, r.text
    boot = app_get(dhangar, space["subdomain"], "/").json()["boot"]
    api.restart_space(space["repo"])
    wait_for(lambda: app_get(dhangar, space["subdomain"], "/").json()["boot"] != boot, 120,
             "a new container after the restart")
    assert app_get(dhangar, space["subdomain"], "/note").json()["note"] == "kept-across-restarts"
    assert (dhangar.data_dir / "volumes").exists()


def test_app_only_change_rebuilds_from_cached_layers(dhangar, space):
    main = space["work"] / "main.py"
    main.write_text(main.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    git = space["git"]
    git.run("commit", "-q", "-am", "v2")
    pushed = time.time()
    git.run("push", "-q", "origin", "main")
    wait_for(lambda: app_get(dhangar, space["subdomain"], "/").json()["version"] == "v2", 180,
             "version v2 answering")
    total = time.time() - pushed
    build = build_log(dhangar, space["repo"])
    cached = [line for line in build if "Using cache" in line]
    assert len(cached) >= 4, build  # useradd, pip install, the build arg and the secret steps
    took = seconds_after(build, r"built in ([0-9.]+) s")
    print(f"[docker] app-only change: image rebuilt in {took:.1f} s "
          f"({len(cached)} cached layers); push to new version answering {total:.1f} s")
    assert took < 30
    # Old images go: the running one and the one before it stay.
    tags = podman(dhangar, "images", "--format", "{{.Tag}}", "--filter",
                  "reference=localhost/hangar/*").split()
    assert 1 <= len(tags) <= 2, tags


def test_memory_limit_kills_and_is_reported_as_out_of_memory(dhangar, space):
    try:
        app_get(dhangar, space["subdomain"], "/eat", timeout=60)
    except requests.RequestException:
        pass  # the app died under the request

    def oom_reported():
        rt = runtime(dhangar, space["repo"])
        return "out of memory" in (rt.get("errorMessage") or "")

    wait_for(oom_reported, 60, "the OOM kill in errorMessage", interval=0.05)
    # The restart policy brings it back.
    wait_stage(dhangar, space["repo"], "RUNNING", timeout=180)
    assert app_get(dhangar, space["subdomain"], "/").status_code == 200


def test_a_gradio_space_in_a_container_honours_packages_txt(hangar_factory):
    """--runtime podman: a gradio space gets a generated Dockerfile FROM the base
    image that apt-installs packages.txt."""
    ensure_base_image()
    h = hangar_factory(["--runtime", "podman"])
    api = client(h)
    repo = "admin/pkgs"
    api.create_repo(repo, repo_type="space", space_sdk="gradio")
    api.upload_folder(repo_id=repo, repo_type="space", folder_path=str(APPS / "envapp"))
    api.upload_file(repo_id=repo, repo_type="space", path_in_repo="packages.txt",
                    path_or_fileobj=b"# a tool the app looks for\njq\n")
    started = time.time()
    wait_running(h, repo, timeout=900)
    print(f"\n[docker] gradio + packages.txt as an image: RUNNING after {time.time() - started:.1f} s")
    build = build_log(h, repo)
    assert any("generated Dockerfile" in line for line in build), build[-20:]
    assert any("apt-get" in line for line in build)
    names = podman(h, "ps", "--format", "{{.Names}}").split()
    assert len(names) == 1
    out = podman(h, "exec", names[0], "sh", "-c", "command -v jq; id -u")
    assert out.split() == ["/usr/bin/jq", "1000"], out
    assert app_get(h, "admin-pkgs", "/").status_code == 200
