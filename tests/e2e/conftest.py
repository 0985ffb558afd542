"""End-to-end harness: the whole Ostiary stack on free loopback ports.

The session fixture `stack` starts keys-svc, token-svc, flow-svc and the
gateway (with its bus broker) against a PostgreSQL cluster, waits for /readyz
and hands tests a handle to drive and disturb them:

    stack.base_url                 issuer == gateway base URL
    stack.bus_endpoint             the broker's tcp:// endpoint
    stack.env                      environment for ostiaryctl and the services
    stack.bin(name)                path of a binary
    stack.metrics_targets(name=None) host:port of the metrics listener of every live
                                   instance (of name, or of every process)
    stack.metrics(name)            GET /metrics of the first live instance of name: text
    stack.ctl(*args, input=None, timeout=30)   ostiaryctl → CompletedProcess (as admin)
    stack.ctl_as(role, *args, ...)             ostiaryctl with the bus key of role
    stack.ctl_for(op, *args, ...)              ostiaryctl with the key of a role that
                                   proto/access.def allows to call op (admin first)
    stack.bus_keys                 the stack's CURVE key set (ostiaryctl bus keygen):
                                   <role>.key and peers/<role>/<role>.pub
    stack.start(name, extra_env=None)          a NEW instance → Instance
                                   (extra_env value None unsets a variable)
    stack.instances(name)          live instances of a service
    stack.stop_all(name)           SIGTERM every instance and wait
    stack.ensure(name)             start one instance if none is alive
    stack.wait_ready(timeout=15)   poll /readyz until 200
    stack.log_text(name)           every log line of that service so far
    stack.log_paths()              every process log of the session (and exported spans)
    stack.pg_admin                 the cluster's superuser conninfo (or None)
    stack.pg_dir                   the cluster's folder (scripts/pg.sh), or None
    stack.pg_stop(mode="fast")     stop PostgreSQL (fast or immediate); returns when down
    stack.pg_start()               start it again; returns when it accepts connections
    stack.mail_dir                 where the SMTP sink keeps every email (<n>.eml;
                                   read with tests/e2e/mail.py)
    stack.smtp                     that sink (mail.SmtpSink: .stop(), .start());
                                   every flow-svc gets OSTIARY_SMTP_URL to it and
                                   OSTIARY_WEBHOOK_ALLOW_PRIVATE=1 (local receivers)

Fixtures of the page tests: `browser` (a flowweb.FlowBrowser per test; a
module may override it with its own) and `client` (one confidential client
per module, oidc.make_client).

The cluster comes from the environment when scripts/test.sh provides one
(OSTIARY_DB_TOKEN, OSTIARY_DB_FLOW, OSTIARY_DB_KEYS, OSTIARY_PG_ADMIN);
otherwise the fixture makes a throwaway one with scripts/pg.sh. Run on
pytest-xdist workers (scripts/test.sh: -n OSTIARY_E2E_WORKERS --dist
loadfile), each worker is a session of its own: its own folder
(OSTIARY_E2E_DIR/gw<N>), its own throwaway cluster whatever the environment
says, and free_port() answers from a slice of ports no other worker uses. `stack.env`
carries those conninfos too (each service gets only its own, as OSTIARY_DB).
Service names may be given as "token-svc" or "token". Binaries come from OSTIARY_BIN_DIR
(default build/rel/bin, build/san/bin with SANITIZE=1).

A test that stops a service restores it in a `finally:` with
`stack.ensure(name)` and `stack.wait_ready()`; the autouse fixture below does
the same after every test anyway, so one failing test cannot break the next.
"""

import atexit
import base64
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

import leaks
from flowweb import FlowBrowser
from mail import SmtpSink
from oidc import make_client

leaks.install()

