"""A hostile space (tests/e2e/test_isolation.py). Each GET tries one way out
of the space and answers, as JSON, what happened: the test decides whether
that was contained. Standard library only, so that it builds in seconds."""
import errno
import http.server
import json
import os
import signal
import socket
import time
import urllib.parse

PORT = int(os.environ.get("PORT", "7860"))
ME = os.environ.get("SPACE_ID", "?")

# Something of its own for the other spaces to try to read.
try:
    with open("/data/marker.txt", "w") as f:
        f.write("marker of " + ME)
except OSError:
    pass


def failure(e):
    return {"ok": False, "error": f"{type(e).__name__}: {e}",
            "errno": errno.errorcode.get(getattr(e, "errno", None) or 0, "")}


def read(q):
    path = q["path"]
    try:
        link = os.path.islink(path)
        with open(path, "rb") as f:
            data = f.read(4096)
        return {"ok": True, "islink": link, "data": data.decode("latin-1")}
    except OSError as e:
        return failure(e)


def listdir(q):
    try:
        return {"ok": True, "entries": sorted(os.listdir(q["path"]))[:50]}
    except OSError as e:
        return failure(e)


def write(q):
    try:
        with open(q["path"], "w") as f:
            f.write("written by " + ME)
        return {"ok": True}
    except OSError as e:
        return failure(e)


def connect(q):
    """TCP to host:port; what answers a GET /whoami there, if anything."""
    try:
        with socket.create_connection((q["host"], int(q["port"])), timeout=3) as s:
            s.settimeout(3)
            s.sendall(b"GET /whoami HTTP/1.0\r\nHost: x\r\n\r\n")
            reply = b""
            try:
                while len(reply) < 4096:
                    piece = s.recv(4096)
                    if not piece:
                        break
                    reply += piece
            except OSError:
                pass
            return {"ok": True, "reply": reply.decode("latin-1")}
    except OSError as e:
        return failure(e)


def unix(q):
    path = q["path"]
    if path.startswith("@"):
        path = "\0" + path[1:]  # an abstract socket (named per network namespace)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(path)
            return {"ok": True}
    except OSError as e:
        return failure(e)


def forkbomb(q):
    """Forks sleeping children until fork fails; then kills them all."""
    children, err = [], None
    limit = int(q.get("max", "5000"))
    while len(children) < limit:
        try:
            pid = os.fork()
        except OSError as e:
            err = failure(e)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    return {"ok": err is None, "forked": len(children), "failure": err}


def memory(q):
    """Grows until the memory limit stops it (this process is expected to die)."""
    hog = []
    while True:
        hog.append(bytearray(8 * 1024 * 1024))


def fill(q):
    """Writes up to mb MiB into path; reports how far it got; removes the file."""
    path, mb = q["path"], int(q["mb"])
    written, err = 0, None
    chunk = b"x" * (1024 * 1024)
    try:
        with open(path, "wb") as f:
            for _ in range(mb):
                f.write(chunk)
                f.flush()
                written += len(chunk)
            os.fsync(f.fileno())
    except OSError as e:
        err = failure(e)
    try:
        os.unlink(path)
    except OSError:
        pass
    return {"ok": err is None, "written": written, "failure": err}


def cgroup(q):
    """Tries to lift its own limits through the cgroup file system."""
    results = {}
    try:
        lines = open("/proc/self/cgroup").read().split("\n")
    except OSError as e:
        return failure(e)
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name, value in (("memory.max", "max"), ("pids.max", "max"),
                            ("memory.limit_in_bytes", "-1"), ("cgroup.procs", "1")):
            for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"):
                path = base + parts[2] + "/" + name
                try:
                    with open(path, "w") as f:
                        f.write(value)
                    results[path] = "WRITTEN"
                except OSError as e:
                    results[path] = type(e).__name__
    return {"ok": "WRITTEN" in results.values(), "attempts": results}


ROUTES = {"/read": read, "/list": listdir, "/write": write, "/connect": connect, "/unix": unix,
          "/forkbomb": forkbomb, "/memory": memory, "/fill": fill, "/cgroup": cgroup}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/whoami":
            body = ME.encode()
            ctype = "text/plain"
        elif url.path in ROUTES:
            body = json.dumps(ROUTES[url.path](q)).encode()
            ctype = "application/json"
        else:
            body = f"hostile app {ME}".encode()
            ctype = "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


print(f"hostile app {ME} listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
