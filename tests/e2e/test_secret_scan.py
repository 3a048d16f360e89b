"""Issue 11, item 6: a git push that adds what looks like a credential is
accepted, warned about in git's "remote:" output (naming the file, never the
value) and recorded as a secret-warning event; a clean push says nothing."""
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from spaces_util import client

# Shapes the scanner knows, built here so that this file itself holds none.
HF_TOKEN = "hf_" + "Qz" * 17
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPL2"
PEM = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
SPACE_SECRET = "s3cr3t-" + "value-of-the-space"


@pytest.fixture
def repo(hangar, tmp_path):
    """admin/scan (a static space) cloned into a work tree, with git reading no
    user or system configuration."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("init.defaultBranch", "main")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    api = client(hangar)
    api.create_repo("admin/scan", repo_type="space", space_sdk="static")
    work = tmp_path / "work"
    url = f"http://user:{hangar.admin_token}@127.0.0.1:{hangar.port}/spaces/admin/scan"
    subprocess.run(["git", "clone", "-q", url, str(work)], env=env, check=True,
                   capture_output=True)

    def push(files, message, then=None):
        """Commits files (then a second commit of then, if given) and pushes."""
        for step in (files, then):
            if step is None:
                continue
            for path, content in step.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                if content is None:
                    (work / path).unlink()
                else:
                    (work / path).write_text(content)
            subprocess.run(["git", "add", "-A"], cwd=work, env=env, check=True)
            subprocess.run(["git", "commit", "-qm", message], cwd=work, env=env, check=True)
        r = subprocess.run(["git", "push", "origin", "main"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "Sanitizer" not in r.stderr, r.stderr  # the hook is this (test) build
        return r.stderr
    return push


def secret_events(hangar):
    """The secret-warning events of admin/scan (the stream replays history)."""
    found = []
    with requests.get(f"{hangar.url}/api/spaces/admin/scan/events", headers=hangar.headers(),
                      stream=True, timeout=(5, 1)) as r:
        r.raise_for_status()
        try:
            for raw in r.iter_lines():
                line = raw.decode()
                if line.startswith("data: "):
                    ev = json.loads(line[6:])
                    if ev["type"] == "secret-warning":
                        found.append(ev["data"])
        except requests.exceptions.ConnectionError:
            pass  # the read timeout: the history has been replayed
    return found


def remote_warnings(stderr):
    return [l for l in stderr.splitlines() if l.startswith("remote: warning:")]


def test_push_with_credentials_is_accepted_and_warned(hangar, repo):
    out = repo({"config.py": f"TOKEN = '{HF_TOKEN}'\n",
                "deploy/aws.env": f"# keys\nAWS_ACCESS_KEY_ID={AWS_KEY}\n",
                "id_ed25519": PEM,
                "index.html": "<p>hello</p>\n"}, "add keys")
    warnings = remote_warnings(out)
    assert any("config.py line 1" in w and "Hugging Face access token" in w for w in warnings), out
    assert any("deploy/aws.env line 2" in w and "AWS access key" in w for w in warnings), out
    assert any("id_ed25519 line 1" in w and "PEM private key" in w for w in warnings), out
    assert len(warnings) == 3, out
    assert HF_TOKEN not in out and AWS_KEY not in out
    # The push went through: main is the new commit, the file served as pushed.
    r = requests.get(f"{hangar.url}/spaces/admin/scan/resolve/main/config.py",
                     headers=hangar.headers())
    assert r.status_code == 200 and HF_TOKEN in r.text
    events = secret_events(hangar)
    assert len(events) == 1, events
    assert events[0]["count"] == 3 and events[0]["via"] == "git push"
    assert "deploy/aws.env line 2" in events[0]["message"]
    assert HF_TOKEN not in json.dumps(events)
    # The hook's report file was consumed.
    assert list((hangar.data_dir / "cache" / "scan").iterdir()) == []


def test_key_added_and_removed_within_one_push_is_warned(hangar, repo):
    # The tip does not have it, the history a clone gets does.
    out = repo({"index.html": "<p>hi</p>\n", "old.env": f"HF={HF_TOKEN}\n"}, "add",
               then={"old.env": None})
    warnings = remote_warnings(out)
    assert len(warnings) == 1 and "old.env line 1" in warnings[0], out
    assert len(secret_events(hangar)) == 1


def test_push_with_the_space_secret_value_is_warned_without_showing_it(hangar, repo):
    client(hangar).add_space_secret("admin/scan", "API_KEY", SPACE_SECRET)
    out = repo({"settings.json": '{\n  "key": "' + SPACE_SECRET + '"\n}\n'}, "oops")
    warnings = remote_warnings(out)
    assert len(warnings) == 1, out
    assert "settings.json line 2" in warnings[0] and "space secret API_KEY" in warnings[0]
    assert SPACE_SECRET not in out
    # Nothing in DATA holds the value in clear but the pushed file's checkout:
    # the hook read it sealed from the store.
    found = subprocess.run(["grep", "-rlF", "--exclude-dir=builds", SPACE_SECRET,
                            str(hangar.data_dir)],
                           capture_output=True, text=True)
    assert found.stdout == "", found.stdout
    events = secret_events(hangar)
    assert len(events) == 1 and "space secret API_KEY" in events[0]["message"]


def test_clean_push_has_no_warning(hangar, repo):
    # A shape that is close but not a credential: too short, inside a longer word.
    out = repo({"index.html": "<p>hf_short and xhf_" + "a" * 34 + "b</p>\n"}, "clean")
    assert "warning" not in out and "credential" not in out, out
    assert secret_events(hangar) == []


def test_reports_a_killed_daemon_left_are_removed_at_start(hangar):
    # The hook wrote it, the daemon was killed before it read it.
    stale = hangar.data_dir / "cache" / "scan" / "1-1.json"
    stale.write_text('{"count": 1, "message": "warning: x", "via": "git push"}')
    assert hangar.stop(sig=9) == -9
    hangar.start()
    assert not stale.exists()
    hook = (hangar.data_dir / "hooks" / "post-receive").read_text()
    assert "__scan-push" in hook and os.access(hangar.data_dir / "hooks" / "post-receive", os.X_OK)
