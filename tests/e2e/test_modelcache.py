"""Issue 6 item 8: the shared, read-only model cache. `hangar cache add` fills
it from local files and from a hub endpoint (a second loopback Hangar), a
space reads from it through huggingface_hub offline without a copy, and
preload_from_hub fetches at build time or fails the build naming the entry."""
import os

import pytest

from spaces_util import app_get, client, deploy, runtime, wait_stage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime needs root")


def hub_space(hub, name, files):
    """A static space on the hub daemon holding files (static: nothing builds)."""
    api = client(hub)
    repo = f"admin/{name}"
    api.create_repo(repo, repo_type="space", space_sdk="static")
    for path, text in files.items():
        api.upload_file(repo_id=repo, repo_type="space", path_in_repo=path,
                        path_or_fileobj=text.encode())
    return repo


def test_model_cache_local_hub_and_preload(hangar_factory, tmp_path):
    hub = hangar_factory(data_dir=tmp_path / "hub")
    hub_space(hub, "weights", {"model.txt": "weights from the hub\n"})
    hub_space(hub, "pre", {"weights.txt": "preloaded weights\n"})
    h = hangar_factory(extra_args=["--hub-endpoint", hub.url], data_dir=tmp_path / "main")

    # From local files: a directory (its tree) and one file.
    model = tmp_path / "tiny"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden": 8}')
    (model / "sub" / "w.bin").write_bytes(b"\x00\x01" * 100)
    out = h.cli("cache", "add", "alice/tiny", str(model)).stdout
    assert "alice/tiny\tconfig.json" in out and "alice/tiny\tsub/w.bin" in out
    # From a hub endpoint (HF's revision and resolve API, here another Hangar).
    h.cli("cache", "add", "spaces/admin/weights", "--from", hub.url)
    listing = h.cli("cache", "ls").stdout
    assert "alice/tiny" in listing and "spaces/admin/weights" in listing
    r = h.cli("cache", "add", "nobody/none", "--from", hub.url, check=False)
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    snapshots = h.data_dir / "cache" / "hub" / "models--alice--tiny" / "snapshots"
    assert (next(snapshots.iterdir()) / "sub" / "w.bin").read_bytes() == b"\x00\x01" * 100

    # A space reads all three offline, from the read-only shared copy.
    repo = deploy(h, "reader", "cacheapp")
    wait_stage(h, repo, "RUNNING")
    got = app_get(h, "admin-reader", "/", timeout=30).json()
    assert got["env"] == {"HF_HUB_CACHE": "/hub-cache", "HF_HUB_OFFLINE": "1"}
    assert got["local"]["text"] == '{"hidden": 8}', got
    assert got["local"]["real"].startswith("/hub-cache/models--alice--tiny/blobs/"), got
    assert got["local"]["write"] in ("EROFS", "EACCES"), got
    assert got["read_only_mount"] is True
    assert got["fetched"]["text"] == "weights from the hub\n", got
    assert got["preloaded"]["text"] == "preloaded weights\n", got
    assert (h.data_dir / "cache" / "hub" / "spaces--admin--pre" / "refs" / "main").exists()
    assert client(h).get_space_runtime(repo).stage == "RUNNING"

    # An entry that is nowhere fails the build, naming it.
    bad = deploy(h, "bad", None, files={
        "README.md": "---\nsdk: gradio\napp_file: app.py\npreload_from_hub:\n"
                     "  - nobody/missing-model config.json\n---\n",
        "app.py": "print('never runs')\n"})
    rt = wait_stage(h, bad, "BUILD_ERROR")
    assert "nobody/missing-model" in rt["errorMessage"], rt
    assert hub.url in rt["errorMessage"] and "404" in rt["errorMessage"], rt

    # cache rm takes a repository out (the running space keeps serving).
    h.cli("cache", "rm", "alice/tiny")
    assert "alice/tiny" not in h.cli("cache", "ls").stdout
    assert app_get(h, "admin-reader", "/", timeout=30).json()["local"].get("error")
    assert runtime(h, repo)["stage"] == "RUNNING"
