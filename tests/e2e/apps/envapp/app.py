"""Prints its environment (what Hangar gave it) and serves HTTP on 7860."""
import http.server
import json
import os

KEYS = ["SPACE_ID", "CPU_CORES", "MEMORY", "ACCELERATOR", "CUDA_VISIBLE_DEVICES", "GREETING",
        "API_KEY"]
env = {k: os.environ.get(k) for k in KEYS}
# the GPU nodes it was given (tests configure fake ones named fakegpu*)
env["GPU_NODES"] = sorted(n for n in os.listdir("/dev") if n.startswith(("nvidia", "fakegpu")))
print("ENV " + json.dumps(env), flush=True)
print("secret is " + str(os.environ.get("API_KEY")), flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"greeting": os.environ.get("GREETING"),
                           "has_secret": bool(os.environ.get("API_KEY"))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
