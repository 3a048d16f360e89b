"""Measures how long an app-only change of a Gradio space takes to serve.

cold   : create the space, upload it; until its address answers (environment
         built from requirements with a warm download cache, then started)
rebuild: upload a changed app.py; until its address answers with the change
         (the environment is reused: checkout, start beside the old version,
         health check, switch)
"""
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
TOKEN = "hf_" + "BenchRebuildToken" + "x" * 17

APP = '''import gradio as gr
with gr.Blocks(title="VERSION") as demo:
    gr.Markdown("VERSION")
demo.launch()
'''
README = "---\nsdk: gradio\napp_file: app.py\n---\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, host, text, timeout=600):
    start = time.time()
    while time.time() - start < timeout:
        try:
            r = requests.get(url, headers={"Host": host}, timeout=5)
            if r.status_code == 200 and text in r.text:
                return time.time() - start
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {text!r}")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    port = free_port()
    data = tempfile.mkdtemp(prefix="hangar-bench-")
    env = dict(os.environ, HANGAR_ADMIN_TOKEN=TOKEN,
               HANGAR_UV_CACHE=os.environ.get("HANGAR_UV_CACHE",
                                              str(Path.home() / ".cache/hangar/uv")))
    uv = Path(os.environ.get("HANGAR_VENV", Path.home() / ".cache/hangar/venv")) / "bin/uv"
    if uv.exists():
        env.setdefault("HANGAR_UV", str(uv))
    log = open(Path(data).parent / (Path(data).name + ".log"), "wb")
    proc = subprocess.Popen([str(ROOT / "build/hangar"), "serve", "--listen",
                             f"127.0.0.1:{port}", "--data", data], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(url + "/api/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        api = HfApi(endpoint=url, token=TOKEN)
        repo = "admin/bench"
        host = f"admin-bench.localhost:{port}"
        api.create_repo(repo, repo_type="space", space_sdk="gradio")
        start = time.time()
        api.upload_file(repo_id=repo, repo_type="space", path_in_repo="README.md",
                        path_or_fileobj=README.encode())
        api.upload_file(repo_id=repo, repo_type="space", path_in_repo="app.py",
                        path_or_fileobj=APP.replace("VERSION", "v0").encode())
        wait_for(url + "/", host, "v0")
        cold = time.time() - start
        times = []
        for i in range(1, rounds + 1):
            start = time.time()
            api.upload_file(repo_id=repo, repo_type="space", path_in_repo="app.py",
                            path_or_fileobj=APP.replace("VERSION", f"v{i}").encode())
            wait_for(url + "/", host, f"v{i}")
            times.append(time.time() - start)
        print(f"{'what':<34} {'seconds':>8}")
        print(f"{'cold build + start (first commit)':<34} {cold:>8.2f}")
        print(f"{'app-only change, median of ' + str(rounds):<34} {statistics.median(times):>8.2f}")
        print(f"{'app-only change, max':<34} {max(times):>8.2f}")
        print(f"rebuild/cold ratio: {statistics.median(times) / cold:.2f}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
