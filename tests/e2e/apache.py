"""Apache httpd with mod_auth_openidc as a relying party of the test stack.

Debian 12's apache2 and libapache2-mod-auth-openidc (scripts/deps.sh), run
as a private process: its own ServerRoot in a temporary folder, the
configuration of tests/e2e/apache/*.conf.in, a free loopback port per site,
`apache2 -X` (one process, in the foreground, a child of the test), never
the system's service or configuration. As root it switches to www-data (or
nobody) like any Apache, so its folder is world-readable.

    apache = Apache(stack)
    site = apache.add_site("app1")          # its port and redirect URI are known now
    site.client_id, site.client_secret = ...  # register the client with them
    apache.start()                          # returns when every port answers
    ... site.url("/protected/") ...
    apache.stop()                           # always (a fixture's finally)

Every site serves /protected/index.shtml and /protected/second.shtml behind
`AuthType openid-connect`: each prints, one `NAME=value` a line, the
variables mod_auth_openidc put in the request's environment (ENV_VARS), which
`claims(text)` reads back. /loggedout.html is public. Without the packages,
`require()` skips the test, or fails it under CI=true, where a missing
package is a broken machine rather than an optional extra.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from string import Template
from urllib.parse import quote

import pytest

from conftest import free_port

HERE = Path(__file__).resolve().parent / "apache"
APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
OIDC_MODULE = MODULES / "mod_auth_openidc.so"
START_TIMEOUT = 15
STOP_GRACE = 10
# What the protected pages print (mod_auth_openidc's environment of the request).
ENV_VARS = ("REMOTE_USER", "AUTH_TYPE", "OIDC_CLAIM_iss", "OIDC_CLAIM_sub", "OIDC_CLAIM_aud",
            "OIDC_CLAIM_sid", "OIDC_CLAIM_email", "OIDC_CLAIM_email_verified", "OIDC_CLAIM_name",
            "OIDC_CLAIM_given_name", "OIDC_CLAIM_family_name", "OIDC_CLAIM_nonce",
            "OIDC_id_token", "OIDC_access_token", "OIDC_access_token_expires")
# What mod_include prints for an unset variable.
UNSET = "(none)"


def missing():
    """Why Apache with mod_auth_openidc cannot run here, or None."""
    if not os.access(APACHE, os.X_OK):
        return f"{APACHE} is missing: Debian's apache2 (scripts/deps.sh install)"
    if not OIDC_MODULE.exists():
        return f"{OIDC_MODULE} is missing: Debian's libapache2-mod-auth-openidc (scripts/deps.sh install)"
    return None


def require():
    """Skips the calling test when the packages are missing; under CI
    (CI=true, as .ci/run sets it) that fails it instead."""
    why = missing()
    if why:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{why}; CI installs every package of scripts/deps.sh, so this is a failure",
                        pytrace=False)
        pytest.skip(why)


def claims(text):
    """NAME → value of a protected page; unset variables are left out."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in ENV_VARS and value != UNSET:
            out[name] = value
    return out


def _page(title):
    lines = [f'{name}=<!--#echo encoding="none" var="{name}" -->' for name in ENV_VARS]
    return f"page={title}\n" + "\n".join(lines) + "\n"


def _run_as():
    """The User and Group lines: only root switches (Apache ignores them otherwise)."""
    if os.geteuid() != 0:
        return ""
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup")):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return f"User {user}\nGroup {group}\n"
    raise RuntimeError("running as root, and neither www-data nor nobody exists for Apache to switch to")


class Site:
    """One application of the server: a virtual host on a port of its own,
    with the client it was registered as."""

    def __init__(self, apache, name, port):
        self.apache = apache
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.redirect_uri = f"{self.base}/protected/redirect_uri"
        self.backchannel_logout_uri = f"{self.redirect_uri}?logout=backchannel"
        self.logged_out_url = f"{self.base}/loggedout.html"
        self.client_id = None
        self.client_secret = None
        # More mod_auth_openidc directives of this site (lines of text).
        self.directives = []

    def url(self, path="/protected/"):
        return self.base + path

    def logout_url(self, return_to=None):
        """mod_auth_openidc's logout: <redirect URI>?logout=<where to land>."""
        return f"{self.redirect_uri}?logout={quote(return_to or self.logged_out_url, safe='')}"


