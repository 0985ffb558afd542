#!/usr/bin/python3
"""smtp_sink - a local SMTP server that keeps every message as a file.

For development (`make run` points flow-svc's outbox at it and prints the
folder) and for the end-to-end tests (tests/e2e/mail.py reads the folder).
Uses Debian's python3-aiosmtpd. Each message accepted is written whole, as
received (CRLF line ends, after SMTP dot-unstuffing), to <folder>/<n>.eml
with n = 1, 2, ... continuing after the files already there; two header
lines are put in front of it, X-Sink-Mail-From and X-Sink-Rcpt-To, the
envelope. A file appears only once complete (written aside, then renamed).

    scripts/smtp_sink.py --host 127.0.0.1 --port 2525 --dir build/rel/run/mail

Prints one line "smtp_sink: listening on HOST:PORT, messages in DIR" once it
accepts connections, then runs until SIGINT or SIGTERM. Never use it as a
real mail server: it accepts anything from anyone, without TLS.
"""

import argparse
import os
import re
import signal
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller

NAME = re.compile(r"^(\d+)\.eml$")


class Sink:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.lock = threading.Lock()
        numbers = [int(m.group(1)) for m in map(NAME.match, os.listdir(self.folder)) if m]
        self.next = max(numbers, default=0) + 1

    async def handle_DATA(self, server, session, envelope):
        head = (f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
                f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n").encode("utf-8", "replace")
        with self.lock:
            n = self.next
            self.next += 1
        final = self.folder / f"{n}.eml"
        partial = self.folder / f".{n}.eml.part"
        with open(partial, "wb") as f:
            f.write(head)
            f.write(envelope.original_content or envelope.content)
        os.replace(partial, final)
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True, help="folder the messages are written to")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(folder), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp_sink: listening on {args.host}:{args.port}, messages in {folder.resolve()}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
