"""Issue 8: the web UI, driven in headless Chromium (Debian's /usr/bin/chromium)
by playwright-core from tests/js (scripts/deps.sh installs both). The browser
flow lives in tests/js/ui.test.mjs; this file starts the daemon, makes a
second user and runs it. Plain-HTTP checks of the pages' security headers,
CSRF and access rules run without a browser."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from spaces_util import APPS, app_get, deploy, wait_stage

ROOT = Path(__file__).resolve().parents[2]
UI_TEST = ROOT / "tests" / "js" / "ui.test.mjs"
PLAYWRIGHT = ROOT / "tests" / "js" / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")
WELCOME = """---
title: Welcome
emoji: 🛰️
colorFrom: green
colorTo: blue
sdk: static
short_description: A static page, served by Hangar itself
---
"""


def browser_ready():
    return CHROMIUM.exists() and PLAYWRIGHT.exists() and shutil.which("node")


def run_browser_suite(hangar, screenshots=None):
    bob = hangar.cli("user", "add", "bob").stdout.strip()
    # A static space beside the one the browser creates: the home page shows
    # more than one card, and a static app is served by the proxy too.
    deploy(hangar, "welcome", "static_site", sdk="static", files={"README.md": WELCOME})
    env = dict(os.environ)
    if screenshots:
        env["SCREENSHOTS"] = str(screenshots)
    # localhost, not 127.0.0.1: the app iframe is at <space>.localhost.
    url = f"http://localhost:{hangar.port}"
    r = subprocess.run(["node", str(UI_TEST), url, hangar.admin_token, bob,
                        str(APPS / "envapp")],
                       capture_output=True, text=True, timeout=540, env=env)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n--- daemon log ---\n{hangar.log()[-4000:]}"
    assert "not ok" not in r.stdout


@pytest.mark.skipif(not browser_ready(), reason="needs /usr/bin/chromium and tests/js packages "
                    "(make deps)")
def test_ui_in_chromium(hangar):
    run_browser_suite(hangar)


@pytest.mark.skipif(not os.environ.get("HANGAR_SCREENSHOTS"), reason="make screenshots")
def test_screenshots(hangar):
    run_browser_suite(hangar, Path(os.environ["HANGAR_SCREENSHOTS"]))


@pytest.mark.skipif(not browser_ready(), reason="needs /usr/bin/chromium and tests/js packages "
                    "(make deps)")
def test_private_app_iframe_for_its_owner(hangar_factory):
    hangar = hangar_factory(["--domain", "hangar.test"])
    repo = deploy(hangar, "secret-site", "static_site", sdk="static", private=True)
    r = subprocess.run(["node", str(ROOT / "tests" / "js" / "private_iframe.test.mjs"),
                        f"http://hangar.test:{hangar.port}", hangar.admin_token, repo],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{hangar.log()[-3000:]}"


@pytest.mark.skipif(not browser_ready(), reason="needs /usr/bin/chromium and tests/js packages "
                    "(make deps)")
def test_private_app_on_localhost_through_an_app_pass(hangar):
    repo = deploy(hangar, "secret-site", "static_site", sdk="static", private=True)
    wait_stage(hangar, repo, "RUNNING", timeout=60)
    r = subprocess.run(["node", str(ROOT / "tests" / "js" / "private_pass.test.mjs"),
                        f"http://localhost:{hangar.port}", hangar.admin_token, repo],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{hangar.log()[-3000:]}"


# ---- without a browser -------------------------------------------------------------------


def sign_in(hangar, token=None):
    s = requests.Session()
    page = s.get(hangar.url + "/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
    r = s.post(hangar.url + "/login", data={"token": token or hangar.admin_token, "csrf": csrf,
                                             "next": "/"}, allow_redirects=False)
    assert r.status_code == 303, r.text
    return s


def csrf_of(session, url):
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', session.get(url).text).group(1)


def test_pages_carry_a_strict_policy(hangar):
    r = requests.get(hangar.url + "/")
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'self'" in csp and "frame-src http://*.localhost:" in csp
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "<script>" not in r.text and " style=" not in r.text and "onclick" not in r.text
    css = requests.get(hangar.url + "/static/hangar.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    js = requests.get(hangar.url + "/static/hangar.js")
    assert js.headers["Content-Type"].startswith("text/javascript")
    again = requests.get(hangar.url + "/static/hangar.js", headers={"If-None-Match": js.headers["ETag"]})
    assert again.status_code == 304
    assert requests.get(hangar.url + "/static/nope.js").status_code == 404
    assert requests.get(hangar.url + "/static/../hangar.db").status_code == 404


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(hangar):
    s = sign_in(hangar)
    cookie = next(c for c in s.cookies if c.name == "hangar_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "Signed in as" in s.get(hangar.url + "/").text
    # The API accepts the session for reads only.
    assert s.get(hangar.url + "/api/whoami-v2").json()["name"] == "admin"
    r = s.post(hangar.url + "/api/repos/create", json={"name": "x", "type": "space", "sdk": "static"})
    assert r.status_code == 401
    csrf = csrf_of(s, hangar.url + "/")
    assert s.post(hangar.url + "/logout", data={"csrf": csrf}, allow_redirects=False).status_code == 303
    s.cookies.set("hangar_session", cookie.value)  # replayed after sign-out: dead
    assert "Signed in as" not in s.get(hangar.url + "/").text
    assert s.get(hangar.url + "/api/whoami-v2").status_code == 401


def test_bad_token_and_open_redirect(hangar):
    s = requests.Session()
    csrf = csrf_of(s, hangar.url + "/login")
    r = s.post(hangar.url + "/login", data={"token": "hf_nope", "csrf": csrf})
    assert r.status_code == 401 and "not valid" in r.text
    r = s.post(hangar.url + "/login", data={"token": hangar.admin_token, "csrf": csrf,
                                             "next": "//evil.example/"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_forms_need_the_csrf_token_and_our_origin(hangar):
    s = sign_in(hangar)
    r = s.post(hangar.url + "/new", data={"owner": "admin", "name": "a", "sdk": "static"})
    assert r.status_code == 403
    csrf = csrf_of(s, hangar.url + "/new")
    r = s.post(hangar.url + "/new", data={"owner": "admin", "name": "a", "sdk": "static",
                                           "csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    # Another session's token does not count either.
    other = sign_in(hangar)
    r = s.post(hangar.url + "/new", data={"owner": "admin", "name": "a", "sdk": "static",
                                           "csrf": csrf_of(other, hangar.url + "/new")})
    assert r.status_code == 403
    r = s.post(hangar.url + "/new", data={"owner": "admin", "name": "a", "sdk": "static",
                                           "csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/spaces/admin/a/files"
    # The sign-in form is protected too (login CSRF).
    r = requests.post(hangar.url + "/login", data={"token": hangar.admin_token})
    assert r.status_code == 403


def test_read_token_session_is_read_only(hangar):
    hangar.cli("user", "add", "carol")
    token = hangar.cli("token", "create", "carol", "--role", "read").stdout.strip()
    s = sign_in(hangar, token)
    assert "(read-only)" in s.get(hangar.url + "/").text
    csrf = csrf_of(s, hangar.url + "/")
    r = s.post(hangar.url + "/new", data={"owner": "carol", "name": "b", "sdk": "static",
                                           "csrf": csrf})
    assert r.status_code == 403


def test_values_are_escaped(hangar):
    deploy(hangar, "xss", None, sdk="static", files={
        "README.md": "---\ntitle: <img src=x onerror=alert(1)>\nemoji: \"<b>\"\nsdk: static\n"
                     "short_description: a\"b<script>\n---\n",
        "index.html": "<p>hi</p>"})
    text = requests.get(hangar.url + "/", headers=hangar.headers()).text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<script>" not in text and "a&quot;b&lt;script&gt;" in text
    page = requests.get(hangar.url + "/?search=%22%3E%3Cscript%3E").text
    assert '"><script>' not in page and "&quot;&gt;&lt;script&gt;" in page


def test_apps_never_see_the_session_cookie(hangar):
    """With a cookie domain the browser sends the session to every space's
    subdomain; the proxy keeps it from the app (the app's own cookies pass)."""
    backend = ROOT / "tests" / "unit" / "proxy" / "backend.py"
    repo = deploy(hangar, "echo", None, files={
        "README.md": "---\nsdk: gradio\napp_file: app.py\n---\n", "app.py": backend.read_text()})
    wait_stage(hangar, repo, "RUNNING", timeout=600)
    cookie = "theme=dark; hangar_session=" + "a" * 64 + "; hangar_login=" + "b" * 64 + "; x=1"
    r = app_get(hangar, "admin-echo", "/headers", headers={"Cookie": cookie})
    sent = {k.lower(): v for k, v in r.json()["headers"]}
    assert sent["cookie"] == "theme=dark; x=1"
    r = app_get(hangar, "admin-echo", "/headers", headers={"Cookie": "hangar_session=" + "a" * 64})
    assert "cookie" not in {k.lower() for k, _ in r.json()["headers"]}


def test_git_and_downloads_still_work_beside_the_pages(hangar):
    deploy(hangar, "site", "static_site", sdk="static")
    r = requests.get(hangar.url + "/spaces/admin/site/resolve/main/index.html")
    assert r.status_code == 200
    r = requests.get(hangar.url + "/spaces/admin/site/info/refs?service=git-upload-pack")
    assert r.status_code == 200 and "git-upload-pack" in r.headers["Content-Type"]
    page = requests.get(hangar.url + "/spaces/admin/site")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert requests.get(hangar.url + "/spaces/admin/nope").status_code == 404
    assert requests.get(hangar.url + "/nothing-here").status_code == 404


def app_pass_of(session, hangar, repo):
    page = session.get(f"{hangar.url}/spaces/{repo}")
    return re.search(r'class="app-frame" src="[^"?]*\?__sign=([^"]+)"', page.text).group(1)


def test_app_passes_open_only_their_space_and_die_with_the_session(hangar):
    a = deploy(hangar, "pass-a", "static_site", sdk="static", private=True)
    deploy(hangar, "pass-b", "static_site", sdk="static", private=True)
    deploy(hangar, "pass-open", "static_site", sdk="static")
    for repo in (a, "admin/pass-b", "admin/pass-open"):
        wait_stage(hangar, repo, "RUNNING", timeout=60)
    s = sign_in(hangar)
    url_pass = app_pass_of(s, hangar, a)
    # A public space's address carries none.
    page = s.get(f"{hangar.url}/spaces/admin/pass-open")
    assert "__sign" not in page.text and "admin-pass-open.localhost" in page.text
    # The pass becomes a cookie of the app's host and the address loses it
    # (other parameters kept; a "//" path cannot redirect to another host).
    r = app_get(hangar, "admin-pass-a", f"/x/?q=1&__sign={url_pass}&r=2", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/x/?q=1&r=2"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("hangar_app=") and "HttpOnly" in cookie and "Partitioned" in cookie
    assert "Domain" not in cookie
    cookie_pass = cookie.split(";")[0].split("=", 1)[1]
    assert app_get(hangar, "admin-pass-a", f"//evil.example/?__sign={url_pass}",
                   allow_redirects=False).headers["Location"] == "/"
    ok = app_get(hangar, "admin-pass-a", "/", headers={"Cookie": f"hangar_app={cookie_pass}"})
    assert ok.status_code == 200 and "Static space" in ok.text
    # Only for its own space, only in its own form, and not altered.
    for sub, headers, path in [
            ("admin-pass-b", {"Cookie": f"hangar_app={cookie_pass}"}, "/"),
            ("admin-pass-b", {}, f"/?__sign={url_pass}"),
            ("admin-pass-a", {"Cookie": f"hangar_app={url_pass}"}, "/"),
            ("admin-pass-a", {}, f"/?__sign={cookie_pass}"),
            # the last digit changed (to another one: it may have been 0)
            ("admin-pass-a", {"Cookie": "hangar_app=" + cookie_pass[:-1] +
                              ("1" if cookie_pass[-1] == "0" else "0")}, "/"),
            ("admin-pass-a", {}, f"/?__sign={url_pass.replace('.u.', '.c.')}")]:
        r = app_get(hangar, sub, path, headers=headers, allow_redirects=False)
        assert r.status_code == 401, (sub, headers, path, r.status_code)
    # Signed out: the pass and its cookie are dead.
    csrf = csrf_of(s, hangar.url + "/")
    assert s.post(hangar.url + "/logout", data={"csrf": csrf}, allow_redirects=False).status_code == 303
    assert app_get(hangar, "admin-pass-a", "/", headers={"Cookie": f"hangar_app={cookie_pass}"},
                   allow_redirects=False).status_code == 401
    assert app_get(hangar, "admin-pass-a", f"/?__sign={url_pass}",
                   allow_redirects=False).status_code == 401