class Apache:
    def __init__(self, stack, issuer=None):
        self.stack = stack
        self.issuer = issuer or stack.base_url
        # Not under the stack's folder: the user Apache switches to must
        # read the documents, and the build folder may be private.
        self.dir = Path(tempfile.mkdtemp(prefix="ostiary-apache."))
        os.chmod(self.dir, 0o755)
        for sub in ("run", "logs", "docs"):
            (self.dir / sub).mkdir(mode=0o755)
        self.sites = []
        self.proc = None
        self._out = None
        self._ports = set()

    def add_site(self, name):
        port = free_port()
        while port in self._ports or port in (self.stack.http_port, self.stack.bus_port):
            port = free_port()
        self._ports.add(port)
        site = Site(self, name, port)
        self.sites.append(site)
        return site

    def _write(self):
        site_template = Template((HERE / "site.conf.in").read_text())
        blocks = []
        for site in self.sites:
            if not site.client_id or not site.client_secret:
                raise ValueError(f"site {site.name} has no client registered")
            docroot = self.dir / "docs" / site.name
            (docroot / "protected").mkdir(parents=True, mode=0o755)
            (docroot / "protected" / "index.shtml").write_text(_page("index"))
            (docroot / "protected" / "second.shtml").write_text(_page("second"))
            (docroot / "loggedout.html").write_text("logged out\n")
            blocks.append(site_template.substitute(
                name=site.name, port=site.port, docroot=docroot, issuer=self.issuer,
                client_id=site.client_id, client_secret=site.client_secret,
                passphrase=secrets.token_urlsafe(24), directives="\n    ".join(site.directives)))
        conf = Template((HERE / "httpd.conf.in").read_text()).substitute(
            root=self.dir, modules=MODULES, user_group=_run_as(), sites="\n".join(blocks))
        path = self.dir / "httpd.conf"
        path.write_text(conf)
        # The client secrets and passphrases: for Apache only.
        os.chmod(path, 0o600)
        return path

    def start(self):
        """Starts apache2 -X and returns once every site's port accepts a
        connection; on failure it is stopped and the error says why."""
        conf = self._write()
        self._out = open(self.dir / "logs" / "stdout.log", "wb")
        self.proc = subprocess.Popen([APACHE, "-X", "-d", str(self.dir), "-f", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        # A record for scripts/test.sh, which ends what a killed pytest left.
        with open(self.stack.workdir / "pids", "a") as f:
            f.write(f"{self.proc.pid} apache2\n")
        deadline = time.monotonic() + START_TIMEOUT
        try:
            for site in self.sites:
                while not self._accepts(site.port):
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"apache2 exited with status {self.proc.returncode}\n"
                                           + self.logs())
                    if time.monotonic() >= deadline:
                        raise RuntimeError(f"apache2 not listening on {site.port} after "
                                           f"{START_TIMEOUT} s\n" + self.logs())
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def error_log(self):
        try:
            return (self.dir / "logs" / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def access_log(self):
        try:
            return (self.dir / "logs" / "access.log").read_text(errors="replace")
        except OSError:
            return ""

    def logs(self):
        out = []
        for name in ("stdout.log", "error.log"):
            try:
                out.append(f"---- apache {name}\n" + (self.dir / "logs" / name).read_text(errors="replace"))
            except OSError:
                pass
        return "".join(out)

    def stop(self):
        """SIGTERM (SIGKILL after STOP_GRACE s); keeps its logs in the
        stack's log folder and removes the rest."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_GRACE)
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.dir.is_dir():
            tag = self.dir.name.rsplit(".", 1)[-1]
            for name in ("error.log", "access.log", "stdout.log"):
                src = self.dir / "logs" / name
                if src.exists():
                    shutil.copy(src, self.stack.log_dir / f"apache-{tag}-{name}")
            shutil.rmtree(self.dir, ignore_errors=True)
