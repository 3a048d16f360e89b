#!/usr/bin/env python3
"""bench/load: Hangar under load (issue 11), on the optimised build.

1. Proxy: CLIENTS concurrent keep-alive clients (wrk) through Hangar's proxy
   to a running space (bench/nginx_space: nginx in the sandbox) for DURATION
   seconds, printed beside the same wrk run straight to an identical nginx on
   the host (the direct baseline), with the error counts; any error through
   the proxy fails the run.
2. Spaces: SPACES registered spaces with a tiny app each (a stdlib HTTP
   server), RUNNING of them kept running (sleep time -1) and the rest put to
   sleep after a short idle time; reports how long registering, committing
   and settling took and the daemon's own RSS once settled (target <= 50 MB).

Needs root (the sandbox runtime), wrk and nginx (make deps). Not part of
make test: `make bench-load` runs it (about 10 minutes on 2 cores).

usage: bench/load.py [--build build] [--duration 60] [--clients 1000]
                     [--spaces 1000] [--running 50] [--skip-proxy] [--skip-spaces]
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_" + "LoadBenchAdminToken" + "x" * 15
TINY_APP = """import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("SPACE_ID", "?").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("0.0.0.0", 7860), H).serve_forever()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, binary, work, extra):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = work / "data"
        self.log = work / "daemon.log"
        env = {**os.environ, "HANGAR_ADMIN_TOKEN": TOKEN}
        self.proc = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{self.port}",
                                      "--data", str(self.data), "--log", str(self.log), *extra],
                                     env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.call("GET", "/api/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("bench/load: the daemon did not start:\n" + self.log.read_text())

    def call(self, method, path, body=None, ctype="application/json"):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}",
                                              "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def create(self, name, sdk="gradio"):
        status, body = self.call("POST", "/api/repos/create",
                                 {"name": name, "type": "space", "sdk": sdk})
        if status != 200:
            raise SystemExit(f"bench/load: create {name}: {status} {body[:200]!r}")

    def commit(self, name, files):
        lines = [json.dumps({"key": "header", "value": {"summary": "bench", "description": ""}})]
        for path, content in files.items():
            data = content if isinstance(content, bytes) else content.encode()
            lines.append(json.dumps({"key": "file", "value": {
                "path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}}))
        status, body = self.call("POST", f"/api/spaces/admin/{name}/commit/main",
                                 ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
        if status != 200:
            raise SystemExit(f"bench/load: commit to {name}: {status} {body[:200]!r}")

    def stage(self, name):
        status, body = self.call("GET", f"/api/spaces/admin/{name}/runtime")
        return json.loads(body)["stage"] if status == 200 else f"HTTP {status}"

    def wait_stage(self, name, want, timeout=900):
        deadline = time.time() + timeout
        while time.time() < deadline:
            stage = self.stage(name)
            if stage == want:
                return
            if stage.endswith("ERROR"):
                raise SystemExit(f"bench/load: {name} is {stage}:\n" +
                                 self.call("GET", f"/api/spaces/admin/{name}/runtime")[1].decode())
            time.sleep(0.5)
        raise SystemExit(f"bench/load: {name} never reached {want}")

    def rss_kb(self):
        return status_kb(self.proc.pid, "VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def status_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_wrk(url, clients, duration, host=None):
    """wrk with keep-alive clients; (requests/s, latency fields, errors, raw output)."""
    threads = min(clients, max(2, os.cpu_count() or 2))
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--latency",
           "--timeout", "10s"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {k: re.search(rf"\s{k}\s+([\d.]+\w+)", out).group(1) for k in ("50%", "99%")}
    lat["avg"] = re.search(r"Latency\s+([\d.]+\w+)", out).group(1)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return rps, requests_done, lat, errors, out


def nginx_baseline(work):
    """An nginx on the host configured as bench/nginx_space's: the direct baseline."""
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
    uwsgi_temp_path {work}; scgi_temp_path {work};
    server {{ listen 127.0.0.1:{port}; location / {{ return 200 "hello world\\n"; }} }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-e", f"{work}/nginx-error.log"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench/load: the baseline nginx did not start")


class RssPeak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True
        self.start()

    def run(self):
        while self.running:
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            time.sleep(0.1)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def bench_proxy(d, work, clients, duration):
    print(f"== proxy: {clients} keep-alive clients for {duration} s (wrk)", flush=True)
    d.create("bench")
    d.call("POST", "/api/spaces/admin/bench/sleeptime", {"seconds": -1})
    folder = ROOT / "bench" / "nginx_space"
    d.commit("bench", {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()})
    d.wait_stage("bench", "RUNNING")
    nginx, port = nginx_baseline(work)
    try:
        rows = []
        watch = RssPeak(d.proc.pid)
        before = d.rss_kb()
        rows.append(("hangar proxy", *run_wrk(f"{d.url}/", clients, duration,
                                              host=f"admin-bench.localhost:{d.port}")))
        peak = watch.stop()
        rows.append(("direct nginx", *run_wrk(f"http://127.0.0.1:{port}/", clients, duration)))
    finally:
        nginx.terminate()
        nginx.wait()
    print(f"{'target':<14} {'req/s':>10} {'requests':>10} {'avg':>9} {'p50':>9} {'p99':>9} "
          f"{'errors':>7}")
    for name, rps, done, lat, errors, _ in rows:
        print(f"{name:<14} {rps:>10.0f} {done:>10} {lat['avg']:>9} {lat['50%']:>9} "
              f"{lat['99%']:>9} {errors:>7}")
    print(f"hangar/direct: {rows[0][1] / rows[1][1]:.2f}; daemon RSS {before / 1024:.1f} MB "
          f"before, peak {peak / 1024:.1f} MB under load", flush=True)
    if rows[0][4] != 0:
        print(rows[0][5], file=sys.stderr)
        statuses, notes = {}, []
        for line in d.log.read_text(errors="replace").splitlines():
            if line.startswith('{"type":"access"'):
                st = json.loads(line).get("status", 0)
                if st >= 400:
                    statuses[st] = statuses.get(st, 0) + 1
            elif " warn " in line or " error " in line:
                notes.append(line)
        print(f"daemon's answers >= 400: {statuses}; its last warnings:", file=sys.stderr)
        print("\n".join(notes[-15:]), file=sys.stderr)
        raise SystemExit(f"bench/load: {rows[0][4]} errors through the proxy")


def bench_spaces(d, nspaces, nrunning):
    print(f"== spaces: {nspaces} registered, {nrunning} running, the rest sleeping", flush=True)
    names = [f"s{i:04d}" for i in range(nspaces)]
    t = time.time()
    for name in names:
        d.create(name)
    register_s = time.time() - t
    print(f"registered {nspaces} spaces in {register_s:.1f} s "
          f"({register_s / nspaces * 1000:.1f} ms each)", flush=True)
    for name in names[:nrunning]:
        d.call("POST", f"/api/spaces/admin/{name}/sleeptime", {"seconds": -1})
    t = time.time()
    for name in names:
        d.commit(name, {"README.md": "---\nsdk: gradio\n---\n", "app.py": TINY_APP})
    commit_s = time.time() - t
    print(f"committed an app to each in {commit_s:.1f} s "
          f"({commit_s / nspaces * 1000:.1f} ms each)", flush=True)
    t = time.time()
    deadline = t + 3600
    while time.time() < deadline:
        stages = {}
        for name in names:
            stages.setdefault(d.stage(name), []).append(name)
        counts = {k: len(v) for k, v in sorted(stages.items())}
        print(f"  {time.time() - t:6.0f} s  {counts}  daemon RSS {d.rss_kb() / 1024:.1f} MB",
              flush=True)
        errors = [n for k, v in stages.items() if k.endswith("ERROR") for n in v]
        if errors:
            raise SystemExit(f"bench/load: failed spaces: {errors[:10]}")
        running = set(stages.get("RUNNING", []))
        if running == set(names[:nrunning]) and len(stages.get("SLEEPING", [])) == \
                nspaces - nrunning:
            break
        time.sleep(5)
    else:
        raise SystemExit("bench/load: the spaces did not settle within an hour")
    settle_s = time.time() - t
    # every running space answers through the proxy, as itself
    for name in names[:nrunning]:
        req = urllib.request.Request(f"{d.url}/", headers={
            "Host": f"admin-{name}.localhost:{d.port}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.read().decode() == f"admin/{name}", name
    time.sleep(2)
    rss = d.rss_kb()
    fds = len(os.listdir(f"/proc/{d.proc.pid}/fd"))
    print(f"settled in {settle_s:.0f} s: {nrunning} RUNNING, {nspaces - nrunning} SLEEPING; "
          f"daemon RSS {rss / 1024:.1f} MB (target <= 50 MB), "
          f"RssAnon {status_kb(d.proc.pid, 'RssAnon') / 1024:.1f} MB, {fds} open files",
          flush=True)
    return rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "60")))
    ap.add_argument("--clients", type=int, default=int(os.environ.get("CLIENTS", "1000")))
    ap.add_argument("--spaces", type=int, default=int(os.environ.get("SPACES", "1000")))
    ap.add_argument("--running", type=int, default=int(os.environ.get("RUNNING", "50")))
    ap.add_argument("--skip-proxy", action="store_true")
    ap.add_argument("--skip-spaces", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/load: needs root (the sandbox runtime)")
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"bench/load: {tool} is missing (make deps)")
    subprocess.run(["make", "--no-print-directory", "-s", f"BUILD={args.build}",
                    f"{args.build}/hangar"], cwd=ROOT, check=True)
    binary = ROOT / args.build / "hangar"
    work = Path(tempfile.mkdtemp(prefix="hangar-load."))
    d = Daemon(binary, work, ["--sleep-time", "5", "--build-concurrency", "2"])
    try:
        if not args.skip_proxy:
            bench_proxy(d, work, args.clients, args.duration)
        if not args.skip_spaces:
            bench_spaces(d, args.spaces, args.running)
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
