import http.server

server = http.server.HTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler)
print("listening on 8000", flush=True)
server.serve_forever()
