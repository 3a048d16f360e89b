"""Issue 12: spaces that follow a branch of a remote git repository.

The remote is a second Hangar on loopback (its git smart HTTP), pushed to
with the real git client; the tracking Hangar fetches from it on signed
webhooks (GitHub, GitLab and Gitea shapes) and by polling."""
import hashlib
import hmac
import json
import os
import re
import subprocess
import time

import pytest
import requests

from spaces_util import app_get

README = "---\ntitle: Site\nsdk: static\n---\n"


@pytest.fixture
def gitenv(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"})
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("init.defaultBranch", "main"), ("credential.helper", "")):
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    return env


class Upstream:
    """A working copy pushing to a space of the upstream Hangar."""

    def __init__(self, hangar, env, path, name="up", private=False):
        self.hangar, self.env, self.path, self.name = hangar, env, path, name
        r = requests.post(hangar.url + "/api/repos/create", headers=hangar.headers(),
                          json={"name": name, "type": "space", "sdk": "static",
                                "private": private})
        assert r.status_code == 200, r.text
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        self.url = f"http://127.0.0.1:{hangar.port}/spaces/admin/{name}"
        self.push_url = f"http://admin:{hangar.admin_token}@127.0.0.1:{hangar.port}/spaces/admin/{name}"

    def git(self, *args, check=True):
        r = subprocess.run(["git", "-c", "credential.helper=", *args], cwd=self.path,
                           env=self.env, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
        return r

    def commit(self, text, amend=False):
        (self.path / "README.md").write_text(README)
        (self.path / "index.html").write_text(f"<h1>{text}</h1>\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", text, *(["--amend"] if amend else []))
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, branch="main", force=False):
        self.git("push", "-q", *(["--force"] if force else []), self.push_url, f"HEAD:{branch}")


def create_space(h, name):
    r = requests.post(h.url + "/api/repos/create", headers=h.headers(),
                      json={"name": name, "type": "space", "sdk": "static"})
    assert r.status_code == 200, r.text
    return f"admin/{name}"


def set_source(h, repo, url, **fields):
    r = requests.post(f"{h.url}/api/spaces/{repo}/source", headers=h.headers(),
                      json={"url": url, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def space_sha(h, repo):
    r = requests.get(f"{h.url}/api/spaces/{repo}", headers=h.headers())
    r.raise_for_status()
    return r.json().get("sha")


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_sha(h, repo, sha, timeout=30):
    wait_for(lambda: space_sha(h, repo) == sha, timeout, f"{repo} at {sha[:12]}")


def page(h, name):
    r = app_get(h, f"admin-{name}", "/", timeout=10)
    return r.text if r.status_code == 200 else ""


def event_kinds(h, repo):
    """The kinds of the space's stored events (the SSE replay; a short read)."""
    kinds = []
    try:
        with requests.get(f"{h.url}/api/spaces/{repo}/events", headers=h.headers(),
                          stream=True, timeout=(5, 1)) as r:
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    ev = json.loads(line[6:])
                    kinds.append((ev.get("type"), ev.get("data")))
    except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
        pass
    return kinds


def github_hook(h, repo, secret, payload, sign=True, bad=False, event="push"):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event}
    if sign:
        mac = hmac.new((secret + ("x" if bad else "")).encode(), body, hashlib.sha256)
        headers["X-Hub-Signature-256"] = "sha256=" + mac.hexdigest()
    return requests.post(f"{h.url}/api/spaces/{repo}/webhook", data=body, headers=headers)


def gitlab_hook(h, repo, token, payload):
    return requests.post(f"{h.url}/api/spaces/{repo}/webhook", json=payload,
                         headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token})


def gitea_hook(h, repo, secret, payload):
    body = json.dumps(payload).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(f"{h.url}/api/spaces/{repo}/webhook", data=body,
                         headers={"Content-Type": "application/json", "X-Gitea-Event": "push",
                                  "X-Gitea-Signature": sig})


def push_payload(sha, ref="refs/heads/main", forced=False):
    return {"ref": ref, "before": "0" * 40, "after": sha, "forced": forced}