# The gateway closes a keep-alive connection idle for OSTIARY_HTTP_KEEP_ALIVE_MS
# (500 ms by default); a request sent on it as it closes is lost
# (RemoteDisconnected, no answer), which a loaded machine makes likely
# between a page and the POST of its form. The tests' HTTP clients do not
# reuse a connection idle for longer than KEEP_ALIVE_REUSE: they open a new
# one, as a client that knows the server's keep-alive time does.
KEEP_ALIVE_REUSE = 0.1


def _no_reuse_after_idle():
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        last = getattr(self, "_ostiary_last_send", None)
        if last is not None and time.monotonic() - last > KEEP_ALIVE_REUSE:
            # Close the idle connections of every pool (each taken from the
            # pool's queue and replaced by an empty slot; a thread that finds
            # the queue empty meanwhile opens a connection of its own).
            for key in list(self.poolmanager.pools.keys()):
                pool = self.poolmanager.pools.get(key)
                slots = getattr(pool, "pool", None)
                if slots is None:
                    continue
                taken = 0
                while True:
                    try:
                        conn = slots.get(block=False)
                    except queue.Empty:
                        break
                    taken += 1
                    if conn is not None:
                        conn.close()
                for _ in range(taken):
                    slots.put(None)
        try:
            return original(self, request, *args, **kwargs)
        finally:
            self._ostiary_last_send = time.monotonic()

    HTTPAdapter.send = send


_no_reuse_after_idle()

REPO = Path(__file__).resolve().parents[2]
SANITIZE = os.environ.get("SANITIZE") == "1"
BIN_DIR = Path(os.environ.get("OSTIARY_BIN_DIR")
               or REPO / "build" / ("san" if SANITIZE else "rel") / "bin").resolve()
if not SANITIZE and BIN_DIR.parent.name == "san":
    SANITIZE = True
BUILD_DIR = BIN_DIR.parent

SERVICES = ("keys-svc", "token-svc", "flow-svc")
PROCESSES = SERVICES + ("gateway",)
DB_VARS = {
    "token-svc": "OSTIARY_DB_TOKEN",
    "flow-svc": "OSTIARY_DB_FLOW",
    "keys-svc": "OSTIARY_DB_KEYS",
}
# Secrets only one process may see (the others never get them).
ADMIN_CLIENT_ID = "ostiary-admin"
SECRET_OWNERS = {"OSTIARY_KEK": "keys-svc", "OSTIARY_CLIENT_SECRET_KEY": "token-svc",
                 "OSTIARY_FLOW_SECRET_KEY": "flow-svc", "OSTIARY_CONSOLE_KEY": "gateway"}
# Services may be named by process ("keys-svc") or by bus service ("keys").
ALIASES = {"token": "token-svc", "flow": "flow-svc", "keys": "keys-svc"}
# The bus role (proto/access.def) of each process: its CURVE key.
ROLES = {"gateway": "gateway", "token-svc": "token", "flow-svc": "flow", "keys-svc": "keys"}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# What common/bus_worker.c logs when a handler breaks its op's contract.
CONTRACT_MARKS = ("does not match proto/ops.def", "which proto/ops.def does not list")
READY_TIMEOUT = 30
# The per-address login throttle of the test session (see Stack.boot).
SESSION_ADDRESS_THRESHOLD = 1000000
STOP_GRACE = 10


def _children():
    """Pids of this process's children (the workers of a pytest-xdist run,
    in the process that runs them)."""
    pids = []
    try:
        tasks = os.listdir(f"/proc/{os.getpid()}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                pids.extend(int(p) for p in f.read().split())
        except (OSError, ValueError):
            pass
    return pids


def _terminated(signum, frame):
    # SIGTERM (scripts/test.sh's time limit, a CI runner) ends the session the
    # way Ctrl-C does, so that the fixtures' teardown stops every process.
    # The controller of a pytest-xdist run passes it on to its workers, which
    # run the stacks (`timeout` signals the controller only).
    if not WORKER:
        for pid in _children():
            try:
                os.kill(pid, signum)
            except OSError:
                pass
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _terminated)


