"""A Docker space that fills /data on request (/write?name=N&mb=M answers what
was written and the error, ENOSPC when full) and reads the shared model cache
(/cache: HF_HUB_CACHE, whether it is mounted read-only, a cached file)."""
import errno
import glob
import http.server
import json
import os
import urllib.parse


def write(name, mb):
    written, error = 0, None
    block = b"\x5a" * (1 << 20)
    try:
        with open(os.path.join("/data", name), "wb") as f:
            for _ in range(mb):
                f.write(block)
                f.flush()
                os.fsync(f.fileno())
                written += len(block)
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e.errno))
    return {"written": written, "error": error}


def cache():
    root = os.environ.get("HF_HUB_CACHE", "")
    files = glob.glob(os.path.join(root, "models--alice--tiny", "snapshots", "*", "config.json"))
    return {"HF_HUB_CACHE": root,
            "read_only_mount": bool(os.statvfs(root).f_flag & os.ST_RDONLY) if root else None,
            "config": open(files[0]).read() if files else None}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        out = (write(q["name"], int(q["mb"])) if url.path == "/write"
               else cache() if url.path == "/cache" else {"ok": True})
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
