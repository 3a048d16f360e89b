"""Issue 10: the first-run experience. `scripts/run.sh` (what `make run` runs)
starts Hangar, seeds the example spaces through its own API, and each one
reaches RUNNING and answers a real prediction through its own address.

The text-similarity example needs PyTorch (gigabytes): it runs in
`make test-examples` (HANGAR_TEST_HEAVY_EXAMPLES=1), not in `make test`."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, free_port
from spaces_util import resolve_localhost_subdomains

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="spaces need root")

HEAVY = os.environ.get("HANGAR_TEST_HEAVY_EXAMPLES") == "1"


def examples():
    names = ["static-page", "iris-classifier"]
    if shutil.which("podman") and os.environ.get("HANGAR_TEST_NO_PODMAN") != "1":
        names.append("fastapi-docker")
    if HEAVY:
        names.append("text-similarity")
    return names


class Run:
    def __init__(self, tmp_path, names):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = tmp_path / "data"
        self.log_path = tmp_path / "run.log"
        env = dict(os.environ, HANGAR_DATA=str(self.data), HANGAR_LISTEN=f"127.0.0.1:{self.port}",
                   HANGAR_EXAMPLES=" ".join(names), HOME=os.environ.get("HOME", "/root"))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh")], cwd=ROOT,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError("run.sh exited:\n" + self.output())
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in:\n" + self.output())

    def token(self):
        return (self.data / "admin.token").read_text().strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        self.log.close()
        return rc


def wait_running(run, repo, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rt = requests.get(f"{run.url}/api/spaces/{repo}/runtime",
                          headers={"Authorization": f"Bearer {run.token()}"}).json()
        if rt["stage"] == "RUNNING":
            return
        assert rt["stage"] not in ("BUILD_ERROR", "CONFIG_ERROR", "RUNTIME_ERROR",
                                   "NO_APP_FILE"), rt
        time.sleep(1)
    raise AssertionError(f"{repo} not RUNNING: {rt}\n{run.output()[-3000:]}")


def app(run, name, path="/", **kw):
    host = f"admin-{name}.localhost:{run.port}"
    method = kw.pop("method", "get")
    return getattr(requests, method)(f"{run.url}{path}", headers={"Host": host}, timeout=30, **kw)


def test_first_run_seeds_examples_and_they_answer(tmp_path):
    names = examples()
    run = Run(tmp_path, names)
    try:
        run.wait_for("Stop with Ctrl-C.")  # the whole message (written in pieces)
        out = run.output()
        assert run.token() in out
        for name in names:
            assert f"http://admin-{name}.localhost:{run.port}/" in out
        who = requests.get(f"{run.url}/api/whoami-v2",
                           headers={"Authorization": f"Bearer {run.token()}"}).json()
        assert who["name"] == "admin"
        for name in names:
            wait_running(run, f"admin/{name}", timeout=1800 if name == "text-similarity" else 300)

        assert "Welcome to Hangar" in app(run, "static-page").text

        from gradio_client import Client
        real = resolve_localhost_subdomains()
        try:
            iris = Client(f"http://admin-iris-classifier.localhost:{run.port}/", verbose=False)
            label, _plot = iris.predict(5.1, 3.5, 1.4, 0.2, api_name="/predict")
            assert label["label"] == "setosa"
            if "text-similarity" in names:
                sim = Client(f"http://admin-text-similarity.localhost:{run.port}/", verbose=False)
                close = sim.predict("A cat sits on the mat.", "A kitten rests on a rug.",
                                    api_name="/predict")
                far = sim.predict("A cat sits on the mat.", "Stock prices fell sharply.",
                                  api_name="/predict")
                assert close > far
        finally:
            import socket
            socket.getaddrinfo = real

        if "fastapi-docker" in names:
            r = app(run, "fastapi-docker", "/predict", method="post",
                    json={"text": "what a wonderful experience"})
            assert r.json()["label"] == "positive"
    finally:
        rc = run.stop()
    assert rc == 0, run.output()[-3000:]

    # A second run reuses everything: no new commit, serving again quickly.
    run = Run(tmp_path, names)
    try:
        start = time.time()
        run.wait_for("Stop with Ctrl-C.")  # the whole message (written in pieces)
        wait_running(run, "admin/static-page", timeout=60)
        wait_running(run, "admin/iris-classifier", timeout=120)
        second_start = time.time() - start
        commits = requests.get(f"{run.url}/api/spaces/admin/static-page/commits/main",
                               headers={"Authorization": f"Bearer {run.token()}"}).json()
        assert len(commits) == 1
    finally:
        assert run.stop() == 0
    print(f"second make run serving iris in {second_start:.1f} s")