# pytest-xdist (scripts/test.sh runs the session on several workers): each
# worker is a pytest process of its own with its own stack, named gw0, gw1...
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
WORKER_COUNT = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) if WORKER else 1
WORKER_INDEX = int(WORKER[2:]) if WORKER and WORKER[2:].isdigit() else 0
# free_port() takes ports from below the kernel's ephemeral range (which
# outgoing connections draw from), each worker from a slice of its own.
PORT_LOW = 10000
_given_ports = set()


def _port_slice():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        high = 32768
    if high - PORT_LOW < 1000 * WORKER_COUNT:
        high = PORT_LOW + 1000 * WORKER_COUNT
    size = (high - PORT_LOW) // WORKER_COUNT
    low = PORT_LOW + WORKER_INDEX * size
    return low, low + size


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, never one
    this process handed out before, and never one another worker of the run
    can get: between this answer and the bind of whoever uses it, nothing of
    ours takes it."""
    low, high = _port_slice()
    for _ in range(10000):
        port = random.randrange(low, high)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{high - 1}")


def new_kek():
    """32 random bytes, base64url without padding (OSTIARY_KEK and
    OSTIARY_CLIENT_SECRET_KEY)."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({e})\n"


class Instance:
    """One running process of a service."""

    def __init__(self, name, proc, log_path, log_file, metrics=None):
        self.name = name
        # host:port of its metrics listener (OSTIARY_METRICS_LISTEN), or None
        self.metrics = metrics
        self.proc = proc
        self.log_path = log_path
        self._log_file = log_file

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def terminate(self):
        """SIGTERM: a clean stop."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def kill(self):
        """SIGKILL: a crash as seen by everyone else."""
        if self.alive():
            self.proc.kill()

    def wait(self, timeout=None):
        """Exit status; raises subprocess.TimeoutExpired."""
        rc = self.proc.wait(timeout)
        self._close()
        return rc

    def stop(self, grace=STOP_GRACE):
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status."""
        self.terminate()
        try:
            return self.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.wait(grace)

    def _close(self):
        if self._log_file and not self._log_file.closed:
            self._log_file.close()

    def __repr__(self):
        state = "alive" if self.alive() else f"exited {self.proc.returncode}"
        return f"<Instance {self.name} pid={self.pid} {state}>"