def test_webhooks_redeploy_and_refuse_unsigned(hangar_factory, gitenv, tmp_path):
    up_h, tr = hangar_factory(), hangar_factory()
    up = Upstream(up_h, gitenv, tmp_path / "up")
    v1 = up.commit("v1")
    up.push()
    repo = create_space(tr, "site")
    src = set_source(tr, repo, up.url, branch="main")
    secret = src["webhookSecret"]
    assert src["hasWebhookSecret"] and not src["hasToken"]
    # The first sync follows the remote at once.
    wait_sha(tr, repo, v1)
    wait_for(lambda: "v1" in page(tr, "site"), 60, "v1 served")
    got = requests.get(f"{tr.url}/api/spaces/{repo}/source", headers=tr.headers()).json()
    assert got["url"] == up.url and got["branch"] == "main" and "webhookSecret" not in got
    assert secret not in json.dumps(got)

    v2 = up.commit("v2")
    up.push()
    # Unsigned, badly signed: 401 and nothing fetched.
    assert github_hook(tr, repo, secret, push_payload(v2), sign=False).status_code == 401
    assert github_hook(tr, repo, secret, push_payload(v2), bad=True).status_code == 401
    assert gitlab_hook(tr, repo, "wrong-token", push_payload(v2)).status_code == 401
    # A push to another branch is ignored.
    r = github_hook(tr, repo, secret, push_payload(v2, ref="refs/heads/dev"))
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    time.sleep(1.5)
    assert space_sha(tr, repo) == v1

    # The signed push redeploys: time from the webhook to the new page served.
    t0 = time.time()
    r = github_hook(tr, repo, secret, push_payload(v2))
    assert r.status_code == 202, r.text
    wait_sha(tr, repo, v2, 30)
    t_main = time.time() - t0
    wait_for(lambda: "v2" in page(tr, "site"), 60, "v2 served")
    t_served = time.time() - t0
    print(f"\nsigned webhook -> main moved in {t_main:.2f}s, new version served in "
          f"{t_served:.2f}s")
    assert t_served < 20

    # GitLab and Gitea shapes.
    v3 = up.commit("v3")
    up.push()
    assert gitlab_hook(tr, repo, secret, push_payload(v3)).status_code == 202
    wait_sha(tr, repo, v3)
    v4 = up.commit("v4")
    up.push()
    assert gitea_hook(tr, repo, secret, push_payload(v4)).status_code == 202
    wait_sha(tr, repo, v4)

    # A replayed old push does not move main back.
    assert github_hook(tr, repo, secret, push_payload(v2)).status_code == 202
    time.sleep(1.5)
    assert space_sha(tr, repo) == v4

    # A force-push upstream: followed only when the payload says forced.
    up.git("reset", "-q", "--hard", v3)
    v5 = up.commit("v5")
    up.push(force=True)
    assert github_hook(tr, repo, secret, push_payload(v5)).status_code == 202
    wait_for(lambda: any(k == "source-diverged" for k, _ in event_kinds(tr, repo)), 15,
             "source-diverged event")
    assert space_sha(tr, repo) == v4
    assert github_hook(tr, repo, secret, push_payload(v5, forced=True)).status_code == 202
    wait_sha(tr, repo, v5)
    kinds = event_kinds(tr, repo)
    assert any(k == "source-forced" for k, _ in kinds)
    assert any(k == "commit" and (d or {}).get("via") == "webhook" for k, d in kinds), kinds
    assert secret not in tr.log()


