"""Issue 3, items 3-6: the HF upload and read API (preupload, commit, tree, paths-info,
resolve, validate-yaml) with the real huggingface_hub client, and every bad input."""
import base64
import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from test_foundation import raw_request

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi  # noqa: E402
from huggingface_hub import hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError,  # noqa: E402
                                    RemoteEntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)

SPACE = "admin/demo"
FILES = {
    "README.md": b"---\ntitle: Demo\nsdk: static\n---\n# Demo\n",
    "index.html": b"<!doctype html><p>hello</p>\n",
    "app.py": b"print('hello')\n",
    "empty.txt": b"",
    # No NUL byte: a regular file (a NUL would send it through LFS, see test_lfs.py).
    "data/blob.bin": bytes(range(1, 256)) * 40,
    "data/deep/nested/notes.txt": "caf\u00e9 \u2615\n".encode(),
    "static/style.css": b"p { color: red }\n",
}


def git_blob_sha(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def api(hangar, token=None):
    return HfApi(endpoint=hangar.url, token=token or hangar.admin_token)


def create(hangar, name="demo", token=None, private=False, sdk="static"):
    r = requests.post(hangar.url + "/api/repos/create", headers=hangar.headers(token),
                      json={"name": name, "type": "space", "sdk": sdk, "private": private})
    assert r.status_code == 200, r.text


def head(hangar, space=SPACE):
    r = requests.get(f"{hangar.url}/api/spaces/{space}", headers=hangar.headers())
    assert r.status_code == 200, r.text
    return r.json()["sha"]


def write_tree(root, files):
    for path, data in files.items():
        p = Path(root) / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def read_tree(root, skip=(".cache", ".git")):
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not any(part in skip for part in p.relative_to(root).parts)}


@pytest.fixture
def bob(hangar):
    return hangar.cli("user", "add", "bob").stdout.strip()


@pytest.fixture
def demo(hangar, tmp_path):
    """admin/demo with FILES committed by upload_folder; returns the commit info."""
    create(hangar)
    folder = tmp_path / "src"
    write_tree(folder, FILES)
    info = api(hangar).upload_folder(repo_id=SPACE, repo_type="space", folder_path=folder,
                                     commit_message="First upload")
    return info


def ndjson(*lines):
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


def header(summary="msg", **extra):
    return {"key": "header", "value": {"summary": summary, "description": "", **extra}}


def add_line(path, data=b"x"):
    return {"key": "file", "value": {"path": path, "encoding": "base64",
                                     "content": base64.b64encode(data).decode()}}


def post_commit(hangar, body, token=None, rev="main", space=SPACE, query=""):
    return requests.post(f"{hangar.url}/api/spaces/{space}/commit/{rev}{query}", data=body,
                         headers={**hangar.headers(token),
                                  "Content-Type": "application/x-ndjson"})


def raw_exchange(port, data, read_timeout=10.0):
    return raw_request(port, data, read_timeout)


# ---- the happy paths with the real client ------------------------------------------------

