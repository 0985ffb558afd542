"""Helpers of the email tests: the SMTP sink process (scripts/smtp_sink.py)
that every flow-svc of the e2e stack sends to, and readers of the messages it
keeps (<n>.eml files in stack.mail_dir).

    msgs = mail.wait_for(stack.mail_dir, to="bob@example.org")   # [Message]
    mail.text(msgs[-1])              # the decoded text/plain body
    mail.code(msgs[-1])              # the first run of 6-8 digits in it
    mail.links(msgs[-1])             # the http(s) URLs in it
    mail.message_ids(stack.mail_dir) # every Message-ID, one per file

Messages are parsed with the standard library's email package (a second
implementation of RFC 5322/MIME, never our own code)."""

import email
import email.policy
import re
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SINK = REPO / "scripts" / "smtp_sink.py"
NAME = re.compile(r"^(\d+)\.eml$")


class SmtpSink:
    """scripts/smtp_sink.py on 127.0.0.1:port writing into folder. start()
    returns once it accepts connections; stop() and start() again keep the
    port, so a test can take the server away and bring it back."""

    def __init__(self, folder, port, log_path=None):
        self.folder = Path(folder)
        self.port = port
        self.log_path = log_path or self.folder.parent / "smtp_sink.log"
        self.proc = None
        self._log = None

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        if self.running():
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(SINK), "--host", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.folder)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"smtp_sink exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"220"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"smtp_sink not listening on {self.port} after {timeout} s")

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._log:
            self._log.close()
            self._log = None


def files(folder):
    """The message files of folder, in the order the sink took them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), folder / name) for name in (p.name for p in folder.iterdir())
             if (m := NAME.match(name))]
    return [path for _, path in sorted(found)]


def read(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def messages(folder, to=None):
    """Every message of folder (optionally only those addressed to `to`)."""
    out = [read(p) for p in files(folder)]
    if to is not None:
        out = [m for m in out if to.lower() in str(m.get("To", "")).lower()]
    return out


def wait_for(folder, to=None, count=1, timeout=15):
    """At least `count` messages (to `to`), waiting up to timeout seconds;
    returns what there is then (the caller asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages(folder, to)
        if len(found) >= count or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


def text(msg):
    """The decoded text/plain body."""
    part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
    return part.get_content()


def code(msg, digits=(6, 8)):
    """The first run of 6 to 8 digits in the body (an email code), or None."""
    m = re.search(r"(?<!\d)(\d{%d,%d})(?!\d)" % digits, text(msg))
    return m.group(1) if m else None


def links(msg):
    return re.findall(r"https?://[^\s<>\"]+", text(msg))


def message_ids(folder):
    """The Message-ID of every file, in order (a repeat is a duplicate)."""
    return [str(m.get("Message-ID", "")).strip() for m in messages(folder)]
