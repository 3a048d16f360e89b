"""Issue 4: a commit on main becomes a running app: config, builders, the
sandbox runtime, true stages, supervision and logs."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from spaces_util import (APPS, app_get, client, commit_raw, deploy, runtime,
                         sse_events, wait_stage)
from test_ui import ROOT, browser_ready

GRADIO_TEST = ROOT / "tests" / "js" / "gradio.test.mjs"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime needs root")


def test_gradio_app_runs_and_answers(hangar):
    repo = deploy(hangar, "hello", "gradio_hello")
    rt = wait_stage(hangar, repo, "RUNNING")
    assert rt["hardware"]["current"] == "cpu-basic"
    # The app's own output is in the run log.
    lines = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/run", hangar.headers(), timeout=5,
                       until=lambda l: "hello from the app" in l)
    assert any("hello from the app, space admin/hello" in l for l in lines)
    build = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/build", hangar.headers(), timeout=5)
    assert any("Build succeeded" in l for l in build)
    # Reached through its own address (the proxy) with the real gradio client.
    r = app_get(hangar, "admin-hello", "/")
    assert r.status_code == 200 and "gradio" in r.text.lower()
    # As a user would: HF_ENDPOINT in the environment of a fresh Python; the
    # client finds the app's address through space_info().host (*.localhost,
    # resolved by glibc through libnss-myhostname, which make deps installs).
    script = ("from gradio_client import Client; "
              f"print(Client({repo!r}, token={hangar.admin_token!r}, verbose=False)"
              ".predict('world', api_name='/predict'))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "HF_ENDPOINT": hangar.url})
    assert out.returncode == 0, out.stderr[-2000:]
    result = out.stdout.strip().splitlines()[-1]
    assert result == "Hello world!"
    # And in Chromium at http://admin-hello.localhost:PORT/ (issue 5): the page,
    # its assets and the queue's server-sent events through the proxy
    # (tests/js/gradio.test.mjs). Here rather than in a file of its own: the
    # space is built and running already.
    if browser_ready():
        r = subprocess.run(["node", str(GRADIO_TEST), f"http://admin-hello.localhost:{hangar.port}/"],
                           capture_output=True, text=True, timeout=240)
        print(r.stdout)
        assert r.returncode == 0 and "not ok" not in r.stdout, \
            f"{r.stdout}\n{r.stderr}\n--- daemon log ---\n{hangar.log()[-4000:]}"


def test_streamlit_app_runs(hangar):
    repo = deploy(hangar, "st", "streamlit_hello", sdk="streamlit")
    wait_stage(hangar, repo, "RUNNING")
    r = app_get(hangar, "admin-st", "/")
    assert r.status_code == 200 and "streamlit" in r.text.lower()


def test_bad_yaml_is_config_error_naming_the_line(hangar):
    repo = deploy(hangar, "badyaml", None)
    commit_raw(hangar, repo, {"README.md": "---\nsdk: gradio\ntitle: [unclosed\n---\n",
                              "app.py": "print(1)\n"})
    rt = wait_stage(hangar, repo, "CONFIG_ERROR", timeout=30)
    assert "line" in rt["errorMessage"]


def test_bad_value_is_config_error_naming_the_key(hangar):
    repo = deploy(hangar, "badport", None)
    commit_raw(hangar, repo, {"README.md": "---\nsdk: gradio\napp_port: 99999\n---\n",
                              "app.py": "print(1)\n"})
    rt = wait_stage(hangar, repo, "CONFIG_ERROR", timeout=30)
    assert "app_port" in rt["errorMessage"]


def test_missing_app_file(hangar):
    repo = deploy(hangar, "noapp", None, files={"README.md": "---\nsdk: gradio\n---\n"})
    rt = wait_stage(hangar, repo, "NO_APP_FILE", timeout=30)
    assert "app.py" in rt["errorMessage"]


def test_failing_pip_install_is_build_error(hangar):
    repo = deploy(hangar, "badreq", None, files={
        "README.md": "---\nsdk: gradio\n---\n", "app.py": "print(1)\n",
        "requirements.txt": "this-package-does-not-exist-hangar-test==0.0.1\n"})
    rt = wait_stage(hangar, repo, "BUILD_ERROR", timeout=120)
    assert "failed" in rt["errorMessage"]
    build = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/build", hangar.headers(), timeout=5)
    assert any("this-package-does-not-exist-hangar-test" in l for l in build)


def test_packages_txt_is_build_error_under_sandbox(hangar):
    repo = deploy(hangar, "apt", None, files={
        "README.md": "---\nsdk: gradio\n---\n", "app.py": "print(1)\n", "packages.txt": "curl\n"})
    rt = wait_stage(hangar, repo, "BUILD_ERROR", timeout=60)
    assert "packages.txt" in rt["errorMessage"]


def test_crash_loop_becomes_runtime_error(hangar):
    repo = deploy(hangar, "crash", "crash")
    rt = wait_stage(hangar, repo, "RUNTIME_ERROR", timeout=120)
    assert "exited with status 3" in rt["errorMessage"]
    assert "about to crash" in rt["errorMessage"]


def test_startup_timeout_names_the_port(hangar):
    repo = deploy(hangar, "port", "port_mismatch")
    rt = wait_stage(hangar, repo, "RUNTIME_ERROR", timeout=120)
    assert "the app listens on 8000, app_port is 7860" in rt["errorMessage"]


def test_oom_is_reported(hangar_factory):
    h = hangar_factory(extra_args=["--space-memory", "64"])
    repo = deploy(h, "oom", "oom")
    rt = wait_stage(h, repo, "RUNTIME_ERROR", timeout=120)
    assert "out of memory" in rt["errorMessage"]


def test_new_commit_switches_without_downtime(hangar):
    repo = deploy(hangar, "zd", "gradio_hello")
    wait_stage(hangar, repo, "RUNNING")
    api = client(hangar)
    api.upload_file(repo_id=repo, repo_type="space", path_in_repo="app.py",
                    path_or_fileobj=(APPS / "gradio_hello" / "app.py").read_bytes()
                    .replace(b"Hello {name}!", b"Bonjour {name}!"))
    stages = set()
    deadline = time.time() + 120
    while time.time() < deadline:
        stage = runtime(hangar, repo)["stage"]
        stages.add(stage)
        # Served the whole time.
        assert app_get(hangar, "admin-zd", "/").status_code == 200, stage
        if stage == "RUNNING" and len(stages) > 1:
            break
        time.sleep(0.1)
    assert stages & {"RUNNING_BUILDING", "RUNNING_APP_STARTING"}
    sha = api.space_info(repo).sha
    events = requests.get(f"{hangar.url}/api/spaces/{repo}/runtime").json()
    assert events["stage"] == "RUNNING"
    assert sha


def test_failed_build_keeps_old_version_serving(hangar):
    repo = deploy(hangar, "keep", "gradio_hello")
    wait_stage(hangar, repo, "RUNNING")
    client(hangar).upload_file(repo_id=repo, repo_type="space", path_in_repo="requirements.txt",
                               path_or_fileobj=b"no-such-package-hangar-xyz==1.0\n")
    deadline = time.time() + 120
    while time.time() < deadline:
        rt = runtime(hangar, repo)
        if rt.get("errorMessage"):
            break
        time.sleep(0.2)
    assert rt["stage"] == "RUNNING"
    assert "failed" in rt["errorMessage"]
    assert app_get(hangar, "admin-keep", "/").status_code == 200


def test_daemon_restart_brings_spaces_back(hangar_factory, tmp_path):
    h = hangar_factory(data_dir=tmp_path / "restart")
    repo = deploy(h, "back", "gradio_hello")
    wait_stage(h, repo, "RUNNING")
    assert h.stop() == 0
    h.start()
    wait_stage(h, repo, "RUNNING", timeout=60)
    assert app_get(h, "admin-back", "/").status_code == 200


def test_run_log_streams_live_and_tail(hangar):
    repo = deploy(hangar, "logs", None, files={
        "README.md": "---\nsdk: gradio\n---\n",
        "app.py": ("import http.server, threading, time\n"
                   "def tick():\n"
                   "    i = 0\n"
                   "    while True:\n"
                   "        print('tick', i, flush=True); i += 1; time.sleep(0.2)\n"
                   "threading.Thread(target=tick, daemon=True).start()\n"
                   "http.server.HTTPServer(('0.0.0.0', 7860),"
                   " http.server.SimpleHTTPRequestHandler).serve_forever()\n")})
    wait_stage(hangar, repo, "RUNNING")
    url = f"{hangar.url}/api/spaces/{repo}/logs/run"
    start = time.time()
    live = sse_events(url, hangar.headers(), timeout=10, until=lambda l: l == "tick 12")
    assert "tick 12" in live
    assert time.time() - start > 1  # followed while the app printed
    tail = sse_events(url + "?tail=2", hangar.headers(), timeout=2, max_events=2)
    assert len(tail) == 2 and all(l.startswith("tick") or "[hangar]" in l for l in tail)
    assert requests.get(url + "?tail=-1", headers=hangar.headers()).status_code == 400


ISOLATION_APP = r'''
import http.server, os, socket, sys
results = []
def check(name, fn):
    try:
        fn()
        results.append(f"{name}=ALLOWED")
    except Exception as e:
        results.append(f"{name}=DENIED")
data_dir = os.environ["PROBE_DATA"]
check("read_db", lambda: open(os.path.join(data_dir, "hangar.db"), "rb").read(1))
check("list_repos", lambda: os.listdir(os.path.join(data_dir, "repos")))
check("read_other", lambda: open(os.environ["PROBE_OTHER"], "rb").read(1))
check("daemon_proc", lambda: open(f"/proc/{os.environ['PROBE_PID']}/environ", "rb").read(1))
check("host_loopback", lambda: socket.create_connection(("127.0.0.1", int(os.environ["PROBE_PORT"])), timeout=2))
check("write_root", lambda: open("/usr/hangar-probe", "w"))
check("write_app", lambda: open("/app/probe.txt", "w").write("ok"))
check("write_data", lambda: open("/data/probe.txt", "w").write("ok"))
print("RESULTS " + " ".join(results), flush=True)
http.server.HTTPServer(("0.0.0.0", 7860), http.server.SimpleHTTPRequestHandler).serve_forever()
'''


def test_isolation_from_inside_a_space(hangar):
    other = deploy(hangar, "other", "gradio_hello")
    wait_stage(hangar, other, "RUNNING")
    other_file = next((hangar.data_dir / "builds").glob("*/*/app/app.py"))
    app = (ISOLATION_APP.replace('os.environ["PROBE_DATA"]', repr(str(hangar.data_dir)))
           .replace('os.environ["PROBE_OTHER"]', repr(str(other_file)))
           .replace("os.environ['PROBE_PID']", repr(str(hangar.proc.pid)))
           .replace('os.environ["PROBE_PORT"]', repr(str(hangar.port))))
    repo = deploy(hangar, "probe", None, files={"README.md": "---\nsdk: gradio\n---\n",
                                                 "app.py": app})
    wait_stage(hangar, repo, "RUNNING")
    lines = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/run", hangar.headers(), timeout=5,
                       until=lambda l: l.startswith("RESULTS"))
    results = dict(kv.split("=") for kv in
                   next(l for l in lines if l.startswith("RESULTS")).split()[1:])
    assert results == {"read_db": "DENIED", "list_repos": "DENIED", "read_other": "DENIED",
                       "daemon_proc": "DENIED", "host_loopback": "DENIED",
                       "write_root": "DENIED", "write_app": "ALLOWED", "write_data": "ALLOWED"}
    # Both spaces listen on 7860 and each answers for itself.
    assert app_get(hangar, "admin-other", "/").status_code == 200
    assert "probe" not in app_get(hangar, "admin-other", "/").text


def test_deleting_a_space_stops_its_processes(hangar):
    repo = deploy(hangar, "gone", "gradio_hello")
    wait_stage(hangar, repo, "RUNNING")
    client(hangar).delete_repo(repo, repo_type="space")
    deadline = time.time() + 20
    marker = "admin/gone"
    while time.time() < deadline:
        procs = [p for p in os.listdir("/proc") if p.isdigit()]
        alive = []
        for p in procs:
            try:
                env = open(f"/proc/{p}/environ", "rb").read()
            except OSError:
                continue
            if f"SPACE_ID={marker}".encode() in env:
                alive.append(p)
        if not alive:
            break
        time.sleep(0.2)
    assert not alive


PROBE_SETUP = r'''
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
out = ["PROBE uid=%d gid=%d" % (os.getuid(), os.getgid())]
targets = open(os.path.join(here, "targets.txt")).read().split()
for path in targets:
    try:
        with open(path, "rb") as f:
            f.read(1)
        out.append("PROBE read-ok " + path)
    except OSError as e:
        out.append("PROBE read-denied %s %s" % (path, e.strerror))
for path in ["/usr/probe", "/etc/probe", "/app/probe.txt", here + "/written"] + [
        os.path.dirname(t) + "/probe" for t in targets]:
    try:
        with open(path, "w") as f:
            f.write("x")
        out.append("PROBE write-ok " + path)
    except OSError as e:
        out.append("PROBE write-denied %s %s" % (path, e.strerror))
out.append("PROBE pids=%d" % len([p for p in os.listdir("/proc") if p.isdigit()]))
sys.stderr.write("\n".join(out) + "\n")
sys.exit(1)
'''


def test_build_runs_sandboxed(hangar):
    """Code a build runs (here a package's setup.py from requirements.txt) is
    a stranger's: it runs as the build user, sees none of Hangar's data nor
    other spaces, and writes nothing but its own environment."""
    other = deploy(hangar, "neighbour", "gradio_hello")
    data = hangar.data_dir.resolve()
    targets = [p for p in data.iterdir() if p.is_file()]
    targets += [p for p in (data / "repos").rglob("*") if p.is_file()][:3]
    targets += [Path(f"/proc/{hangar.proc.pid}/environ"), Path("/root/.bash_history")]
    assert len(targets) >= 4
    repo = deploy(hangar, "probe", "gradio_hello", files={
        "requirements.txt": "./probe\n",
        "probe/setup.py": PROBE_SETUP,
        "probe/targets.txt": "\n".join(str(t) for t in targets) + "\n"})
    rt = wait_stage(hangar, repo, "BUILD_ERROR", timeout=300)
    assert "failed" in rt["errorMessage"]
    lines = sse_events(f"{hangar.url}/api/spaces/{repo}/logs/build", hangar.headers(), timeout=5)
    probe = [l for l in lines if "PROBE " in l]
    assert any("PROBE uid=99999 gid=99999" in l for l in probe), "\n".join(lines[-40:])
    assert not [l for l in probe if "read-ok" in l or "write-ok" in l], "\n".join(probe)
    assert sum("read-denied" in l for l in probe) == len(targets), "\n".join(probe)
    pids = int(next(l for l in probe if "pids=" in l).split("pids=")[1].split()[0])
    assert pids < 10, "the build sees the host's processes"
    # Nothing was written next to the checkout, and the neighbour still builds.
    assert not list(data.glob("builds/*/*/app/probe/written"))
    wait_stage(hangar, other, "RUNNING")