def test_upload_folder_and_read_everything_back(hangar, demo, tmp_path):
    client = api(hangar)
    assert demo.oid == head(hangar)
    assert demo.commit_url == f"{hangar.url}/spaces/{SPACE}/commit/{demo.oid}"
    assert client.repo_info(SPACE, repo_type="space").sha == demo.oid

    assert sorted(client.list_repo_files(SPACE, repo_type="space")) == sorted(FILES)

    top = {e.path: e for e in client.list_repo_tree(SPACE, repo_type="space")}
    assert sorted(top) == ["README.md", "app.py", "data", "empty.txt", "index.html", "static"]
    assert type(top["data"]).__name__ == "RepoFolder"
    assert top["app.py"].size == len(FILES["app.py"])
    assert top["app.py"].blob_id == git_blob_sha(FILES["app.py"])

    deep = [e.path for e in client.list_repo_tree(SPACE, "data", repo_type="space",
                                                  recursive=True)]
    assert deep == ["data/blob.bin", "data/deep", "data/deep/nested",
                    "data/deep/nested/notes.txt"]
    sub = [e.path for e in client.list_repo_tree(SPACE, "data/deep", repo_type="space")]
    assert sub == ["data/deep/nested"]
    with pytest.raises(EntryNotFoundError):
        list(client.list_repo_tree(SPACE, "nope", repo_type="space"))

    infos = client.get_paths_info(SPACE, ["app.py", "data", "missing.txt", "data/deep/"],
                                  repo_type="space")
    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFile", "app.py"), ("RepoFolder", "data"), ("RepoFolder", "data/deep")]
    assert infos[0].blob_id == git_blob_sha(FILES["app.py"])

    cache = tmp_path / "cache"
    for name, data in FILES.items():
        path = hf_hub_download(SPACE, name, repo_type="space", endpoint=hangar.url,
                               token=hangar.admin_token, cache_dir=cache)
        assert Path(path).read_bytes() == data, name

    snap = snapshot_download(SPACE, repo_type="space", endpoint=hangar.url,
                             token=hangar.admin_token, cache_dir=cache,
                             local_dir=tmp_path / "snap")
    assert read_tree(snap) == FILES

    assert client.file_exists(SPACE, "data/blob.bin", repo_type="space")
    assert not client.file_exists(SPACE, "data/other.bin", repo_type="space")

    info = client.space_info(SPACE, files_metadata=True)
    assert info.sha == demo.oid
    assert sorted(s.rfilename for s in info.siblings) == sorted(FILES)
    assert info.card_data["title"] == "Demo"

    commits = client.list_repo_commits(SPACE, repo_type="space")
    assert [c.commit_id for c in commits] == [demo.oid]
    assert commits[0].title == "First upload"
    assert commits[0].authors == ["admin"]


def test_upload_file_delete_file_delete_folder(hangar, demo):
    client = api(hangar)
    info = client.upload_file(path_or_fileobj=b"v2\n", path_in_repo="app.py", repo_id=SPACE,
                              repo_type="space", commit_message="Update app")
    assert info.oid == head(hangar) != demo.oid
    r = requests.get(f"{hangar.url}/spaces/{SPACE}/resolve/main/app.py")
    assert r.content == b"v2\n"

    client.delete_file("empty.txt", SPACE, repo_type="space")
    client.delete_folder("data/deep", SPACE, repo_type="space")
    files = sorted(client.list_repo_files(SPACE, repo_type="space"))
    assert files == sorted(set(FILES) - {"empty.txt", "data/deep/nested/notes.txt"})

    before = head(hangar)
    with pytest.raises(EntryNotFoundError) as e:
        client.delete_file("never-there.txt", SPACE, repo_type="space")
    assert "A file with this name doesn't exist" in str(e.value)
    with pytest.raises(EntryNotFoundError):
        client.delete_folder("no-such-dir", SPACE, repo_type="space")
    assert head(hangar) == before

    # An unchanged file is skipped by the client thanks to the preupload oid.
    again = client.upload_file(path_or_fileobj=b"v2\n", path_in_repo="app.py", repo_id=SPACE,
                               repo_type="space")
    assert again.oid == before == head(hangar)
    assert len(client.list_repo_commits(SPACE, repo_type="space")) == 4


def test_create_commit_with_stale_parent_is_refused(hangar, demo):
    client = api(hangar)
    second = client.upload_file(path_or_fileobj=b"2", path_in_repo="two.txt", repo_id=SPACE,
                                repo_type="space")
    with pytest.raises(HfHubHTTPError) as e:
        client.create_commit(SPACE, [CommitOperationAdd("three.txt", b"3")],
                             commit_message="late", repo_type="space", parent_commit=demo.oid)
    assert e.value.response.status_code == 409
    assert head(hangar) == second.oid
    ok = client.create_commit(SPACE, [CommitOperationAdd("three.txt", b"3"),
                                      CommitOperationDelete("two.txt")],
                              commit_message="on time", repo_type="space",
                              parent_commit=second.oid)
    assert ok.oid == head(hangar)


