"""The `hangar` command-line client, driven as a user would: the real binary
(HANGAR_BIN) against a real server, each test with an empty HOME."""
import json
import os
import pty
import selectors
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import HANGAR_BIN, free_port
from spaces_util import APPS

SECRET_VALUE = "s3cret-value-never-in-argv"


class Client:
    """Runs `hangar` with a private HOME and no inherited endpoint or token."""

    def __init__(self, hangar, home):
        self.hangar = hangar
        self.home = home
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("HANGAR_", "HF_")) and k != "XDG_CONFIG_HOME"}
        self.env.update({"HOME": str(home), "ASAN_OPTIONS": "detect_leaks=1",
                         "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})

    def run(self, *args, input=None, env=None, timeout=120, stderr=subprocess.PIPE):
        full_env = dict(self.env)
        full_env.update(env or {})
        r = subprocess.run([HANGAR_BIN, *args], input=input, env=full_env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=stderr, text=True)
        if r.stderr:
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                assert marker not in r.stderr, r.stderr
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"hangar {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}"
        return r

    def json(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw).stdout)

    def login(self):
        return self.ok("login", self.hangar.url, input=self.hangar.admin_token + "\n")

    def popen(self, *args, **kw):
        return subprocess.Popen([HANGAR_BIN, *args], env=self.env, text=True, **kw)


@pytest.fixture
def cli(hangar, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return Client(hangar, home)


@pytest.fixture
def user(cli):
    cli.login()
    return cli


def config_path(cli):
    return cli.home / ".config" / "hangar" / "config"


def api(hangar, method, path, **kw):
    return requests.request(method, hangar.url + path, headers=hangar.headers(), **kw)


def commits(hangar, space):
    return api(hangar, "GET", f"/api/spaces/{space}/commits/main").json()


def write_tree(root, files):
    for path, content in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


STATIC_SITE = {"README.md": "---\nsdk: static\n---\n", "index.html": "<h1>hi</h1>\n"}


def static_space(user, tmp_path, name="site"):
    user.ok("spaces", "create", name, "--sdk", "static")
    user.ok("upload", name, str(write_tree(tmp_path / name, STATIC_SITE)))
    return f"admin/{name}"


# ---- help, usage --------------------------------------------------------------------


def test_help_lists_every_command_environment_and_exit_codes(cli):
    out = cli.ok("help").stdout
    for word in ("serve", "user add", "token create", "login", "logout", "whoami", "spaces",
                 "upload", "logs", "status", "secrets", "variables", "restart", "pause",
                 "sleep-time", "hardware", "HANGAR_ENDPOINT", "HANGAR_TOKEN", "HF_ENDPOINT",
                 "HF_TOKEN", "exit status", "4 not found", "3 not logged in"):
        assert word in out, word
    for cmd in ("login", "spaces", "upload", "logs", "status", "secrets", "variables",
                "restart", "pause", "sleep-time", "hardware", "whoami", "logout"):
        text = cli.ok("help", cmd).stdout
        assert f"usage: hangar {cmd}" in text and "exit status" in text
        assert cli.ok(cmd, "--help").stdout == text
    assert "--listen" in cli.ok("help", "serve").stdout + cli.ok("help", "serve").stderr


def test_man_page_documents_every_command():
    from conftest import ROOT
    page = (ROOT / "docs" / "hangar.1").read_text()
    assert page.startswith(".\\\" hangar(1)") and ".TH HANGAR 1" in page
    for word in ("login", "logout", "whoami", "spaces list", "spaces info", "spaces create",
                 "spaces delete", "spaces duplicate", "spaces rename", "spaces visibility",
                 "upload", "logs", "status", "secrets", "variables", "restart", "pause",
                 "sleep-time", "hardware", "HANGAR_ENDPOINT", "HF_TOKEN", "EXIT STATUS"):
        assert word in page, word
    if subprocess.run(["which", "groff"], capture_output=True).returncode == 0:
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "docs" / "hangar.1")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    ["bogus-command"], ["spaces"], ["spaces", "explode"], ["spaces", "info"],
    ["spaces", "list", "extra"], ["spaces", "list", "--limit", "0"],
    ["spaces", "visibility", "x", "maybe"], ["spaces", "create", "a/b/c"],
    ["spaces", "create", "bad name"], ["upload"], ["upload", "a", "b", "c"],
    ["upload", "x", "/nonexistent-folder"], ["logs"], ["logs", "x", "--tail", "-3"],
    ["logs", "x", "--tail"], ["status", "--bogus", "x"], ["status", "x", "--timeout", "soon"],
    ["sleep-time", "x"], ["sleep-time", "x", "soon"], ["restart"], ["pause", "a", "b"],
    ["hardware"], ["secrets", "x"], ["secrets", "x", "burn"], ["variables", "x", "set"],
    ["secrets", "x", "rm"], ["login", "a", "b"], ["login", "not a url"], ["logout", "x"],
    ["whoami", "x"],
])
def test_usage_errors_exit_2(user, args):
    r = user.run(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.strip() and "hangar" in r.stderr


# ---- login, logout, whoami, configuration --------------------------------------------


def test_login_saves_a_private_config_and_whoami_reads_it(cli):
    r = cli.login()
    assert "admin" in r.stdout
    path = config_path(cli)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert f"endpoint = {cli.hangar.url}" in text and cli.hangar.admin_token in text
    assert cli.ok("whoami").stdout.startswith("admin")
    me = cli.json("whoami")
    assert me["name"] == "admin" and me["auth"]["accessToken"]["role"] == "write"


def test_login_with_token_flag_and_host_without_scheme(cli):
    hostport = cli.hangar.url.removeprefix("http://")
    cli.ok("login", hostport, "--token", cli.hangar.admin_token)
    assert f"endpoint = {cli.hangar.url}\n" in config_path(cli).read_text()


def test_login_refuses_a_wrong_token_and_saves_nothing(cli):
    r = cli.run("login", cli.hangar.url, input="hf_wrongwrongwrongwrongwrong\n")
    assert r.returncode == 3 and "hangar login" in r.stderr and "token" in r.stderr
    assert not config_path(cli).exists()
    r = cli.run("login", cli.hangar.url, input="\n")
    assert r.returncode == 2 and "no token" in r.stderr


def test_login_to_a_closed_port_says_the_server_is_unreachable(cli):
    url = f"http://127.0.0.1:{free_port()}"
    r = cli.run("login", url, input=cli.hangar.admin_token)
    assert r.returncode == 1
    assert f"is hangar serve running at {url}?" in r.stderr
    assert not config_path(cli).exists()


def test_logout_forgets_the_token(user):
    r = user.ok("logout")
    assert "Logged out" in r.stdout and not config_path(user).exists()
    r = user.run("whoami", env={"HANGAR_ENDPOINT": user.hangar.url})
    assert r.returncode == 3 and "not logged in" in r.stderr and "hangar login" in r.stderr
    assert "Not logged in" in user.ok("logout").stdout


def test_not_logged_in_commands_exit_3(cli):
    env = {"HANGAR_ENDPOINT": cli.hangar.url}
    for args in (["whoami"], ["spaces", "create", "x"], ["upload", "x", str(APPS)],
                 ["secrets", "x", "list"]):
        r = cli.run(*args, env=env)
        assert r.returncode == 3, (args, r.stderr)
        assert "run hangar login" in r.stderr


def test_environment_overrides_the_config(user, hangar):
    closed = f"http://127.0.0.1:{free_port()}"
    # A wrong token in the environment wins over the good saved one.
    for var in ("HANGAR_TOKEN", "HF_TOKEN"):
        r = user.run("whoami", env={var: "hf_badbadbadbadbadbadbad"})
        assert r.returncode == 3 and f"${var}" in r.stderr and "hangar login" in r.stderr
    # HANGAR_* before HF_*.
    user.ok("whoami", env={"HANGAR_TOKEN": hangar.admin_token, "HF_TOKEN": "hf_bad"})
    user.ok("whoami", env={"HANGAR_ENDPOINT": hangar.url, "HF_ENDPOINT": closed})
    for var in ("HANGAR_ENDPOINT", "HF_ENDPOINT"):
        r = user.run("spaces", "list", env={var: closed})
        assert r.returncode == 1
        assert f"is hangar serve running at {closed}?" in r.stderr and var in r.stderr
    # Without any config: the environment alone is enough.
    config_path(user).unlink()
    me = user.json("whoami", env={"HF_ENDPOINT": hangar.url, "HF_TOKEN": hangar.admin_token})
    assert me["name"] == "admin"


def test_read_token_is_refused_writes_with_exit_3(user, hangar):
    token = hangar.cli("token", "create", "admin", "--role", "read").stdout.strip()
    user.ok("spaces", "create", "ro", "--sdk", "static")
    r = user.run("spaces", "visibility", "ro", "private", env={"HANGAR_TOKEN": token})
    assert r.returncode == 3 and "write token" in r.stderr


# ---- spaces ---------------------------------------------------------------------------


def test_spaces_create_list_info_visibility_rename_delete(user, hangar):
    r = user.ok("spaces", "create", "demo", "--sdk", "static")
    assert "admin/demo" in r.stdout and "hangar upload" in r.stdout
    user.ok("spaces", "create", "admin/hidden", "--private")
    r = user.run("spaces", "create", "demo", "--sdk", "static")
    assert r.returncode == 1 and "already" in r.stderr

    table = user.ok("spaces", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "SDK", "STAGE", "VISIBILITY", "UPDATED"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["admin/demo"][1:4] == ["static", "NO_APP_FILE", "public"]
    assert rows["admin/hidden"][1] == "gradio" and rows["admin/hidden"][3] == "private"

    listed = user.json("spaces", "list")
    assert {s["id"] for s in listed} == {"admin/demo", "admin/hidden"}
    assert [s["id"] for s in user.json("spaces", "list", "--search", "hid")] == ["admin/hidden"]
    assert user.json("spaces", "list", "--author", "nobody") == []
    assert len(user.json("spaces", "list", "--limit", "1")) == 1

    info = user.json("spaces", "info", "demo")
    assert info["id"] == "admin/demo" and info["private"] is False
    text = user.ok("spaces", "info", "admin/demo").stdout
    assert "stage:      NO_APP_FILE" in text and "visibility: public" in text

    user.ok("spaces", "visibility", "demo", "private")
    assert user.json("spaces", "info", "demo")["private"] is True
    user.ok("spaces", "visibility", "demo", "public")
    assert user.json("spaces", "info", "demo")["private"] is False

    user.ok("spaces", "rename", "demo", "renamed")
    r = user.run("spaces", "info", "demo")
    assert r.returncode == 4 and "hangar spaces list" in r.stderr
    assert user.json("spaces", "info", "renamed")["id"] == "admin/renamed"

    r = user.run("spaces", "delete", "renamed", input="")
    assert r.returncode == 2 and "--yes" in r.stderr
    user.ok("spaces", "delete", "renamed", "--yes")
    assert user.run("spaces", "info", "renamed").returncode == 4
    assert user.run("spaces", "delete", "renamed", "--yes").returncode == 4


def test_spaces_list_follows_pagination(user, hangar):
    for i in range(105):
        r = api(hangar, "POST", "/api/repos/create",
                json={"name": f"p{i:03d}", "type": "space", "sdk": "static"})
        assert r.status_code == 200, r.text
    ids = [s["id"] for s in user.json("spaces", "list")]
    assert len(ids) == 105 and len(set(ids)) == 105
    assert len(user.json("spaces", "list", "--limit", "103")) == 103
    assert len(user.ok("spaces", "list").stdout.splitlines()) == 106


def test_spaces_duplicate(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    r = user.ok("spaces", "duplicate", space, "copy", "--private")
    assert "admin/copy" in r.stdout
    info = user.json("spaces", "info", "copy")
    assert info["private"] is True
    assert sorted(f["rfilename"] for f in info["siblings"]) == ["README.md", "index.html"]
    r = user.run("spaces", "duplicate", "admin/none", "copy2")
    assert r.returncode == 4 and "hangar spaces list" in r.stderr


def test_unknown_space_exits_4_with_a_hint(user, tmp_path):
    folder = write_tree(tmp_path / "f", {"a.txt": "a"})
    for args in (["spaces", "info", "ghost"], ["spaces", "visibility", "ghost", "public"],
                 ["spaces", "rename", "ghost", "ghost2"], ["upload", "ghost", str(folder)],
                 ["logs", "ghost"], ["logs", "ghost", "--build", "-f"], ["status", "ghost"],
                 ["secrets", "ghost", "list"], ["variables", "ghost", "set", "K", "v"],
                 ["restart", "ghost"], ["pause", "ghost"], ["sleep-time", "ghost", "never"],
                 ["hardware", "ghost", "cpu-basic"], ["hardware", "ghost"]):
        r = user.run(*args)
        assert r.returncode == 4, (args, r.stderr)
        assert "admin/ghost not found" in r.stderr and "hangar spaces list" in r.stderr, args


def test_other_users_private_space_is_not_found(user, hangar):
    hangar.cli("user", "add", "bob")
    bob = hangar.cli("token", "create", "bob").stdout.strip()
    user.ok("spaces", "create", "mine", "--private", "--sdk", "static")
    r = user.run("spaces", "info", "admin/mine", env={"HANGAR_TOKEN": bob})
    assert r.returncode == 4


# ---- upload ---------------------------------------------------------------------------


def test_upload_honours_gitignore_and_skips_unchanged_files(user, hangar, tmp_path):
    folder = write_tree(tmp_path / "app", {
        "README.md": "---\nsdk: static\n---\n",
        "index.html": "<p>v1</p>\n",
        ".gitignore": "# comment\n*.log\n!keep.log\nbuild/\n/secret.txt\ncache*\n",
        "debug.log": "noise", "keep.log": "kept",
        "build/out.js": "built", "secret.txt": "s", "sub/secret.txt": "fine in sub",
        "sub/.gitignore": "*.tmp\n", "sub/a.tmp": "x", "sub/b.txt": "b",
        "top.tmp": "not ignored at the top", "cache_dir/x": "c", "deep/er/file.py": "print(1)",
        ".git/config": "[core]", ".git/HEAD": "ref: refs/heads/main",
    })
    user.ok("spaces", "create", "up", "--sdk", "static")
    out = user.json("upload", "up", str(folder), "--message", "first upload")
    expected = sorted([".gitignore", "README.md", "index.html", "keep.log", "sub/.gitignore",
                       "sub/b.txt", "sub/secret.txt", "top.tmp", "deep/er/file.py"])
    assert sorted(out["uploaded"]) == expected and out["unchanged"] == []
    assert out["commitOid"] and out["ignored"] == 5
    tree = api(hangar, "GET", "/api/spaces/admin/up/tree/main?recursive=true").json()
    assert sorted(e["path"] for e in tree if e["type"] == "file") == expected
    history = commits(hangar, "admin/up")
    assert history[0]["title"] == "first upload"

    # Nothing changed: no commit at all.
    r = user.ok("upload", "up", str(folder))
    assert "Nothing to upload" in r.stdout
    assert len(commits(hangar, "admin/up")) == len(history)

    # One file changed: only it travels.
    (folder / "index.html").write_text("<p>v2</p>\n")
    out = user.json("upload", "admin/up", str(folder))
    assert out["uploaded"] == ["index.html"] and len(out["unchanged"]) == len(expected) - 1
    assert len(commits(hangar, "admin/up")) == len(history) + 1
    r = requests.get(f"{hangar.url}/spaces/admin/up/resolve/main/index.html")
    assert r.text == "<p>v2</p>\n"


def test_upload_defaults_to_the_current_folder_and_prints_plain_lines(user, hangar, tmp_path):
    folder = write_tree(tmp_path / "cwd", STATIC_SITE)
    user.ok("spaces", "create", "here", "--sdk", "static")
    r = subprocess.run([HANGAR_BIN, "upload", "here"], cwd=folder, env=user.env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "  README.md (20 B)" in r.stderr and "  index.html (12 B)" in r.stderr
    assert "\r" not in r.stderr
    assert "Uploaded 2 files" in r.stdout and "hangar status admin/here --wait" in r.stdout


def test_upload_draws_a_progress_bar_on_a_terminal(user, hangar, tmp_path):
    folder = write_tree(tmp_path / "tty", {"README.md": "---\nsdk: static\n---\n",
                                           "index.html": "x", "blob.bin": os.urandom(3 << 20)})
    user.ok("spaces", "create", "tty", "--sdk", "static")
    master, slave = pty.openpty()
    r = subprocess.run([HANGAR_BIN, "upload", "tty", str(folder)], env=user.env,
                       stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert r.returncode == 0
    text = drawn.decode(errors="replace")
    assert "100%" in text and "3.0 MiB / 3.0 MiB" in text and "/s" in text and "[####" in text


def test_upload_streams_a_large_file_intact(user, hangar, tmp_path):
    import hashlib
    data = os.urandom(24 << 20) + b"tail"
    folder = write_tree(tmp_path / "big", {"README.md": "---\nsdk: static\n---\n",
                                           "index.html": "big", "weights.bin": data})
    user.ok("spaces", "create", "big", "--sdk", "static")
    user.ok("upload", "big", str(folder), timeout=300)
    r = requests.get(f"{hangar.url}/spaces/admin/big/resolve/main/weights.bin")
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert "Nothing to upload" in user.ok("upload", "big", str(folder)).stdout


def test_upload_of_an_empty_folder_fails(user, tmp_path):
    folder = write_tree(tmp_path / "empty", {".gitignore": "*\n"})
    user.ok("spaces", "create", "empty", "--sdk", "static")
    r = user.run("upload", "empty", str(folder))
    assert r.returncode == 1 and "no files" in r.stderr


# ---- secrets, variables ------------------------------------------------------------------


def test_secret_from_stdin_never_appears_in_argv(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    proc = user.popen("secrets", space, "set", "API_KEY", "--description", "the key",
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)  # it waits on stdin now
    cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read()
    assert b"API_KEY" in cmdline and SECRET_VALUE.encode() not in cmdline
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert SECRET_VALUE not in ps
    out, err = proc.communicate(SECRET_VALUE + "\n", timeout=30)
    assert proc.returncode == 0, err
    assert SECRET_VALUE not in out + err

    listed = user.json("secrets", space, "list")
    assert listed["API_KEY"]["description"] == "the key" and "value" not in listed["API_KEY"]
    table = user.ok("secrets", space, "list").stdout
    assert table.splitlines()[0].split() == ["KEY", "DESCRIPTION", "UPDATED"]
    assert "API_KEY" in table and SECRET_VALUE not in table
    user.ok("secrets", "list", space)  # verb first works too
    r = user.run("secrets", space, "rm", "NOPE")
    assert r.returncode == 4 and "no secret NOPE" in r.stderr
    user.ok("secrets", space, "rm", "API_KEY")
    assert user.json("secrets", space, "list") == {}
    r = user.run("secrets", space, "set", "1BAD", "v")
    assert r.returncode == 1 and "Invalid key" in r.stderr


def test_secret_typed_on_a_terminal_is_not_echoed(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    master, slave = pty.openpty()
    proc = user.popen("secrets", space, "set", "TYPED", stdin=slave, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    os.close(slave)
    prompt = b""
    deadline = time.time() + 10
    while b"Value of secret TYPED" not in prompt and time.time() < deadline:
        prompt += os.read(proc.stderr.fileno(), 1024)
    os.write(master, (SECRET_VALUE + "\n").encode())
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    echoed = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        echoed += chunk
    os.close(master)
    assert SECRET_VALUE.encode() not in echoed and SECRET_VALUE not in out + err
    assert "TYPED" in user.json("secrets", space, "list")


def test_variables_set_list_rm(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    user.ok("variables", space, "set", "MODE", "fast", "--description", "speed")
    user.ok("variables", space, "set", "PIPED", input="from stdin\n")
    listed = user.json("variables", space, "list")
    assert listed["MODE"]["value"] == "fast" and listed["MODE"]["description"] == "speed"
    assert listed["PIPED"]["value"] == "from stdin"
    table = user.ok("variables", space, "list").stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE", "DESCRIPTION", "UPDATED"]
    assert any(line.split()[:3] == ["MODE", "fast", "speed"] for line in table)
    user.ok("variables", space, "rm", "MODE")
    assert list(user.json("variables", space, "list")) == ["PIPED"]
    assert user.run("variables", space, "rm", "MODE").returncode == 4


# ---- runtime ---------------------------------------------------------------------------------


def test_sleep_time_hardware_and_status_of_a_static_space(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    r = user.ok("status", space, "--wait", "--timeout", "60")
    assert r.stdout.splitlines()[-1].startswith("RUNNING")
    assert user.json("status", space)["stage"] == "RUNNING"

    assert "never sleeps" in user.ok("sleep-time", space, "never").stdout
    assert "3600" in user.ok("sleep-time", space, "3600").stdout
    rt = api(hangar, "GET", f"/api/spaces/{space}/runtime").json()
    assert rt["gcTimeout"] == 3600

    flavors = user.json("hardware", space)
    names = [f["name"] for f in flavors]
    assert "cpu-basic" in names
    table = user.ok("hardware", space).stdout.splitlines()
    assert table[0].split() == ["FLAVOR", "NAME", "CPU", "RAM", "ACCELERATOR"]
    assert any(line.startswith("*") and "cpu-basic" in line for line in table)
    other = next((n for n in names if n != "cpu-basic"), None)
    if other:
        user.ok("hardware", space, other)
        rt = api(hangar, "GET", f"/api/spaces/{space}/runtime").json()
        assert rt["hardware"]["requested"] == other
    r = user.run("hardware", space, "warp-drive")
    assert r.returncode == 1 and r.stderr.startswith("hangar: ")

    # Static spaces are served, not run: the server refuses and says why.
    r = user.run("restart", space)
    assert r.returncode == 1 and r.stderr.startswith("hangar: ")


def test_status_wait_exits_1_with_the_error_of_a_broken_space(user, hangar, tmp_path):
    folder = write_tree(tmp_path / "bad", {"README.md": "---\nsdk: gradio\napp_port: 99999\n---\n",
                                           "app.py": "print(1)\n"})
    user.ok("spaces", "create", "bad")
    user.ok("upload", "bad", str(folder))
    r = user.run("status", "bad", "--wait", "--timeout", "60")
    assert r.returncode == 1
    assert "CONFIG_ERROR" in r.stdout and "app_port" in r.stderr
    r = user.run("status", "bad")
    assert r.returncode == 1 and "CONFIG_ERROR" in r.stderr
    r = user.ok("restart", "--factory", "bad")
    assert "Rebuilding admin/bad" in r.stdout
    assert "admin/bad: factory restart requested" in hangar.log()
    r = user.run("status", "bad", "--wait", "--timeout", "60")
    assert r.returncode == 1 and "CONFIG_ERROR" in r.stderr

    user.ok("spaces", "create", "noapp")
    user.ok("upload", "noapp", str(write_tree(tmp_path / "noapp",
                                               {"README.md": "---\nsdk: gradio\n---\n"})))
    r = user.run("status", "noapp", "--wait", "--timeout", "60")
    assert r.returncode == 1 and "NO_APP_FILE" in r.stderr and "hangar upload" in r.stderr


def test_logs_of_a_static_build_end_by_themselves(user, hangar, tmp_path):
    space = static_space(user, tmp_path)
    user.ok("status", space, "--wait", "--timeout", "60")
    started = time.time()
    out = user.ok("logs", space, "--build").stdout
    assert "Build succeeded" in out or out.strip()
    lines = out.splitlines()
    assert user.ok("logs", space, "--build", "--tail", "1").stdout.splitlines() == lines[-1:]
    assert user.ok("logs", space, "--build", "-f").stdout == out
    assert time.time() - started < 30


# ---- done when: an empty HOME takes a Gradio app to RUNNING --------------------------------


def read_until(proc, needle, timeout):
    """Reads proc's stdout (unbuffered) until it holds needle, ends, or timeout
    passes; returns what was read."""
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    seen = b""
    deadline = time.time() + timeout
    while time.time() < deadline and needle.encode() not in seen:
        if sel.select(timeout=1):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    sel.close()
    return seen.decode(errors="replace")


def remove_cgroup_parent(name):
    for root in Path("/sys/fs/cgroup").glob("*"):
        for d in sorted((root / name).glob("**/"), key=lambda p: -len(p.parts)):
            try:
                d.rmdir()
            except OSError:
                pass


def test_done_when_login_create_upload_status_logs_follow(hangar_factory, tmp_path):
    # Daemons of other test runs on this host name their groups alike; a
    # parent of its own keeps them from removing this one's as stale.
    parent = f"hangar-test-cli-{os.getpid()}"
    hangar = hangar_factory(env={"HANGAR_CGROUP_PARENT": parent})
    home = tmp_path / "home"
    home.mkdir()
    cli = Client(hangar, home)
    try:
        run_done_when(cli, hangar)
    finally:
        hangar.stop()
        remove_cgroup_parent(parent)


def run_done_when(cli, hangar):
    cli.ok("login", hangar.url, input=hangar.admin_token + "\n")
    cli.ok("spaces", "create", "hello", "--sdk", "gradio")
    r = cli.ok("upload", "hello", str(APPS / "gradio_hello"))
    assert "Uploaded 2 files" in r.stdout
    r = cli.run("status", "hello", "--wait", "--timeout", "900", timeout=960)
    assert r.returncode == 0, r.stdout + r.stderr + hangar.log()[-3000:]
    assert r.stdout.splitlines()[-1].startswith("RUNNING")

    proc = cli.popen("logs", "hello", "-f", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(proc, "hello from the app", 60)
        assert "hello from the app, space admin/hello" in seen
        time.sleep(3)  # -f keeps following the live log
        assert proc.poll() is None
    finally:
        # SIGTERM, not SIGINT: a test run started in the background by a
        # non-interactive shell has SIGINT ignored, and children inherit that.
        proc.terminate()
        proc.wait(10)

    # Without -f the live log is printed and the command ends.
    out = cli.ok("logs", "hello", timeout=30).stdout
    assert "hello from the app" in out
    assert cli.ok("logs", "hello", "--build", timeout=30).stdout.strip()

    # Pause stops it; status --wait says so; restart brings it back.
    assert "Paused" in cli.ok("pause", "hello").stdout
    r = cli.run("status", "hello", "--wait")
    assert r.returncode == 1 and "PAUSED" in r.stderr and "hangar restart" in r.stderr
    cli.ok("restart", "hello")
    r = cli.run("status", "hello", "--wait", "--timeout", "300", timeout=360)
    assert r.returncode == 0, r.stdout + r.stderr