def test_direct_pushes_refused_while_tracking(hangar_factory, gitenv, tmp_path):
    up_h, tr = hangar_factory(), hangar_factory()
    up = Upstream(up_h, gitenv, tmp_path / "up")
    v1 = up.commit("v1")
    up.push()
    repo = create_space(tr, "site")
    set_source(tr, repo, up.url)
    wait_sha(tr, repo, v1)

    local = Upstream.__new__(Upstream)
    local.env, local.path = gitenv, tmp_path / "local"
    local.path.mkdir()
    local.git("init", "-q", "-b", "main")
    local.commit("direct")
    target = f"http://admin:{tr.admin_token}@127.0.0.1:{tr.port}/spaces/{repo}"
    r = local.git("push", target, "HEAD:main", check=False)
    assert r.returncode != 0
    assert up.url in r.stderr and "push there" in r.stderr, r.stderr
    r = requests.post(f"{tr.url}/api/spaces/{repo}/commit/main", headers={
        **tr.headers(), "Content-Type": "application/x-ndjson"},
        data=json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n")
    assert r.status_code == 409 and up.url in r.json()["error"], r.text

    assert requests.delete(f"{tr.url}/api/spaces/{repo}/source",
                           headers=tr.headers()).json() == {"tracking": False}
    assert requests.get(f"{tr.url}/api/spaces/{repo}/source",
                        headers=tr.headers()).json() == {"tracking": False}
    local.git("push", "--force", target, "HEAD:main")
    assert space_sha(tr, repo) == local.git("rev-parse", "HEAD").stdout.strip()


def test_polling_private_remote_and_force_push(hangar_factory, gitenv, tmp_path):
    up_h, tr = hangar_factory(), hangar_factory()
    up = Upstream(up_h, gitenv, tmp_path / "up", private=True)
    v1 = up.commit("v1")
    up.push()
    repo = create_space(tr, "site")
    # Without the token the private remote refuses: the error shows in the runtime.
    set_source(tr, repo, up.url, pollSeconds=0)
    rt = wait_for(lambda: (lambda j: j if j.get("source", {}).get("error") else None)(
        requests.get(f"{tr.url}/api/spaces/{repo}/runtime", headers=tr.headers()).json()),
        30, "a source error")
    assert "errorMessage" in rt and "source" in rt["errorMessage"]
    assert up_h.admin_token not in json.dumps(rt)

    src = set_source(tr, repo, up.url, token=up_h.admin_token, pollSeconds=1)
    assert src["hasToken"] and "token" not in src
    wait_sha(tr, repo, v1)
    assert up_h.admin_token not in tr.log()
    for kind, data in event_kinds(tr, repo):
        assert up_h.admin_token not in json.dumps(data or {})

    # Polling picks up a new commit, and follows a force-push.
    v2 = up.commit("v2")
    up.push()
    t0 = time.time()
    wait_sha(tr, repo, v2, 20)
    print(f"\npolling (1 s) picked up a push in {time.time() - t0:.2f}s")
    v3 = up.commit("v3 amended", amend=True)
    up.push(force=True)
    wait_sha(tr, repo, v3, 20)
    assert any(k == "source-forced" and (d or {}).get("via") == "poll"
               for k, d in event_kinds(tr, repo))
    rt = requests.get(f"{tr.url}/api/spaces/{repo}/runtime", headers=tr.headers()).json()
    assert "error" not in rt["source"]


def test_unreachable_remote_backs_off(hangar_factory, tmp_path):
    tr = hangar_factory()
    repo = create_space(tr, "site")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    set_source(tr, repo, f"http://127.0.0.1:{dead}/nothing.git", pollSeconds=1)

    def failures():
        rt = requests.get(f"{tr.url}/api/spaces/{repo}/runtime", headers=tr.headers()).json()
        return rt if rt.get("source", {}).get("failures", 0) >= 3 else None

    rt = wait_for(failures, 30, "three failures")
    assert "source" in rt["errorMessage"] and "127.0.0.1" in rt["source"]["error"]
    # Backoff: 1, 2, 4, ... seconds between tries.
    assert rt["source"]["nextPollInSeconds"] >= 4, rt
    errors = [d for k, d in event_kinds(tr, repo) if k == "source-error"]
    assert len(errors) >= 3 and errors[-1]["failures"] >= 3


def test_source_input_checks(hangar_factory):
    tr = hangar_factory()
    repo = create_space(tr, "site")
    for url in ("ssh://git@example.com/x.git", "git@example.com:x.git", "/etc",
                "https://user:pass@example.com/x.git", "ftp://example.com/x"):
        r = requests.post(f"{tr.url}/api/spaces/{repo}/source", headers=tr.headers(),
                          json={"url": url})
        assert r.status_code == 400, (url, r.text)
    r = requests.post(f"{tr.url}/api/spaces/{repo}/source", headers=tr.headers(),
                      json={"url": "https://example.com/x.git", "branch": "../x"})
    assert r.status_code == 400
    r = requests.post(f"{tr.url}/api/spaces/{repo}/source",
                      json={"url": "https://example.com/x.git"})
    assert r.status_code == 401
    # Webhooks of an untracked space: nothing to verify against.
    r = github_hook(tr, repo, "x" * 16, push_payload("0" * 40))
    assert r.status_code == 404


def test_cli_source(hangar_factory, gitenv, tmp_path):
    up_h, tr = hangar_factory(), hangar_factory()
    up = Upstream(up_h, gitenv, tmp_path / "up", private=True)
    v1 = up.commit("v1")
    up.push()
    repo = create_space(tr, "site")
    env = {**gitenv, "HANGAR_ENDPOINT": tr.url, "HANGAR_TOKEN": tr.admin_token}

    def hangar(*args, input=None):
        r = subprocess.run([tr_bin(), *args], capture_output=True, text=True, env=env,
                           input=input, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = hangar("spaces", "source", repo, up.url, "--branch", "main", "--poll", "0",
                 "--token-stdin", input=up_h.admin_token + "\n")
    assert "webhook secret (shown once)" in out and "token:    set" in out
    assert up_h.admin_token not in out
    wait_sha(tr, repo, v1)
    out = hangar("spaces", "source", repo)
    assert up.url in out and "shown once" not in out
    assert "not tracking" in hangar("spaces", "source", repo, "--off")


def tr_bin():
    from conftest import HANGAR_BIN
    return HANGAR_BIN


def ui_session(h):
    s = requests.Session()
    login = s.get(h.url + "/login").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', login).group(1)
    r = s.post(h.url + "/login", data={"token": h.admin_token, "csrf": csrf, "next": "/"},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    return s


def ui_post(s, h, repo, action, **form):
    page = s.get(f"{h.url}/spaces/{repo}/settings").text
    form["csrf"] = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    return s.post(f"{h.url}/spaces/{repo}/settings/{action}", data=form, allow_redirects=False)


def test_ui_settings_source_form(hangar_factory, gitenv, tmp_path):
    up_h, tr = hangar_factory(), hangar_factory()
    up = Upstream(up_h, gitenv, tmp_path / "up", private=True)
    v1 = up.commit("v1")
    up.push()
    repo = create_space(tr, "site")
    s = ui_session(tr)
    page = s.get(f"{tr.url}/spaces/{repo}/settings").text
    assert "Tracked repository" in page and "Follow this repository" in page

    # Bad input: the form comes back with the reason, nothing is stored.
    r = ui_post(s, tr, repo, "source", url="ftp://example.com/x", branch="main", poll="0")
    assert r.status_code == 400 and "role=\"alert\"" in r.text
    r = ui_post(s, tr, repo, "source", url=up.url, branch="../x", poll="0")
    assert r.status_code == 400 and "not a valid branch name" in r.text
    assert requests.get(f"{tr.url}/api/spaces/{repo}/source",
                        headers=tr.headers()).json() == {"tracking": False}

    # A private remote with a deploy token; Hangar makes the webhook secret and
    # shows it on this page only.
    r = ui_post(s, tr, repo, "source", url=up.url, branch="main", token=up_h.admin_token,
                secret="", poll="0")
    assert r.status_code == 200, r.text
    secret = re.search(r'id="webhook-secret">[^<]*<code>([^<]+)</code>', r.text).group(1)
    wait_sha(tr, repo, v1)
    page = s.get(f"{tr.url}/spaces/{repo}/settings").text
    assert up.url in page and secret not in page and up_h.admin_token not in page
    assert f"/api/spaces/{repo}/webhook" in page and "Stop tracking" in page
    got = requests.get(f"{tr.url}/api/spaces/{repo}/source", headers=tr.headers()).json()
    assert got["tracking"] and got["hasToken"] and got["hasWebhookSecret"]

    # The secret shown once signs the forge's webhook.
    v2 = up.commit("v2")
    up.push()
    assert github_hook(tr, repo, secret, push_payload(v2)).status_code == 202
    wait_sha(tr, repo, v2)

    # Saving again with empty password fields keeps the stored token and secret.
    r = ui_post(s, tr, repo, "source", url=up.url, branch="main", token="", secret="",
                poll="0")
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings?msg=source")
    v3 = up.commit("v3")
    up.push()
    assert github_hook(tr, repo, secret, push_payload(v3)).status_code == 202
    wait_sha(tr, repo, v3)

    r = ui_post(s, tr, repo, "source-clear")
    assert r.status_code == 303
    assert requests.get(f"{tr.url}/api/spaces/{repo}/source",
                        headers=tr.headers()).json() == {"tracking": False}
    assert "Follow this repository" in s.get(f"{tr.url}/spaces/{repo}/settings").text
