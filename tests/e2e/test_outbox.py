"""The outbox of flow-svc (docs/flows.md, "Outbox"): an email queued by a flow
step is delivered over SMTP by the delivery thread, as a proper RFC 5322
message, and survives an SMTP outage and a crash of flow-svc without being
lost or sent twice. Messages are read from the session's SMTP sink
(scripts/smtp_sink.py) with Python's own email parser (tests/e2e/mail.py)."""

import email.utils
import re
import time
from datetime import datetime, timezone

import mail
from oidc import ctl_json, make_user
from oidc import psql_flow as psql

SENDER = "ostiary@localhost"  # OSTIARY_SMTP_FROM's default


def last_outbox_id(stack):
    return int(psql(stack, "SELECT coalesce(max(id), 0) FROM flow.outbox") or 0)


def queue_recovery_email(stack, username):
    """Starts the recovery flow and names the user: its email_code node queues
    one email to the user's address in the step's transaction. Returns the
    id of the outbox row it wrote."""
    before = last_outbox_id(stack)
    state = ctl_json(stack, "flow.start", {"flow": "recovery"})
    assert state["status"] == "running" and state["step"]["type"] == "identify", state
    field = state["step"]["fields"][0]
    state = ctl_json(stack, "flow.submit", {"flow": state["flow"], "csrf": state["csrf"],
                                            "node": state["node"], "input": {field: username}})
    assert state["step"]["type"] == "email_code", state
    rows = psql(stack, f"SELECT id FROM flow.outbox WHERE id > {before} AND kind = 'email' ORDER BY id")
    ids = [int(x) for x in rows.split()]
    assert len(ids) == 1, rows
    return ids[0]


def row(stack, outbox_id):
    out = psql(stack, "SELECT status, attempts, payload IS NULL, coalesce(payload, '') "
                      f"FROM flow.outbox WHERE id = {outbox_id}")
    status, attempts, erased, payload = out.split("|", 3)
    return {"status": status, "attempts": int(attempts), "erased": erased == "t", "payload": payload}


def wait_row(stack, outbox_id, pred, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        r = row(stack, outbox_id)
        if pred(r) or time.monotonic() >= deadline:
            return r
        time.sleep(0.1)


def test_outbox_delivers_an_email_through_the_sink(stack):
    username, _ = make_user(stack)
    address = f"{username}@example.org"
    outbox_id = queue_recovery_email(stack, username)
    msgs = mail.wait_for(stack.mail_dir, to=address)
    assert len(msgs) == 1, f"no email to {address}"
    msg = msgs[0]
    # RFC 5322 §3.6: the origination date, originator and destination fields.
    assert msg["From"] == SENDER
    assert msg["To"] == address
    assert msg["Subject"]
    sent = email.utils.parsedate_to_datetime(msg["Date"])
    assert abs((datetime.now(timezone.utc) - sent).total_seconds()) < 300
    # §3.6.4: one id per outbox row, the same on every attempt.
    assert msg["Message-ID"] == f"<outbox-{outbox_id}@localhost>"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["MIME-Version"] == "1.0"
    # The envelope (the sink's X-Sink-* lines) matches the header fields.
    assert msg["X-Sink-Mail-From"] == SENDER
    assert msg["X-Sink-Rcpt-To"] == address
    assert re.fullmatch(r"\d{6,8}", mail.code(msg) or ""), mail.text(msg)
    # Sent: the row keeps no payload (no address, no code) once delivered.
    r = wait_row(stack, outbox_id, lambda r: r["status"] == "sent")
    assert r["status"] == "sent" and r["erased"] and r["attempts"] == 1


def test_email_queued_while_smtp_is_down_is_delivered_once_after_a_crash(stack):
    username, _ = make_user(stack)
    address = f"{username}@example.org"
    stack.smtp.stop()
    try:
        outbox_id = queue_recovery_email(stack, username)
        # The first attempt meets a closed port and schedules a retry.
        r = wait_row(stack, outbox_id, lambda r: r["attempts"] >= 1)
        assert r["status"] == "pending" and r["attempts"] >= 1, r
        # Queued at rest: sealed, neither the address nor the text in clear.
        assert r["payload"] and re.fullmatch(r"[A-Za-z0-9_-]+", r["payload"])
        assert username not in r["payload"]
        # A crash as seen by everyone else: no clean shutdown.
        for inst in stack.instances("flow"):
            inst.kill()
            inst.wait(10)
    finally:
        stack.smtp.start()
    stack.start("flow", {"OSTIARY_OUTBOX_POLL_MS": "100"})
    stack.wait_ready()
    msgs = mail.wait_for(stack.mail_dir, to=address, timeout=20)
    assert len(msgs) == 1, f"no email to {address} after the restart"
    r = wait_row(stack, outbox_id, lambda r: r["status"] == "sent")
    assert r["status"] == "sent" and r["erased"], r
    # Another poll or two: still exactly one message with that id.
    time.sleep(0.5)
    ids = [m["Message-ID"] for m in mail.messages(stack.mail_dir, to=address)]
    assert ids == [f"<outbox-{outbox_id}@localhost>"]
