"""A Docker space: who it runs as, what it was given, and a /data note."""
import hashlib
import os
import uuid

from fastapi import FastAPI

VERSION = "v1"
BOOT = uuid.uuid4().hex  # changes with every start
NOTE = "/data/note.txt"
app = FastAPI()


def secret_hash():
    value = os.environ.get("API_KEY")
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value else None


print(f"run: uid {os.getuid()} version {VERSION} secret sha256 {secret_hash()}", flush=True)


@app.get("/")
def root():
    return {"uid": os.getuid(), "gid": os.getgid(), "version": VERSION, "boot": BOOT,
            "greeting": os.environ.get("GREETING"), "secret_sha256": secret_hash(),
            "space_id": os.environ.get("SPACE_ID")}


@app.get("/note")
def read_note():
    try:
        with open(NOTE) as f:
            return {"note": f.read()}
    except FileNotFoundError:
        return {"note": None}


@app.put("/note/{text}")
def write_note(text: str):
    with open(NOTE, "w") as f:
        f.write(text)
    return {"note": text}


@app.get("/eat")
def eat():
    """Allocates memory until the container's limit kills it."""
    hog = []
    while True:
        hog.append(bytearray(16 << 20))
