"""A small HTTP/1.1 app for the proxy's tests (stdlib only).

Run by the unit tests, it prints its port on the first line of stdout and
serves until stdin closes. Deployed as a space's app.py by the end-to-end
tests (SPACE_ID is set), it serves on 7860 until stopped.
Routes:
  /hello             12-byte body, Content-Length
  /headers           the request line and headers as JSON
  /echo              the request body back (Content-Length), any method
  /upload            reads the body slowly at first; answers "<bytes> <sha256>"
  /download?n=N      N bytes of a repeating pattern, Content-Length
  /chunked           a chunked response in three chunks
  /sse               event 1, then waits for GET /release, then event 2 and the end
  /release           lets /sse go on
  /hang              never answers
  /cut               announces 100 bytes, sends 10, closes
  /close             answers with Connection: close
  /count             how many requests this app has seen (before this one)
  /drop-next         answers, then drops the next request on the same connection
                     unanswered (an app closing a keep-alive connection as the
                     proxy reuses it)
  /ws                WebSocket echo (text and binary frames, close)
"""
import asyncio
import base64
import hashlib
import json
import os
import sys

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
release = None
seen = 0


async def read_head(reader):
    line = await reader.readline()
    if not line:
        return None
    method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers = []
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return method, target, version, headers


def header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def body_chunks(reader, headers):
    te = header(headers, "transfer-encoding")
    if te and te.lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return
            yield await reader.readexactly(size)
            await reader.readexactly(2)
    length = int(header(headers, "content-length") or 0)
    while length > 0:
        piece = await reader.read(min(length, 65536))
        if not piece:
            raise ConnectionError("body cut")
        length -= len(piece)
        yield piece


def respond(writer, status, body=b"", extra=()):
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra, "", ""]
    writer.write("\r\n".join(head).encode() + body)


async def websocket(reader, writer, headers):
    key = header(headers, "sec-websocket-key").encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(n)))
        opcode = b0 & 0x0F
        out = bytes([0x80 | opcode])
        out += bytes([len(data)]) if len(data) < 126 else bytes([126]) + len(data).to_bytes(2, "big")
        writer.write(out + data)
        await writer.drain()
        if opcode == 8:
            writer.close()
            return


async def handle(reader, writer):
    global seen
    drop_next = False
    try:
        while True:
            head = await read_head(reader)
            if head is None or drop_next:
                break
            method, target, _, headers = head
            path, _, query = target.partition("?")
            if path.startswith("/delayed"):
                path = path[len("/delayed"):]
            count, seen = seen, seen + 1
            if path == "/ws":
                await websocket(reader, writer, headers)
                return
            if path == "/upload":
                await asyncio.sleep(0.5)  # let the proxy's buffers fill first
                h, n = hashlib.sha256(), 0
                async for piece in body_chunks(reader, headers):
                    h.update(piece)
                    n += len(piece)
                respond(writer, 200, f"{n} {h.hexdigest()}".encode())
            else:
                body = b"".join([c async for c in body_chunks(reader, headers)])
                if path == "/hello":
                    respond(writer, 200, b"hello world\n")
                elif path == "/headers":
                    info = {"request": f"{method} {target}", "headers": headers}
                    respond(writer, 200, json.dumps(info).encode())
                elif path == "/echo":
                    respond(writer, 200, body)
                elif path == "/count":
                    respond(writer, 200, str(count).encode())
                elif path == "/drop-next":
                    respond(writer, 200, b"dropping the next one")
                    drop_next = True
                elif path == "/download":
                    n = int(query.split("=")[1])
                    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n".encode())
                    block = bytes(range(256)) * 256
                    while n > 0:
                        writer.write(block[:min(n, len(block))])
                        n -= min(n, len(block))
                        await writer.drain()
                elif path == "/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for part in (b"one,", b"two,", b"three"):
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                elif path == "/sse":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    ev = b"data: 1\n\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                    await writer.drain()
                    await release.wait()
                    release.clear()
                    ev = b"data: 2\n\n"
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ev), ev))
                elif path == "/release":
                    release.set()
                    respond(writer, 200, b"ok")
                elif path == "/hang":
                    await asyncio.sleep(3600)
                elif path == "/cut":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    await writer.drain()
                    break
                elif path == "/close":
                    respond(writer, 200, b"bye", ("Connection: close",))
                    await writer.drain()
                    break
                else:
                    respond(writer, 404, b"no")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    writer.close()


async def main():
    global release
    release = asyncio.Event()
    if os.environ.get("SPACE_ID"):
        await asyncio.sleep(float(os.environ.get("STARTUP_DELAY", "0")))  # a slow app
        server = await asyncio.start_server(handle, "0.0.0.0", 7860)
        print("proxy test app on 7860", flush=True)
        await server.serve_forever()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