def test_preupload_answers_regular_oid_and_ignores(hangar, demo):
    files = [{"path": p, "size": 3, "sample": ""} for p in
             ("app.py", "new.txt", ".git/config", "sub/.git/HEAD", "build/out.o", "x.pyc")]
    r = requests.post(f"{hangar.url}/api/spaces/{SPACE}/preupload/main",
                      headers=hangar.headers(),
                      json={"files": files, "gitIgnore": "*.pyc\nbuild/\n"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["commitOid"] == demo.oid
    got = {f["path"]: f for f in body["files"]}
    assert all(f["uploadMode"] == "regular" for f in got.values())
    assert got["app.py"]["oid"] == git_blob_sha(FILES["app.py"])
    assert got["app.py"]["shouldIgnore"] is False
    assert "oid" not in got["new.txt"]
    assert got[".git/config"]["shouldIgnore"] is True
    assert got["sub/.git/HEAD"]["shouldIgnore"] is True
    assert got["build/out.o"]["shouldIgnore"] is True
    assert got["x.pyc"]["shouldIgnore"] is True

    r = requests.post(f"{hangar.url}/api/spaces/{SPACE}/preupload/main",
                      headers=hangar.headers(), json={"files": [{"path": "../x"}]})
    assert r.status_code == 400


def test_utf8_encoding_and_empty_repo_reads(hangar):
    create(hangar)
    # An empty space: main exists but has no commit.
    r = requests.get(f"{hangar.url}/api/spaces/{SPACE}/tree/main", headers=hangar.headers())
    assert r.status_code == 200 and r.json() == []
    assert api(hangar).list_repo_files(SPACE, repo_type="space") == []
    r = requests.get(f"{hangar.url}/spaces/{SPACE}/resolve/main/x.txt")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"
    r = post_commit(hangar, ndjson(header(), {"key": "file", "value": {
        "path": "u.txt", "encoding": "utf-8", "content": "h\u00e9llo"}}))
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert requests.get(f"{hangar.url}/spaces/{SPACE}/resolve/main/u.txt").content == \
        "h\u00e9llo".encode()


def test_tree_pagination_follows_link(hangar):
    create(hangar)
    lines = [header()] + [add_line(f"f{i:03d}.txt", b"%d" % i) for i in range(25)]
    assert post_commit(hangar, ndjson(*lines)).status_code == 200
    url = f"{hangar.url}/api/spaces/{SPACE}/tree/main?recursive=true&limit=10"
    seen = []
    pages = 0
    while url:
        r = requests.get(url, headers=hangar.headers())
        assert r.status_code == 200, r.text
        seen += [e["path"] for e in r.json()]
        pages += 1
        url = r.links.get("next", {}).get("url")
    assert pages == 3
    assert seen == [f"f{i:03d}.txt" for i in range(25)]
    assert len(api(hangar).list_repo_files(SPACE, repo_type="space")) == 25
    r = requests.get(f"{hangar.url}/api/spaces/{SPACE}/tree/main?limit=0")
    assert r.status_code == 400


def test_revisions_in_paths(hangar, demo):
    # A sha, a quoted full ref, and a missing revision.
    for rev in (demo.oid, "refs%2Fheads%2Fmain", demo.oid[:12]):
        r = requests.get(f"{hangar.url}/api/spaces/{SPACE}/tree/{rev}/data%2Fdeep")
        assert r.status_code == 200, (rev, r.text)
        assert [e["path"] for e in r.json()] == ["data/deep/nested"]
        r = requests.get(f"{hangar.url}/spaces/{SPACE}/resolve/{rev}/data/deep/nested/notes.txt")
        assert r.status_code == 200, rev
    r = requests.get(f"{hangar.url}/api/spaces/{SPACE}/tree/nope")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound"
    with pytest.raises(RevisionNotFoundError):
        list(api(hangar).list_repo_tree(SPACE, repo_type="space", revision="nope"))
    r = requests.get(f"{hangar.url}/api/spaces/{SPACE}/commits/main")
    assert r.status_code == 200 and r.json()[0]["id"] == demo.oid
    assert r.json()[0]["authors"] == [{"user": "admin"}]


def test_validate_yaml(hangar):
    url = hangar.url + "/api/validate-yaml"
    r = requests.post(url, json={"content": FILES["README.md"].decode(), "repoType": "space"})
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == []
    assert isinstance(r.json()["warnings"], list)
    r = requests.post(url, json={"content": "---\napp_port: nope\n---\n", "repoType": "space"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"]
    r = requests.post(url, json={"repoType": "space"})
    assert r.status_code == 400
    # The client refuses to commit a README whose metadata is invalid.
    create(hangar)
    with pytest.raises(ValueError):
        api(hangar).upload_file(path_or_fileobj=b"---\napp_port: nope\n---\n",
                                path_in_repo="README.md", repo_id=SPACE, repo_type="space")
    assert head(hangar) == ""


# ---- downloads -----------------------------------------------------------------------------

def test_resolve_headers_ranges_and_conditions(hangar, demo):
    data = FILES["data/blob.bin"]
    url = f"{hangar.url}/spaces/{SPACE}/resolve/main/data/blob.bin"
    etag = '"%s"' % git_blob_sha(data)

    r = requests.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["ETag"] == etag
    assert r.headers["X-Repo-Commit"] == demo.oid
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Type"] == "application/octet-stream"

    h = requests.head(url, headers={"Accept-Encoding": "identity"})
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Length"] == str(len(data))
    assert h.headers["ETag"] == etag and h.headers["X-Repo-Commit"] == demo.oid

    for rng, first, last in (("bytes=0-0", 0, 0), ("bytes=10-19", 10, 19),
                             ("bytes=10000-", 10000, len(data) - 1),
                             ("bytes=-5", len(data) - 5, len(data) - 1),
                             ("bytes=5-999999", 5, len(data) - 1)):
        r = requests.get(url, headers={"Range": rng})
        assert r.status_code == 206, rng
        assert r.content == data[first:last + 1], rng
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
        assert r.headers["Content-Length"] == str(last - first + 1)

    r = requests.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    # Several ranges or nonsense: the whole file.
    for rng in ("bytes=0-1,4-5", "lines=1-2", "bytes=x-y", "bytes=5-2"):
        r = requests.get(url, headers={"Range": rng})
        assert r.status_code == 200 and r.content == data, rng

    r = requests.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["ETag"] == etag
    assert requests.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    r = requests.get(f"{hangar.url}/spaces/{SPACE}/raw/main/index.html")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = requests.get(f"{hangar.url}/spaces/{SPACE}/resolve/main/empty.txt",
                     headers={"Range": "bytes=0-0"})
    assert r.status_code == 200 and r.content == b""
    assert requests.post(url).status_code == 405


def test_large_file_streams_whole_and_in_ranges(hangar, tmp_path):
    create(hangar)
    data = os.urandom(3 * 1024 * 1024 + 17)
    info = api(hangar).upload_file(path_or_fileobj=data, path_in_repo="big/blob.bin",
                                   repo_id=SPACE, repo_type="space")
    url = f"{hangar.url}/spaces/{SPACE}/resolve/{info.oid}/big/blob.bin"
    r = requests.get(url, stream=True)
    got = b"".join(r.iter_content(8192))
    assert got == data
    r = requests.get(url, headers={"Range": "bytes=1000000-2999999"})
    assert r.status_code == 206 and r.content == data[1000000:3000000]
    path = hf_hub_download(SPACE, "big/blob.bin", repo_type="space", endpoint=hangar.url,
                           token=hangar.admin_token, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == data
    # A client that reads a little and goes away does not upset the server.
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        s.sendall(f"GET /spaces/{SPACE}/resolve/main/big/blob.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                  .encode())
        s.recv(1000)
    assert requests.get(hangar.url + "/api/health").status_code == 200


def test_resolve_error_codes(hangar, demo, bob):
    base = f"{hangar.url}/spaces"
    cases = [(f"{base}/{SPACE}/resolve/main/missing.txt", "EntryNotFound"),
             (f"{base}/{SPACE}/resolve/main/data", "EntryNotFound"),
             (f"{base}/{SPACE}/resolve/nope/app.py", "RevisionNotFound"),
             (f"{base}/admin/other/resolve/main/app.py", "RepoNotFound")]
    for url, code in cases:
        for method in (requests.get, requests.head):
            r = method(url)
            assert r.status_code == 404, url
            assert r.headers["X-Error-Code"] == code, url
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(SPACE, "missing.txt", repo_type="space", endpoint=hangar.url,
                        token=hangar.admin_token)
    # A private space: anonymous 401, another user 404, the owner 200.
    create(hangar, "secret", private=True)
    api(hangar).upload_file(path_or_fileobj=b"s", path_in_repo="s.txt",
                            repo_id="admin/secret", repo_type="space")
    url = f"{base}/admin/secret/resolve/main/s.txt"
    assert requests.get(url).status_code == 401
    r = requests.get(url, headers=hangar.headers(bob))
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    assert requests.get(url, headers=hangar.headers()).content == b"s"
    with pytest.raises(RepositoryNotFoundError):
        api(hangar, bob).list_repo_files("admin/secret", repo_type="space")


# ---- bad input: a clear status and an unchanged repository ---------------------------------

BAD_PATHS = ["../x", "a/../b", "a/..", "/abs.txt", "./a", "a//b", ".git/config", "a/.GIT/x",
             ".git", "tab\there", "nl\nx", "del\x7fx", "nul\x00x", "back\\slash", "dir/",
             "", "x" * 1025]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_refused(hangar, demo, path):
    before = head(hangar)
    for line in (add_line(path), {"key": "deletedFile", "value": {"path": path}}):
        r = post_commit(hangar, ndjson(header(), add_line("ok.txt"), line))
        assert r.status_code == 400, (path, r.text)
        assert "error" in r.json()
    assert head(hangar) == before
    assert "ok.txt" not in api(hangar).list_repo_files(SPACE, repo_type="space")


def test_bad_paths_through_the_client(hangar, demo):
    before = head(hangar)
    for path in ("../escape.txt", ".git/config", "x" * 1025):
        with pytest.raises((HfHubHTTPError, ValueError)):
            api(hangar).create_commit(SPACE, [CommitOperationAdd(path, b"x")],
                                      commit_message="bad", repo_type="space")
    assert head(hangar) == before


@pytest.mark.parametrize("body,needle", [
    (ndjson(header(), {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                   "oid": "0" * 64, "size": 3}}),
     "is not stored: upload it first"),
    (ndjson(header()) + b"{not json\n", "not valid JSON"),
    (ndjson(header(), {"key": "file", "value": {"path": "a.txt", "content": "@@@="}}),
     "not valid base64"),
    (ndjson(header(), {"key": "file", "value": {"path": "a.txt", "content": "eA"}}),
     "not valid base64"),
    (ndjson(add_line("a.txt")), "header"),
    (b"", "header"),
    (ndjson(header(), {"key": "rename", "value": {"path": "a.txt"}}), "unknown key"),
    (ndjson(header(), header()), "second header"),
    (ndjson({"key": "header", "value": {"summary": ""}}), "summary"),
    (ndjson(header(parentCommit="not-a-sha")), "parentCommit"),
    (ndjson(header(), {"key": "file", "value": {"path": "a.txt"}}), "content"),
    (ndjson(header(), {"key": "file", "value": {"path": "a.txt", "content": "",
                                                "encoding": "rot13"}}), "encoding"),
    (ndjson(header(), ["not", "an", "object"]), "each line"),
    (ndjson(header(), add_line("f"), add_line("f/inner")), "is a file"),
])
def test_malformed_commit_bodies(hangar, demo, body, needle):
    before = head(hangar)
    r = post_commit(hangar, body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"], r.json()
    assert head(hangar) == before


def test_commit_to_other_revisions_and_pull_requests(hangar, demo):
    before = head(hangar)
    body = ndjson(header(), add_line("a.txt"))
    r = post_commit(hangar, body, rev="dev")
    assert r.status_code == 400 and "main" in r.json()["error"]
    r = post_commit(hangar, body, query="?create_pr=1")
    assert r.status_code == 400 and "pull requests" in r.json()["error"]
    with pytest.raises(HfHubHTTPError):
        api(hangar).create_commit(SPACE, [CommitOperationAdd("a.txt", b"a")],
                                  commit_message="pr", repo_type="space", create_pr=True)
    assert head(hangar) == before
    assert post_commit(hangar, body, rev="refs%2Fheads%2Fmain").status_code == 200


def test_body_over_limit_is_413(hangar, demo):
    before = head(hangar)
    limit = 100 * 1024 * 1024
    req = (f"POST /api/spaces/{SPACE}/commit/main HTTP/1.1\r\nHost: x\r\n"
           f"Authorization: Bearer {hangar.admin_token}\r\n"
           f"Content-Type: application/x-ndjson\r\nContent-Length: {limit + 1}\r\n\r\n")
    answer = raw_exchange(hangar.port, req.encode() + ndjson(header()))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Chunked, so the size is only known as it arrives.
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        s.sendall((f"POST /api/spaces/{SPACE}/commit/main HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {hangar.admin_token}\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"x" * (4 * 1024 * 1024)
        sent = 0
        try:
            while sent <= limit:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        try:
            answer = s.recv(200)
        except ConnectionResetError:
            answer = b""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer
    assert head(hangar) == before
    assert requests.get(hangar.url + "/api/health").status_code == 200


def test_write_access(hangar, demo, bob):
    read_token = hangar.cli("token", "create", "admin", "--role", "read").stdout.strip()
    before = head(hangar)
    body = ndjson(header(), add_line("a.txt"))
    preupload = {"files": [{"path": "a.txt", "size": 1, "sample": ""}]}
    purl = f"{hangar.url}/api/spaces/{SPACE}/preupload/main"

    assert post_commit(hangar, body, token=read_token).status_code == 403
    assert requests.post(purl, json=preupload,
                         headers=hangar.headers(read_token)).status_code == 403
    assert post_commit(hangar, body, token=bob).status_code == 403
    assert requests.post(purl, json=preupload, headers=hangar.headers(bob)).status_code == 403
    r = requests.post(f"{hangar.url}/api/spaces/{SPACE}/commit/main", data=body)
    assert r.status_code == 401
    with pytest.raises(HfHubHTTPError) as e:
        api(hangar, bob).upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id=SPACE,
                                     repo_type="space")
    assert e.value.response.status_code == 403
    # Reading a public space is fine for anyone.
    assert api(hangar, read_token).list_repo_files(SPACE, repo_type="space")
    assert requests.get(f"{hangar.url}/api/spaces/{SPACE}/tree/main").status_code == 200
    assert head(hangar) == before

    create(hangar, "secret", private=True)
    r = post_commit(hangar, body, token=bob, space="admin/secret")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    r = requests.get(f"{hangar.url}/api/spaces/admin/secret/tree/main",
                     headers=hangar.headers(bob))
    assert r.status_code == 404
    r = requests.post(f"{hangar.url}/api/spaces/admin/secret/paths-info/main",
                      data={"paths": ["a.txt"]}, headers=hangar.headers(bob))
    assert r.status_code == 404
    assert head(hangar, "admin/secret") == ""


def test_disconnect_mid_commit_leaves_repository_unchanged(hangar, demo):
    before = head(hangar)
    body = ndjson(header(), add_line("big.bin", b"y" * 200000), add_line("more.txt"))
    req = (f"POST /api/spaces/{SPACE}/commit/main HTTP/1.1\r\nHost: x\r\n"
           f"Authorization: Bearer {hangar.admin_token}\r\n"
           f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", hangar.port)) as s:
        s.sendall(req.encode() + body[:len(body) // 2])
        time.sleep(0.3)
    time.sleep(0.3)
    assert head(hangar) == before
    assert "big.bin" not in api(hangar).list_repo_files(SPACE, repo_type="space")
    # The server is fine and the same commit still works whole.
    assert post_commit(hangar, body).status_code == 200


# ---- the "done when" ----------------------------------------------------------------

def test_upload_folder_then_git_clone_gives_same_files_and_sha(hangar, tmp_path):
    create(hangar)
    folder = tmp_path / "src"
    write_tree(folder, FILES)
    info = api(hangar).upload_folder(repo_id=SPACE, repo_type="space", folder_path=folder)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(tmp_path)}
    dest = tmp_path / "clone"
    r = subprocess.run(["git", "clone", f"http://127.0.0.1:{hangar.port}/spaces/{SPACE}",
                        str(dest)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert sha == info.oid == head(hangar)
    assert read_tree(dest) == FILES
    log = subprocess.run(["git", "log", "-1", "--format=%an <%ae>"], cwd=dest, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert log == "admin <admin@users.noreply.hangar>"


def test_huggingface_js_client(hangar):
    """@huggingface/hub (npm): createRepo, uploadFiles, listFiles, downloadFile, spaceInfo,
    deleteRepo against Hangar through hubUrl."""
    import shutil
    import subprocess
    from pathlib import Path
    js = Path(__file__).resolve().parents[1] / "js"
    if not shutil.which("node") or not (js / "node_modules" / "@huggingface" / "hub").exists():
        pytest.skip("node or @huggingface/hub missing: run make deps")
    r = subprocess.run(["node", "hub_client.test.mjs", hangar.url, hangar.admin_token], cwd=js,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("ok")
