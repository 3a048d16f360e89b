"""Reads its weights (an LFS file) and prints their sha256 in the run log,
then serves HTTP on 7860: the app must see the real bytes, not a pointer."""
import hashlib
import http.server

digest = hashlib.sha256()
size = 0
with open("weights.bin", "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
print(f"WEIGHTS {digest.hexdigest()} {size}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = digest.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
