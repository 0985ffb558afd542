"""`make run` (scripts/run.sh) from an empty build folder: /readyz turns 200
once, when the suite is in its final state (demo client and user seeded), and
never goes back."""

import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from conftest import BIN_DIR, REPO, free_port, tail

RUN_SH = REPO / "scripts" / "run.sh"
BANNER_END = "Ctrl-C stops everything."
START_TIMEOUT = 240


class MakeRun:
    """scripts/run.sh in a build folder of its own (bin/ a copy of the
    binaries under test, nothing else), on free ports, as `make run` starts it."""

    def __init__(self, workdir):
        self.build = workdir / "build"
        if self.build.exists():
            shutil.rmtree(self.build)
        self.build.mkdir(parents=True)
        os.chmod(workdir, 0o755)
        os.chmod(self.build, 0o755)
        # Copies, not a link: ostiaryctl finds the run beside the folder it
        # really is in.
        shutil.copytree(BIN_DIR, self.build / "bin")
        self.http = f"127.0.0.1:{free_port()}"
        bus = free_port()
        while bus + 2 > 65535:
            bus = free_port()
        metrics = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
        self.env.update({
            "BUILD": str(self.build),
            "OSTIARY_HTTP_LISTEN": self.http,
            "OSTIARY_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus}",
            "OSTIARY_KEYS_DIRECT": "off",
            "OSTIARY_PG_PORT": str(free_port()),
            "OSTIARY_SMTP_SINK_PORT": str(free_port()),
            "OSTIARY_METRICS_LISTEN": "off",
            "OSTIARY_METRICS_PORT": str(metrics),
        })
        self.url = f"http://{self.http}"
        self.lines = []
        self.banner = threading.Event()
        self.ended = threading.Event()
        self.statuses = []          # every /readyz answer, in order (0: nothing answered)
        self.stop_polling = threading.Event()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([str(RUN_SH)], cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._poll, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if BANNER_END in line:
                self.banner.set()
        self.ended.set()

    def _poll(self):
        with requests.Session() as s:
            s.trust_env = False
            while not self.stop_polling.is_set():
                try:
                    self.statuses.append(s.get(self.url + "/readyz", timeout=2).status_code)
                except requests.RequestException:
                    self.statuses.append(0)
                if self.ended.is_set():
                    return

    def output(self):
        return "\n".join(self.lines)

    def interrupt(self):
        """Ctrl-C in the terminal: SIGINT to the whole foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        rc = self.proc.wait(timeout=120)
        self.ended.wait(timeout=30)
        return rc

    def stop(self):
        self.stop_polling.set()
        if self.proc and self.proc.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    base = Path(os.environ.get("OSTIARY_E2E_DIR") or tmp_path_factory.mktemp("e2e")) / "make-run"
    base.mkdir(parents=True, exist_ok=True)
    run = MakeRun(base)
    run.start()
    try:
        if not run.banner.wait(timeout=START_TIMEOUT):
            logs = run.build / "run" / "logs"
            pytest.fail("make run printed no banner:\n" + run.output() + "\n" +
                        "".join(f"---- {p.name}\n{tail(p)}" for p in sorted(logs.glob("*.log"))))
        yield run
    finally:
        run.stop()


def answers_after_banner(run, count):
    """Waits until /readyz has answered count more times after the banner."""
    seen = len(run.statuses)
    for _ in range(600):
        if len(run.statuses) >= seen + count or run.ended.is_set():
            return
        threading.Event().wait(0.05)


def test_readyz_never_goes_back_once_200(make_run):
    answers_after_banner(make_run, 10)
    statuses = list(make_run.statuses)
    assert 200 in statuses, statuses
    first = statuses.index(200)
    after = statuses[first:]
    assert all(s == 200 for s in after), (
        f"/readyz went back to {sorted(set(after) - {200})} after its first 200: {statuses}\n{make_run.output()}")


def test_suite_is_seeded_at_first_200(make_run):
    secret = make_run.build / "run" / "rt" / "demo-rp.secret"
    assert secret.is_file() and secret.stat().st_mode & 0o077 == 0
    r = requests.get(make_run.url + "/demo", timeout=10, proxies={"http": None})
    assert r.status_code == 200 and 'id="login"' in r.text, r.text[:500]
    assert "restarting the gateway" not in make_run.output()


def test_banner_names_an_ostiaryctl_invocation_that_works(make_run):
    out = make_run.output()
    line = next((l for l in out.splitlines() if l.strip().startswith("ostiaryctl ")), None)
    assert line, out
    words = line.split()
    ctl = Path(words[1])
    if not ctl.is_absolute():
        ctl = REPO / ctl
    assert ctl == make_run.build / "bin" / "ostiaryctl", line
    assert words[2:4] == ["keys", "status"], line


def test_the_console_is_set_up_with_alice_as_its_admin(make_run):
    """make run registers the console's client and makes alice an admin: the
    banner names /admin, which sends to the login page as the admin client."""
    assert "console    " + make_run.url + "/admin" in make_run.output(), make_run.output()
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(make_run.url + "/admin/login", allow_redirects=False, timeout=10)
        assert r.status_code == 302 and "client_id=ostiary-admin" in r.headers["Location"], r.text[:300]
        r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"].endswith("/login"), (r.status_code, r.text[:300])
    ctl = str(make_run.build / "bin" / "ostiaryctl")
    r = subprocess.run([ctl, "users", "show", "alice"], env=clean_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and re.search(r'"admin":\s*true', r.stdout), r.stdout + r.stderr


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}


def test_ostiaryctl_finds_the_run_without_any_setting(make_run):
    ctl = str(make_run.build / "bin" / "ostiaryctl")
    r = subprocess.run([ctl, "keys", "status"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([ctl, "call", "token.health"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([ctl, "users", "show", "alice"], env=clean_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "alice" in r.stdout, r.stdout + r.stderr


def test_an_environment_naming_a_suite_wins_over_the_run(make_run):
    ctl = str(make_run.build / "bin" / "ostiaryctl")
    env = dict(clean_env(), OSTIARY_BUS_ENDPOINT=f"tcp://127.0.0.1:{free_port()}")
    r = subprocess.run([ctl, "--timeout", "500", "ready", "token"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr


def test_ctrl_c_prints_one_line_and_exits_0(make_run):
    before = len(make_run.lines)
    rc = make_run.interrupt()
    after = [l for l in make_run.lines[before:] if l.strip()]
    assert rc == 0, (rc, after)
    assert after == [f"run: stopped; data kept in {make_run.build / 'run'}"], after