class Cluster:
    """A throwaway PostgreSQL cluster made with scripts/pg.sh."""

    def __init__(self, folder):
        self.dir = folder
        self.pg = str(REPO / "scripts" / "pg.sh")
        env = dict(os.environ, OSTIARY_PG_FAST="1")
        subprocess.run([self.pg, "init", folder, str(free_port())], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run([self.pg, "start", folder], check=True)
        self.started = True
        subprocess.run([self.pg, "bootstrap", folder], check=True)
        out = subprocess.run([self.pg, "env", folder], check=True, capture_output=True,
                             text=True).stdout
        self.env = {}
        for line in out.splitlines():
            # export NAME='value' (values never hold a quote: see pg.sh)
            name, _, value = line[len("export "):].partition("=")
            self.env[name] = value.strip("'")

    def stop(self):
        if self.started:
            self.started = False
            subprocess.run([self.pg, "stop", self.dir], check=False)


class Stack:
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.san_dir = self.workdir / "san"
        self._procs = {name: [] for name in PROCESSES}
        self._counts = {name: 0 for name in PROCESSES}
        self._cluster = None
        self._pg_tmp = None

        db = {var: os.environ.get(var) for var in DB_VARS.values()}
        if WORKER or not all(db.values()):
            # No cluster from scripts/test.sh, or one of several workers (tests
            # stop and start PostgreSQL, and count rows): make our own (pg.sh needs a
            # folder the postgres user can reach, so not a 0700 temp folder).
            pg_dir = self.workdir / "pg"
            os.chmod(self.workdir, 0o755)
            check = subprocess.run([str(REPO / "scripts" / "pg.sh"), "check", str(pg_dir)])
            if check.returncode != 0:
                # The postgres user cannot reach the build folder (a clone
                # under /root, say): the throwaway cluster goes to /var/tmp.
                self._pg_tmp = tempfile.mkdtemp(prefix="ostiary-e2e.", dir="/var/tmp")
                os.chmod(self._pg_tmp, 0o755)
                pg_dir = Path(self._pg_tmp) / "pg"
            # Where it is, for scripts/test.sh: it stops the cluster of a
            # worker that was killed before its teardown.
            (self.workdir / "cluster").write_text(f"{pg_dir}\n")
            self._cluster = Cluster(str(pg_dir))
            db = {var: self._cluster.env[var] for var in DB_VARS.values()}
        self._db = db
        # The cluster's superuser conninfo (unix socket), for tests that need
        # a database of their own (tests/e2e/test_keys_lifecycle.py); None
        # when the cluster came without one.
        self.pg_admin = (self._cluster.env if self._cluster else os.environ).get("OSTIARY_PG_ADMIN")

        self.http_port = free_port()
        self.bus_port = free_port()
        while self.bus_port == self.http_port:
            self.bus_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.bus_endpoint = f"tcp://127.0.0.1:{self.bus_port}"
        # token-svc signs through keys-svc's direct endpoint (as
        # scripts/run.sh sets it up); one live keys-svc at a time binds it.
        direct_port = free_port()
        while direct_port in (self.http_port, self.bus_port):
            direct_port = free_port()
        self.keys_direct = f"tcp://127.0.0.1:{direct_port}"
        self._direct_holder = None

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OSTIARY_") and k.lower() not in
               ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update({
            "OSTIARY_ISSUER": self.base_url,
            "OSTIARY_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "OSTIARY_BUS_ENDPOINT": self.bus_endpoint,
            "OSTIARY_KEK": new_kek(),
            "OSTIARY_CLIENT_SECRET_KEY": new_kek(),
            "OSTIARY_FLOW_SECRET_KEY": new_kek(),
            # The admin console's session cookies (tests/e2e/test_console.py).
            "OSTIARY_CONSOLE_KEY": new_kek(),
            "OSTIARY_MIGRATIONS_DIR": str(REPO / "migrations"),
            "OSTIARY_JWKS_MAX_AGE": "60",
            "OSTIARY_WORKERS": "2",
            "OSTIARY_HTTP_THREADS": "8",
            # The gateway reports the bus calls its broker refused every
            # second, so tests/e2e/test_audit.py finds them at once.
            "OSTIARY_AUDIT_REFUSALS_INTERVAL": "1",
            # The one client that may hold the admin scope
            # (tests/e2e/test_admin_role.py registers it).
            "OSTIARY_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
            # Runtime files (keys-svc's admin socket) of this stack only, so
            # that parallel stacks and `make run` never share them.
            "OSTIARY_RUN_DIR": str(self.workdir / "rt"),
            "OSTIARY_LOG_LEVEL": os.environ.get("OSTIARY_LOG_LEVEL", "info"),
            # Off for anything run with this environment; start() gives each
            # instance a listener on a free port of its own, never the
            # default ports a `make run` on the same machine may hold.
            "OSTIARY_METRICS_LISTEN": "off",
        })
        env.update(db)
        # The bus's CURVE keys, made once per session: every process gets its
        # role's certificate (OSTIARY_BUS_CERT), ostiaryctl the admin one.
        self.bus_keys = self.workdir / "bus"
        kg = subprocess.run([self.bin("ostiaryctl"), "bus", "keygen", str(self.bus_keys)],
                            capture_output=True, text=True, timeout=30)
        if kg.returncode != 0:
            raise RuntimeError(f"ostiaryctl bus keygen failed: {kg.stdout}{kg.stderr}")
        env["OSTIARY_BUS_PEERS"] = str(self.bus_keys / "peers")
        env["OSTIARY_BUS_CERT"] = str(self.bus_keys / "admin.key")
        self._op_roles = None
        # One SMTP sink for the whole session (started by boot()): every
        # flow-svc sends there; webhooks may reach the tests' local receivers.
        self.mail_dir = self.workdir / "mail"
        smtp_port = free_port()
        while smtp_port in (self.http_port, self.bus_port):
            smtp_port = free_port()
        self.smtp = SmtpSink(self.mail_dir, smtp_port, self.log_dir / "smtp_sink.log")
        env["OSTIARY_SMTP_URL"] = self.smtp.url
        env["OSTIARY_WEBHOOK_ALLOW_PRIVATE"] = "1"
        # The cluster's superuser over its private socket, for tests that
        # must look at or disturb the database directly.
        admin = self.pg_admin
        if admin:
            env["OSTIARY_PG_ADMIN"] = admin
        if SANITIZE:
            self.san_dir.mkdir(exist_ok=True)
            if "log_path=" not in env.get("ASAN_OPTIONS", ""):
                env["ASAN_OPTIONS"] = (f"detect_leaks=1:halt_on_error=1:abort_on_error=0:"
                                       f"log_path={self.san_dir}/asan")
            if "log_path=" not in env.get("UBSAN_OPTIONS", ""):
                env["UBSAN_OPTIONS"] = (f"print_stacktrace=1:halt_on_error=1:"
                                        f"log_path={self.san_dir}/ubsan")
        self.env = env
        self._http = requests.Session()
        self._http.trust_env = False

    # ------------------------------------------------------------ binaries

    def bin(self, name):
        path = BIN_DIR / ALIASES.get(name, name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run make")
        return str(path)

    def ctl(self, *args, input=None, timeout=30, env=None):
        """ostiaryctl with the stack's environment (its bus endpoint), as admin.
        The secrets it sends and prints go to the leak registry (leaks.py)."""
        cp = subprocess.run([self.bin("ostiaryctl"), *map(str, args)], env=env or self.env,
                            input=input, text=True, capture_output=True, timeout=timeout)
        leaks.from_ctl([*args, input or ""], cp.stdout)
        return cp

    def ctl_as(self, role, *args, input=None, timeout=30):
        """ostiaryctl holding the bus key of `role` (gateway, token, flow, keys, admin)."""
        env = dict(self.env, OSTIARY_BUS_CERT=str(self.bus_keys / f"{role}.key"))
        return self.ctl(*args, input=input, timeout=timeout, env=env)

    def op_roles(self, op):
        """The roles proto/access.def allows to call op (from `ostiaryctl ops`)."""
        if self._op_roles is None:
            out = self.ctl("ops")
            assert out.returncode == 0, out.stderr
            self._op_roles = {}
            for line in out.stdout.splitlines():
                words = line.split()
                if "roles" in words:
                    self._op_roles[words[0]] = words[words.index("roles") + 1].split(",")
        return self._op_roles.get(op, [])

    def ctl_for(self, op, *args, input=None, timeout=30):
        """ostiaryctl with the key of a role allowed to call op: tests of an
        op's behaviour act as its real caller (admin when it may)."""
        roles = self.op_roles(op)
        role = "admin" if "admin" in roles or not roles else roles[0]
        return self.ctl_as(role, *args, input=input, timeout=timeout)

    # ------------------------------------------------------------ processes

    def start(self, name, extra_env=None):
        """Starts a NEW instance of `name` and returns its Instance."""
        name = ALIASES.get(name, name)
        if name not in PROCESSES:
            raise ValueError(f"unknown service {name!r}")
        env = dict(self.env)
        for var in (*DB_VARS.values(), "OSTIARY_PG_ADMIN"):
            env.pop(var, None)
        if name in DB_VARS:
            env["OSTIARY_DB"] = self._db[DB_VARS[name]]
        env["OSTIARY_BUS_CERT"] = str(self.bus_keys / f"{ROLES[name]}.key")
        # Each secret goes only to the process that needs it.
        for var, owner in SECRET_OWNERS.items():
            if name != owner:
                env.pop(var, None)
        binds_direct = False
        if name == "token-svc":
            env["OSTIARY_BUS_DIRECT"] = f"keys={self.keys_direct}"
        elif name == "keys-svc" and "OSTIARY_BUS_DIRECT_BIND" not in (extra_env or {}) and \
                (self._direct_holder is None or not self._direct_holder.alive()):
            env["OSTIARY_BUS_DIRECT_BIND"] = self.keys_direct
            binds_direct = True
        env["OSTIARY_METRICS_LISTEN"] = f"127.0.0.1:{free_port()}"
        for k, v in (extra_env or {}).items():
            if v is None:
                env.pop(k, None)  # None unsets a variable
            else:
                env[k] = str(v)
        listen = env.get("OSTIARY_METRICS_LISTEN")
        metrics = listen if listen and listen != "off" else None
        self._counts[name] += 1
        log_path = self.log_dir / f"{name}-{self._counts[name]}.log"
        log_file = open(log_path, "ab", buffering=0)
        proc = subprocess.Popen([self.bin(name)], env=env, cwd=str(REPO),
                                stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
        inst = Instance(name, proc, log_path, log_file, metrics)
        self._procs[name].append(inst)
        if binds_direct:
            self._direct_holder = inst
        # A record for scripts/test.sh, which ends what a killed pytest left.
        with open(self.workdir / "pids", "a") as f:
            f.write(f"{proc.pid} {name}\n")
        return inst

    def metrics_targets(self, name=None):
        names = [ALIASES.get(name, name)] if name else PROCESSES
        return [i.metrics for n in names for i in self._procs[n] if i.alive() and i.metrics]

    def metrics(self, name, timeout=5):
        """The text of GET /metrics of the first live instance of name."""
        targets = self.metrics_targets(name)
        if not targets:
            raise AssertionError(f"no live {name} with a metrics listener")
        r = self._http.get(f"http://{targets[0]}/metrics", timeout=timeout)
        r.raise_for_status()
        return r.text

    def instances(self, name):
        name = ALIASES.get(name, name)
        return [i for i in self._procs[name] if i.alive()]

    def stop_all(self, name):
        """SIGTERM every instance of `name` and wait (SIGKILL after 10 s)."""
        name = ALIASES.get(name, name)
        live = self.instances(name)
        for inst in live:
            inst.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for inst in live:
            try:
                inst.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                inst.kill()
                inst.wait(STOP_GRACE)

    def ensure(self, name):
        """Starts one instance when none of `name` is alive."""
        if not self.instances(name):
            self.start(name)

    def readyz(self):
        """Status code of GET /readyz, 0 when the gateway does not answer."""
        try:
            return self._http.get(self.base_url + "/readyz", timeout=2,
                                  allow_redirects=False).status_code
        except requests.RequestException:
            return 0

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            status = self.readyz()
            if status == 200:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"/readyz is {status or 'unreachable'} after {timeout} s\n" + self.log_tails())
            time.sleep(0.1)

    @property
    def pg_dir(self):
        """The cluster's folder: our own, or scripts/test.sh's (OSTIARY_PG_DIR)."""
        return self._cluster.dir if self._cluster else os.environ.get("OSTIARY_PG_DIR")

    def pg_stop(self, mode="fast"):
        subprocess.run([str(REPO / "scripts" / "pg.sh"), "stop", self.pg_dir, mode], check=True,
                       timeout=90)

    def pg_start(self):
        subprocess.run([str(REPO / "scripts" / "pg.sh"), "start", self.pg_dir], check=True, timeout=90)

    def log_text(self, name):
        """Everything every instance of `name` has logged so far."""
        name = ALIASES.get(name, name)
        text = []
        for inst in self._procs[name]:
            try:
                text.append(inst.log_path.read_text(errors="replace"))
            except OSError:
                pass
        return "".join(text)

    def log_paths(self):
        """Every log file of every process started, and every file of
        exported spans a test kept in the log folder (otlp-*.json): what the
        secrets check of the session reads."""
        paths = [inst.log_path for name in PROCESSES for inst in self._procs[name]]
        return paths + sorted(self.log_dir.glob("otlp-*.json"))

    def log_tails(self, lines=30):
        out = []
        for name in PROCESSES:
            for inst in self._procs[name]:
                out.append(f"---- {inst.log_path.name} ({'alive' if inst.alive() else f'exited {inst.proc.returncode}'})\n")
                out.append(tail(inst.log_path, lines))
        return "".join(out)

    # ------------------------------------------------------------ whole stack

    def boot(self):
        self.smtp.start()
        for name in SERVICES:
            self.start(name)
        self.start("gateway")
        deadline = time.monotonic() + READY_TIMEOUT
        while self.readyz() != 200:
            dead = [i for n in PROCESSES for i in self._procs[n] if not i.alive()]
            if dead or time.monotonic() >= deadline:
                why = (f"{dead[0].name} exited with status {dead[0].proc.returncode}"
                       if dead else f"/readyz not 200 after {READY_TIMEOUT} s")
                print(f"stack failed to start: {why}\n{self.log_tails()}")
                raise RuntimeError(f"stack failed to start: {why}\n{self.log_tails()}")
            time.sleep(0.1)
        # Every HTTP test logs in from 127.0.0.1, wrong passwords included: the
        # per-address throttle (flow.settings address_threshold, 50 failures
        # per window) would otherwise end the session's logins part-way. The
        # throttle's own tests lower it and put this value back.
        r = self.ctl("settings", "set", "address_threshold", SESSION_ADDRESS_THRESHOLD)
        if r.returncode != 0:
            raise RuntimeError(f"cannot set address_threshold: {r.stdout}{r.stderr}")

    def shutdown(self):
        live = [i for n in PROCESSES for i in self._procs[n] if i.alive()]
        # The gateway last: services disconnect from a live broker.
        live.sort(key=lambda i: i.name == "gateway")
        for inst in live:
            inst.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for inst in live:
            try:
                inst.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                inst.kill()
                inst.wait(STOP_GRACE)
        for name in PROCESSES:
            for inst in self._procs[name]:
                inst._close()
        self._http.close()
        self.smtp.stop()
        if self._cluster:
            self._cluster.stop()
        if self._pg_tmp:
            shutil.rmtree(self._pg_tmp, ignore_errors=True)
            self._pg_tmp = None

    def contract_violations(self):
        """Log lines where a service broke proto/ops.def: a result that does
        not match its op's table, or an error the op does not list (builds
        with assertions check both; common/bus_worker.c)."""
        found = []
        for name in PROCESSES:
            for inst in self._procs[name]:
                for line in tail(inst.log_path, 1000000).splitlines():
                    if any(mark in line for mark in CONTRACT_MARKS):
                        found.append(f"{inst.log_path.name}: {line}")
        return found

    def sanitizer_reports(self):
        """Report files and log excerpts left by the sanitizers."""
        found = []
        if self.san_dir.is_dir():
            for path in sorted(self.san_dir.iterdir()):
                found.append(f"---- {path}\n{tail(path, 60)}")
        for name in PROCESSES:
            for inst in self._procs[name]:
                text = tail(inst.log_path, 100000)
                if any(mark in text for mark in SANITIZER_MARKS):
                    found.append(f"---- {inst.log_path}\n{tail(inst.log_path, 60)}")
        return found


def _workdir():
    given = os.environ.get("OSTIARY_E2E_DIR")
    if given:
        # Each worker of a pytest-xdist run in a folder of its own.
        path = Path(given) / WORKER if WORKER else Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    base = BUILD_DIR / "e2e"
    old = os.umask(0o022)
    try:
        base.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
    return Path(tempfile.mkdtemp(prefix="run-", dir=str(base))), True


@pytest.fixture(scope="session")
def stack(request):
    workdir, own = _workdir()
    s = Stack(workdir)
    atexit.register(s.shutdown)
    try:
        s.boot()
    except BaseException:
        s.shutdown()
        raise
    yield s
    s.shutdown()
    reports = s.sanitizer_reports() if SANITIZE else []
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)
    problems = []
    violations = s.contract_violations()
    if violations:
        problems.append("results or errors outside proto/ops.def:\n" + "\n".join(violations[:50]))
    # Secrets never reach logs or traces: every secret the session's tests
    # sent or received (leaks.py) is looked for in every process log and
    # every exported span.
    found = leaks.scan(s.log_paths())
    if found:
        problems.append(f"{len(found)} secrets found in logs or spans (of {leaks.count()} registered):\n" +
                        "\n".join(found[:50]))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    # A folder of our own is removed unless something failed: then its logs
    # are what the developer reads next.
    if own and request.session.testsfailed == 0:
        shutil.rmtree(workdir, ignore_errors=True)


# The longest files, longest first (their summed test times, setup and
# teardown included, in a run on three workers: 360, 270, 200, 190, 130, 120
# and 100 s of about 2600). Under pytest-xdist (--dist loadfile) files go to
# the workers in collection order, each to the next worker nearly done, so
# these start first and no long file starts last while the others idle.
LONG_FILES = ("test_refresh.py", "test_faults_token.py", "test_audit.py", "test_keys_lifecycle.py",
              "test_lockout.py", "test_flow_engine.py", "test_second_factor_lockout.py")


def pytest_collection_modifyitems(session, config, items):
    """Under pytest-xdist, the files of LONG_FILES first (each keeps the
    order of its tests, the other files theirs)."""
    if WORKER:
        rank = {name: i for i, name in enumerate(LONG_FILES)}
        items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))


