"""Writes into /data on request and says what happened: /write?name=N&mb=M
writes M MiB to /data/N and answers how much was written and the error
(ENOSPC when /data is full); /ls lists /data with sizes; / answers ok."""
import errno
import http.server
import json
import os
import urllib.parse


def write(name, mb):
    written, error = 0, None
    block = b"\xa5" * (1 << 20)
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


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/write":
            out = write(q["name"], int(q["mb"]))
        elif url.path == "/ls":
            out = {n: os.path.getsize(os.path.join("/data", n)) for n in os.listdir("/data")}
        else:
            out = {"ok": True}
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
