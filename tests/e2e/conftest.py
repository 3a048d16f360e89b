"""End-to-end harness: starts a real `hangar serve` on a free loopback port
with a temporary data directory, and talks HTTP to it."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

# Hangar speaks the LFS batch API, not Xet: huggingface_hub uses Xet for LFS
# files whenever hf_xet is installed unless told not to, and reads this when
# it is first imported, so it is set before any test module imports it.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

ROOT = Path(__file__).resolve().parents[2]
HANGAR_BIN = os.environ.get("HANGAR_BIN", str(ROOT / "build" / "hangar"))
ADMIN_TOKEN = "hf_" + "AdminTokenForTests" + "x" * 16
VENV = Path(os.environ.get("HANGAR_VENV", Path.home() / ".cache" / "hangar" / "venv"))
# Downloads of space builds are cached outside the checkout, across runs.
UV_CACHE = os.environ.get("HANGAR_UV_CACHE", str(Path.home() / ".cache" / "hangar" / "uv"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hangar:
    """A running daemon: its URL, data directory, tokens and log."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = Path(data_dir)
        self.extra_args = list(extra_args)
        self.extra_env = env or {}
        self.port = None
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-serve.log"
        self.admin_token = ADMIN_TOKEN

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        self.port = free_port()
        env = dict(os.environ)
        env.update({"HANGAR_ADMIN_TOKEN": self.admin_token,
                    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                    "LSAN_OPTIONS": f"suppressions={ROOT / 'tests' / 'lsan.supp'}",
                    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
                    "HANGAR_UV_CACHE": UV_CACHE})
        if (VENV / "bin" / "uv").exists():
            env.setdefault("HANGAR_UV", str(VENV / "bin" / "uv"))
        env.update(self.extra_env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HANGAR_BIN, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data", str(self.data_dir), *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hangar exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or slow on a loaded machine: ask again
            time.sleep(0.05)
        raise RuntimeError("hangar did not start:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the daemon and returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cli(self, *args, check=True, input=None, env=None):
        """Runs a `hangar` subcommand on this daemon's data directory."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        r = subprocess.run([HANGAR_BIN, *args, "--data", str(self.data_dir)],
                           capture_output=True, text=True, input=input, env=full_env)
        if check and r.returncode != 0:
            raise AssertionError(f"hangar {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def headers(self, token=None):
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def sanitizer_reports(self):
        text = self.log()
        found = [marker for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                       "runtime error:") if marker in text]
        return found + thread_sanitizer_reports(text)


def thread_sanitizer_reports(text):
    """ThreadSanitizer's reports (make test-tsan), but those about a file
    descriptor number: libuv closes sockets with syscall(SYS_close), which
    ThreadSanitizer does not see, so a number a loop thread closed and the main
    thread's next open() reuses looks like a race on the descriptor."""
    reports = []
    for block in text.split("WARNING: ThreadSanitizer")[1:]:
        block = block.split("SUMMARY: ThreadSanitizer")[0]
        if "Location is file descriptor" not in block:
            reports.append("WARNING: ThreadSanitizer" + block[:3000])
    return reports


def mounts_under(path):
    """Mount points below path (a space's /data is a loop-mounted image)."""
    prefix = str(Path(path).resolve()) + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


@pytest.fixture
def hangar_factory(tmp_path):
    started = []

    def make(extra_args=(), data_dir=None, env=None):
        h = Hangar(data_dir or tmp_path / f"data{len(started)}", extra_args, env)
        h.start()
        started.append(h)
        return h

    yield make
    for h in started:
        rc = h.stop()
        # A daemon that stopped cleanly unmounted every /data image; one that
        # was killed leaves them for the next start: release them here.
        left = mounts_under(h.data_dir)
        for point in reversed(left):
            subprocess.run(["umount", "-l", point], capture_output=True)
        # podman's own storage (DATA/oci: its graph root, and a removed
        # container's layer while conmon cleans up) is the engine's to manage.
        oci = str((h.data_dir / "oci").resolve()) + "/"
        ours = [p for p in left if not p.startswith(oci)]
        assert rc != 0 or not ours, f"mounted after a clean stop: {ours}"
        reports = h.sanitizer_reports()
        assert not reports, f"sanitizer reported {reports}:\n{h.log()[-4000:]}"
        assert rc in (0, None, -9), f"hangar exited {rc}:\n{h.log()[-4000:]}"


@pytest.fixture
def hangar(hangar_factory):
    return hangar_factory()