# The secrets checks of the workers of a pytest-xdist run, added up by the
# controller: [secrets, files, hits, workers that scanned].
_worker_scans = [0, 0, 0, 0]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """A worker hands its secrets check to the controller (workeroutput)."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None and leaks.last_scan is not None:
        out["leaks_scan"] = list(leaks.last_scan)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    scan = getattr(node, "workeroutput", {}).get("leaks_scan")
    if scan:
        for i in range(3):
            _worker_scans[i] += scan[i]
        _worker_scans[3] += 1


def pytest_terminal_summary(terminalreporter):
    """One line on the secrets check of the session (leaks.py), of every
    worker together when several ran."""
    if leaks.last_scan is not None:
        secrets, files, hits = leaks.last_scan
        terminalreporter.write_line(f"secrets check: {secrets} secrets looked for in {files} logs and span "
                                    f"files, {hits} found")
    elif _worker_scans[3]:
        secrets, files, hits, workers = _worker_scans
        terminalreporter.write_line(f"secrets check: {secrets} secrets looked for in {files} logs and span "
                                    f"files, {hits} found ({workers} workers)")


@pytest.fixture
def http():
    """requests.Session without proxies; pass allow_redirects per call."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def browser(stack):
    """A fresh browser-like session (cookies of its own) for the pages."""
    b = FlowBrowser(stack)
    yield b
    b.close()


@pytest.fixture(scope="module")
def client(stack):
    """One client of the module: (client_id, client_secret, redirect_uri)."""
    return make_client(stack)


@pytest.fixture(autouse=True)
def _restore_stack(request):
    """After each test that used the stack, every service runs and /readyz is 200."""
    yield
    if "stack" not in request.fixturenames:
        return
    try:
        s = request.getfixturevalue("stack")
    except Exception:
        return  # the stack never started: that error is reported already
    s.smtp.start()
    for name in PROCESSES:
        s.ensure(name)
    s.wait_ready()
