"""Issue 6: secrets, variables, restart, pause, hardware and GPUs, duplicate,
through the real huggingface_hub client."""
import json
import os
import stat
import time

import pytest
import requests

from spaces_util import app_get, client, deploy, runtime, sse_events, wait_stage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime needs root")

SECRET = "s3cr3t-value-that-must-not-leak-1234"


def env_of(hangar, repo, timeout=20):
    """The ENV line the envapp printed in its current run log."""
    lines = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/run", hangar.headers(),
                       timeout=timeout, until=lambda l: l.startswith("ENV "))
    found = [l for l in lines if l.startswith("ENV ")]
    assert found, lines
    return json.loads(found[-1][4:])


def wait_env(hangar, repo, key, value, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if env_of(hangar, repo, timeout=3).get(key) == value:
                return
        except AssertionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{key} never became {value}")


def test_secret_reaches_the_app_and_nothing_else(hangar):
    api = client(hangar)
    repo = deploy(hangar, "sec", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    api.add_space_secret(repo, "API_KEY", SECRET, description="the key")
    wait_env(hangar, repo, "API_KEY", "***")
    # The app has it (it says so), but every log line shows it masked.
    assert app_get(hangar, "admin-sec", "/").json()["has_secret"] is True
    run = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/run", hangar.headers(), timeout=3)
    assert "secret is ***" in run
    secrets = api.get_space_secrets(repo)
    assert list(secrets) == ["API_KEY"] and secrets["API_KEY"].description == "the key"
    for url in (f"/api/spaces/{repo}/secrets", f"/api/spaces/{repo}", f"/api/spaces/{repo}/runtime",
                f"/api/spaces/{repo}/variables", f"/api/spaces/{repo}/logs/run",
                f"/api/spaces/{repo}/logs/build"):
        r = requests.get(hangar.url + url, headers=hangar.headers(), timeout=3, stream=True)
        body = b""
        try:
            for chunk in r.iter_content(4096):
                body += chunk
        except requests.exceptions.ConnectionError:
            pass
        assert SECRET.encode() not in body, url
    assert SECRET not in hangar.log()
    stored = b"".join(p.read_bytes() for p in hangar.data_dir.glob("hangar.db*"))
    assert SECRET.encode() not in stored
    key = hangar.data_dir / "secret.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    api.delete_space_secret(repo, "API_KEY")
    assert api.get_space_secrets(repo) == {}
    api.delete_space_secret(repo, "API_KEY")  # a missing key is fine


def test_variables_and_restart_on_change(hangar):
    api = client(hangar)
    repo = deploy(hangar, "vars", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    result = api.add_space_variable(repo, "GREETING", "hello", description="said")
    assert result["GREETING"].value == "hello"
    wait_env(hangar, repo, "GREETING", "hello")
    assert app_get(hangar, "admin-vars", "/").json()["greeting"] == "hello"
    api.add_space_variable(repo, "GREETING", "bonjour")
    wait_env(hangar, repo, "GREETING", "bonjour")
    assert api.get_space_variables(repo)["GREETING"].value == "bonjour"
    # Readable by anyone who can read the space.
    assert requests.get(f"{hangar.url}/api/spaces/{repo}/variables").json()["GREETING"][
        "value"] == "bonjour"
    api.delete_space_variable(repo, "GREETING")
    assert api.get_space_variables(repo) == {}


def test_bad_env_input(hangar):
    repo = deploy(hangar, "badenv", None)
    url = f"{hangar.url}/api/spaces/{repo}"
    h = hangar.headers()
    assert requests.post(url + "/secrets", json={"key": "1BAD", "value": "x"},
                         headers=h).status_code == 400
    assert requests.post(url + "/secrets", json={"key": "A-B", "value": "x"},
                         headers=h).status_code == 400
    assert requests.post(url + "/variables", json={"key": "OK"}, headers=h).status_code == 400
    assert requests.post(url + "/variables", json={"key": "OK", "value": "x" * 70000},
                         headers=h).status_code == 400
    assert requests.post(url + "/variables", json={"key": "BOTH", "value": "x"},
                         headers=h).status_code == 200
    assert requests.post(url + "/secrets", json={"key": "BOTH", "value": "x"},
                         headers=h).status_code == 409
    bob = hangar.cli("user", "add", "bob").stdout.strip()
    assert requests.get(url + "/secrets", headers=hangar.headers(bob)).status_code == 403
    assert requests.post(url + "/secrets", json={"key": "K", "value": "v"},
                         headers=hangar.headers(bob)).status_code == 403
    assert requests.get(url + "/secrets").status_code == 401


def test_pause_then_request_is_not_served_and_restart_resumes(hangar):
    api = client(hangar)
    repo = deploy(hangar, "pz", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    assert api.pause_space(repo).stage == "PAUSED"
    r = app_get(hangar, "admin-pz", "/")
    assert r.status_code == 503
    time.sleep(1)
    assert runtime(hangar, repo)["stage"] == "PAUSED"
    rt = api.restart_space(repo)
    assert rt.stage != "PAUSED"
    wait_stage(hangar, repo, "RUNNING")
    assert app_get(hangar, "admin-pz", "/").status_code == 200


def test_pause_survives_daemon_restart(hangar_factory, tmp_path):
    h = hangar_factory(data_dir=tmp_path / "p")
    repo = deploy(h, "pz2", "envapp")
    wait_stage(h, repo, "RUNNING")
    client(h).pause_space(repo)
    assert h.stop() == 0
    h.start()
    time.sleep(1)
    assert runtime(h, repo)["stage"] == "PAUSED"


def test_factory_restart_rebuilds(hangar):
    api = client(hangar)
    repo = deploy(hangar, "fac", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    api.restart_space(repo, factory_reboot=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        build = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/build", hangar.headers(),
                           timeout=3)
        if any("Factory rebuild" in l for l in build) and runtime(hangar, repo)["stage"] == \
                "RUNNING":
            break
        time.sleep(0.5)
    assert any("Factory rebuild" in l for l in build)
    assert any("installing the sdk" in l for l in build)
    assert app_get(hangar, "admin-fac", "/").status_code == 200


def test_static_space_restart_is_400(hangar):
    repo = deploy(hangar, "st", "static_site", sdk="static")
    r = requests.post(f"{hangar.url}/api/spaces/{repo}/restart", headers=hangar.headers())
    assert r.status_code == 400


def test_sleep_time(hangar):
    api = client(hangar)
    repo = deploy(hangar, "nap", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    rt = api.set_space_sleep_time(repo, 2)
    assert rt.sleep_time == 2
    wait_stage(hangar, repo, "SLEEPING", timeout=30)
    assert requests.post(f"{hangar.url}/api/spaces/{repo}/sleeptime", json={"seconds": 0},
                         headers=hangar.headers()).status_code == 400
    assert api.set_space_sleep_time(repo, -1).sleep_time is None


HARDWARE = {
    "profiles": [
        {"name": "cpu-basic", "prettyName": "CPU basic", "cpu": 2, "memory_mb": 2048},
        {"name": "cpu-tiny", "prettyName": "CPU tiny", "cpu": 0.5, "memory_mb": 96},
        {"name": "gpu-1", "prettyName": "One fake GPU", "cpu": 1, "memory_mb": 1024, "gpus": 1,
         "gpu_model": "FakeGPU"},
    ],
}


@pytest.fixture
def hw_hangar(hangar_factory, tmp_path):
    # Two fake GPUs whose device nodes are character devices (1, 3: what
    # /dev/null is): each space must see its own node only, at /dev/<name>.
    gpus = []
    for i in range(2):
        node = tmp_path / f"fakegpu{i}"
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        gpus.append({"name": f"GPU-fake-{i}", "model": "FakeGPU", "device": str(node)})
    path = tmp_path / "hardware.json"
    path.write_text(json.dumps({**HARDWARE, "gpus": gpus}))
    return hangar_factory(extra_args=["--hardware", str(path)])


def test_hardware_change_is_applied_and_enforced(hw_hangar):
    h = hw_hangar
    api = client(h)
    names = [hw.name for hw in api.list_spaces_hardware()]
    assert names == ["cpu-basic", "cpu-tiny", "gpu-1"]
    repo = deploy(h, "hw", "envapp")
    wait_stage(h, repo, "RUNNING")
    assert env_of(h, repo)["CPU_CORES"] == "2"
    assert env_of(h, repo)["GPU_NODES"] == []  # no GPU, no GPU node
    rt = api.request_space_hardware(repo, "cpu-tiny")
    assert rt.requested_hardware == "cpu-tiny"
    wait_env(h, repo, "MEMORY", "96Mi")
    assert env_of(h, repo)["CPU_CORES"] == "0.5"
    wait_stage(h, repo, "RUNNING")
    assert runtime(h, repo)["hardware"]["current"] == "cpu-tiny"
    # Enforced by the cgroup (v1 here, v2 elsewhere).
    limits = [p for p in ("/sys/fs/cgroup/memory/hangar", "/sys/fs/cgroup/hangar")
              if os.path.isdir(p)]
    found = []
    for root in limits:
        for dirpath, _, files in os.walk(root):
            for f in ("memory.limit_in_bytes", "memory.max"):
                if f in files:
                    found.append(open(os.path.join(dirpath, f)).read().strip())
    assert str(96 * 1024 * 1024) in found
    r = requests.post(f"{h.url}/api/spaces/{repo}/hardware", json={"flavor": "nope"},
                      headers=h.headers())
    assert r.status_code == 400


def test_gpus_are_never_oversubscribed(hw_hangar):
    h = hw_hangar
    api = client(h)
    repos = []
    for i in range(3):
        repo = deploy(h, f"g{i}", None)
        api.request_space_hardware(repo, "gpu-1")
        api.upload_folder(repo_id=repo, repo_type="space",
                          folder_path=str(__import__("spaces_util").APPS / "envapp"))
        repos.append(repo)
    deadline = time.time() + 120
    while time.time() < deadline:
        stages = [runtime(h, r)["stage"] for r in repos]
        if stages.count("RUNNING") == 2 and "APP_STARTING" in stages:
            break
        time.sleep(0.5)
    assert sorted(stages) == ["APP_STARTING", "RUNNING", "RUNNING"], stages
    waiting = repos[stages.index("APP_STARTING")]
    assert "GPU" in runtime(h, waiting)["errorMessage"]
    running = [r for r in repos if r != waiting]
    devices = {env_of(h, r)["CUDA_VISIBLE_DEVICES"] for r in running}
    assert devices == {"GPU-fake-0", "GPU-fake-1"}
    assert {env_of(h, r)["ACCELERATOR"] for r in running} == {"gpu-1"}
    for r in running:
        env = env_of(h, r)
        assert env["GPU_NODES"] == ["fakegpu" + env["CUDA_VISIBLE_DEVICES"][-1]], env
    # Freeing one lets the waiting space start on it.
    api.pause_space(running[0])
    wait_stage(h, waiting, "RUNNING", timeout=60)
    assert env_of(h, waiting)["CUDA_VISIBLE_DEVICES"] in devices
    assert len(env_of(h, waiting)["GPU_NODES"]) == 1


def test_create_with_options_and_duplicate(hangar):
    api = client(hangar)
    api.create_repo("orig", repo_type="space", space_sdk="gradio",
                    space_secrets=[{"key": "API_KEY", "value": SECRET}],
                    space_variables=[{"key": "GREETING", "value": "hi"}],
                    space_sleep_time=3600)
    repo = "admin/orig"
    api.upload_folder(repo_id=repo, repo_type="space",
                      folder_path=str(__import__("spaces_util").APPS / "envapp"))
    wait_stage(hangar, repo, "RUNNING")
    env = env_of(hangar, repo)
    assert env["GREETING"] == "hi" and env["API_KEY"] == "***"
    assert runtime(hangar, repo)["gcTimeout"] == 3600
    url = api.duplicate_repo(repo, to_id="admin/copy", repo_type="space", private=True)
    assert str(url).endswith("/spaces/admin/copy")
    info = api.space_info("admin/copy")
    assert info.private is True
    assert info.sha == api.space_info(repo).sha
    wait_stage(hangar, "admin/copy", "RUNNING")
    env = env_of(hangar, "admin/copy")
    assert env["GREETING"] == "hi"        # variables come along
    assert env["API_KEY"] is None         # secrets do not
    assert api.get_space_secrets("admin/copy") == {}
    with pytest.raises(Exception):
        api.duplicate_repo(repo, to_id="admin/copy", repo_type="space")


def sse_json(url, headers, timeout, until=None):
    events = []
    deadline = time.time() + timeout
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        try:
            for raw in r.iter_lines(chunk_size=1):
                if raw.startswith(b"data: {"):
                    events.append(json.loads(raw[6:]))
                    if until and until(events[-1]):
                        break
                if time.time() > deadline:
                    break
        except requests.exceptions.ConnectionError:
            pass
    return events


def test_events_history_and_live(hangar):
    import threading
    api = client(hangar)
    repo = deploy(hangar, "ev", "envapp")
    wait_stage(hangar, repo, "RUNNING")
    url = f"{hangar.url}/api/spaces/{repo}/events"
    history = sse_json(url, hangar.headers(), timeout=2)
    types = [e["type"] for e in history]
    assert types[0] == "created"
    assert "commit" in types and "build-started" in types and "build-succeeded" in types
    stages = [e["data"]["stage"] for e in history if e["type"] == "stage"]
    assert stages[-1] == "RUNNING" and "BUILDING" in stages
    assert all(e["timestamp"].endswith("Z") for e in history)
    # Live: a pause made while following shows up on the open stream.
    got = []
    t = threading.Thread(target=lambda: got.extend(sse_json(
        url, hangar.headers(), timeout=15,
        until=lambda e: e["type"] == "stage" and e["data"]["stage"] == "PAUSED")))
    t.start()
    time.sleep(1)
    api.pause_space(repo)
    t.join()
    assert any(e["type"] == "paused" for e in got)
    assert got[-1]["data"]["stage"] == "PAUSED"
    with requests.get(url, stream=True, timeout=5) as r:  # public space: readable
        assert r.status_code == 200
