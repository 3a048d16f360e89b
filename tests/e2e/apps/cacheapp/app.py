"""Reads model files from the shared cache through huggingface_hub, offline,
on each request: what it read, where the file really is, and whether it can
write there (it must not)."""
import errno
import http.server
import json
import os

from huggingface_hub import hf_hub_download


def read(repo_id, filename, **kw):
    try:
        path = hf_hub_download(repo_id, filename, **kw)
    except Exception as e:  # noqa: BLE001 - the test reads the error
        return {"error": type(e).__name__ + ": " + str(e)[:300]}
    out = {"text": open(path).read(), "real": os.path.realpath(path)}
    try:
        with open(path, "a") as f:
            f.write("x")
        out["write"] = "allowed"
    except OSError as e:
        out["write"] = errno.errorcode.get(e.errno, str(e.errno))
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "env": {k: os.environ.get(k) for k in ("HF_HUB_CACHE", "HF_HUB_OFFLINE")},
            "read_only_mount": bool(os.statvfs("/hub-cache").f_flag & os.ST_RDONLY),
            "local": read("alice/tiny", "config.json"),
            "fetched": read("admin/weights", "model.txt", repo_type="space"),
            "preloaded": read("admin/pre", "weights.txt", repo_type="space"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
