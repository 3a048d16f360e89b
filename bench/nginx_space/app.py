"""A trivial backend for bench/proxy: nginx answering 12 bytes on 7860."""
import os

CONF = """worker_processes 1;
daemon off;
master_process off;
pid /tmp/nginx.pid;
error_log /tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp;
    uwsgi_temp_path /tmp; scgi_temp_path /tmp;
    server { listen 7860; location / { return 200 "hello world\\n"; } }
}
"""
with open("/tmp/nginx.conf", "w") as f:
    f.write(CONF)
for path in ("/usr/sbin/nginx", "/usr/bin/nginx"):
    if os.path.exists(path):
        os.execv(path, [path, "-c", "/tmp/nginx.conf", "-e", "/tmp/nginx-error.log"])
raise SystemExit("nginx is not installed")
