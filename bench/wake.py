"""Cold start of a sleeping space on its first request, beside the same app's
bare start, from one run.

For each app (a stdlib-only HTTP app and a Gradio app):
  bare   start the app directly with the same Python environment Hangar built
         for it (no sandbox, no Hangar), then request / every millisecond until
         it answers: time from the start to the first byte of the answer.
  wake   the space asleep in Hangar (sleep time 1 s, stage SLEEPING), one
         request to its address: time from sending it to the first byte of the
         answer (the wake: sandbox start, app start, health check, forward).
WAKE_APPS="stdlib" measures only the apps named; WAKE_KEEP_LOG=1 keeps the
daemon's log. Each is measured ROUNDS times, alternating, and printed as p50, p90, p99 and max
(p99 is the maximum below 100 rounds);
"added" is wake minus bare at the median.
"""
import glob
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from huggingface_hub import HfApi

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "BenchWakeToken" + "x" * 20
GRADIO_APP = ROOT / "tests" / "e2e" / "apps" / "gradio_hello" / "app.py"
STDLIB_APP = '''import http.server, os

class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "12")
        self.end_headers()
        self.wfile.write(b"hello world\\n")

    def log_message(self, *args):
        pass

port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
http.server.ThreadingHTTPServer((os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), port),
                                Hello).serve_forever()
'''
README = "---\nsdk: gradio\napp_file: app.py\n---\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_byte(port, host):
    """Sends GET / and returns when the first byte of the answer arrives;
    None when the connection is refused or closed unanswered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n"
                      "Connection: close\r\n\r\n".encode())
            got = s.recv(1)
            return got or None
    except (ConnectionRefusedError, ConnectionResetError):
        return None


def stage(url, repo):
    r = requests.get(f"{url}/api/spaces/{repo}/runtime",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return r.json()["stage"]


def wait_stage(url, repo, want, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = stage(url, repo)
        if s == want:
            return
        if s in ("BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE"):
            raise SystemExit(f"{repo}: {s}")
        time.sleep(0.1)
    raise SystemExit(f"{repo} never reached {want}")


def measure_wake(url, port, repo, subdomain):
    wait_stage(url, repo, "SLEEPING")
    time.sleep(0.2)  # the stop finished: the sandbox is gone, not just flagged
    t0 = time.perf_counter()
    if first_byte(port, f"{subdomain}.localhost:{port}") is None:
        raise SystemExit(f"{repo}: the wake request got no answer")
    return time.perf_counter() - t0


def app_environment(port):
    # What the sandbox gives the app that changes how it starts.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONUNBUFFERED="1", LANG="C.UTF-8")
    return env


def measure_bare(python, app_dir):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "app.py"], cwd=app_dir, env=app_environment(port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while first_byte(port, f"127.0.0.1:{port}") is None:
            if proc.poll() is not None:
                raise SystemExit(f"{app_dir}: the app exited with {proc.returncode}")
            time.sleep(0.001)
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)


def built_app_dir(data, content):
    for path in glob.glob(f"{data}/builds/*/*/app/app.py"):
        if Path(path).read_text() == content:
            return str(Path(path).parent)
    raise SystemExit("the built app was not found under builds/")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    binary = os.environ.get("HANGAR_BIN", str(ROOT / "build" / "hangar"))
    port = free_port()
    data = tempfile.mkdtemp(prefix="hangar-bench-wake-")
    env = dict(os.environ, HANGAR_ADMIN_TOKEN=TOKEN,
               HANGAR_UV_CACHE=os.environ.get("HANGAR_UV_CACHE",
                                              str(Path.home() / ".cache/hangar/uv")))
    uv = Path(os.environ.get("HANGAR_VENV", Path.home() / ".cache/hangar/venv")) / "bin/uv"
    if uv.exists():
        env.setdefault("HANGAR_UV", str(uv))
    log_path = data + ".log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(url + "/api/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        api = HfApi(endpoint=url, token=TOKEN)
        apps = {"stdlib": STDLIB_APP, "gradio": GRADIO_APP.read_text()}
        only = os.environ.get("WAKE_APPS", "").split()
        apps = {k: v for k, v in apps.items() if not only or k in only}
        for name, code in apps.items():
            repo = f"admin/wake-{name}"
            api.create_repo(repo, repo_type="space", space_sdk="gradio")
            api.upload_file(repo_id=repo, repo_type="space", path_in_repo="README.md",
                            path_or_fileobj=README.encode())
            api.upload_file(repo_id=repo, repo_type="space", path_in_repo="app.py",
                            path_or_fileobj=code.encode())
        pythons = []
        for name in apps:
            wait_stage(url, f"admin/wake-{name}", "RUNNING")
            api.set_space_sleep_time(f"admin/wake-{name}", 1)
        pythons = glob.glob(f"{data}/cache/envs/*/bin/python")
        if len(pythons) != 1:
            raise SystemExit(f"expected one built environment, found {pythons}")
        results = {}
        for name, code in apps.items():
            repo, sub = f"admin/wake-{name}", f"admin-wake-{name}"
            app_dir = built_app_dir(data, code)
            bare, wake = [], []
            for i in range(rounds):
                bare.append(measure_bare(pythons[0], app_dir))
                wake.append(measure_wake(url, port, repo, sub))
                print(f"  {name} round {i + 1}/{rounds}: bare {bare[-1] * 1000:.0f} ms, "
                      f"wake {wake[-1] * 1000:.0f} ms", file=sys.stderr, flush=True)
            results[name] = (bare, wake)
        print(f"cold start to first byte, {rounds} rounds each (ms)")
        print(f"{'app':<8} {'bare p50':>9} {'p90':>7} {'p99':>7} {'max':>7}   {'wake p50':>9} "
              f"{'p90':>7} {'p99':>7} {'max':>7}   {'added p50':>9} {'p99':>7}")
        for name, (bare, wake) in results.items():
            b50, w50 = statistics.median(bare), statistics.median(wake)
            print(f"{name:<8} {b50 * 1e3:>9.0f} {pct(bare, 90) * 1e3:>7.0f}"
                  f" {pct(bare, 99) * 1e3:>7.0f} {max(bare) * 1e3:>7.0f}"
                  f"   {w50 * 1e3:>9.0f} {pct(wake, 90) * 1e3:>7.0f}"
                  f" {pct(wake, 99) * 1e3:>7.0f} {max(wake) * 1e3:>7.0f}"
                  f"   {(w50 - b50) * 1e3:>9.0f} {(pct(wake, 99) - pct(bare, 99)) * 1e3:>7.0f}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
        subprocess.run(["rm", "-rf", data])
        if os.environ.get("WAKE_KEEP_LOG"):
            print(f"daemon log: {log_path}")
        else:
            os.unlink(log_path)


if __name__ == "__main__":
    main()
