"""flow-svc's janitor (flow-svc/flow_janitor.c): a background round, one
replica at a time, marks executions whose time ran out `expired`, deletes
expired action tokens, and deletes what OSTIARY_FLOW_RETENTION has passed
for: finished executions (with their action tokens), ended login sessions and
delivered or dead outbox rows. What is live or recent stays; users and
lockout counters are never touched (audit events go by their own retention:
tests/e2e/test_audit.py). Each test starts a replica
with a one-second interval and the shortest retention (an hour), and ages rows
with SQL."""

import os
import uuid

import pytest

import oidc
from oidc import ok
from oidc import psql_flow as psql

RETENTION = 3600


@pytest.fixture(scope="module")
def janitor(stack):
    replica = stack.start("flow-svc", {"OSTIARY_JANITOR_INTERVAL": "1", "OSTIARY_JANITOR_BATCH": "2",
                                       "OSTIARY_FLOW_RETENTION": str(RETENTION)})
    yield replica
    replica.stop()


def start(stack):
    body = {"request_id": "req-" + uuid.uuid4().hex, "purpose": "login", "client_ip": "127.0.0.1"}
    return ok(stack, "flow.start", body)


def execution_id(stack, state):
    """The row of the execution a flow handle names (only its hash is stored)."""
    import base64
    import hashlib
    raw = base64.urlsafe_b64decode(state["flow"] + "=" * (-len(state["flow"]) % 4))
    return psql(stack, "SELECT id FROM flow.executions"
                       f" WHERE handle_hash = '\\x{hashlib.sha256(raw).hexdigest()}'::bytea")


def gone(stack, table, where, timeout=15):
    return oidc.wait_until(lambda: psql(stack, f"SELECT count(*) FROM flow.{table} WHERE {where}") == "0",
                           timeout)


def count(stack, table, where):
    return int(psql(stack, f"SELECT count(*) FROM flow.{table} WHERE {where}"))


def token_for(stack, exec_id, expires="now() + interval '10 minutes'"):
    h = os.urandom(32).hex()
    psql(stack, "INSERT INTO flow.action_tokens (hash, purpose, execution_id, node, expires_at)"
                f" VALUES ('\\x{h}'::bytea, 'magic_link', {exec_id}, 'n', {expires})")
    return f"hash = '\\x{h}'::bytea"


def test_execution_whose_time_ran_out_is_marked_expired_and_its_expired_tokens_deleted(stack, janitor):
    state = start(stack)
    eid = execution_id(stack, state)
    dead = token_for(stack, eid, "now() - interval '1 second'")
    live = token_for(stack, eid)
    psql(stack, f"UPDATE flow.executions SET expires_at = now() - interval '1 second' WHERE id = {eid}")
    assert oidc.wait_until(lambda: psql(stack, f"SELECT status FROM flow.executions WHERE id = {eid}")
                           == "expired", 15)
    assert gone(stack, "action_tokens", dead)
    # Expired just now: within the retention, the row and its unexpired token stay.
    assert count(stack, "executions", f"id = {eid}") == 1
    assert count(stack, "action_tokens", live) == 1


def test_finished_execution_past_retention_is_deleted_with_its_tokens(stack, janitor):
    old, recent, running, unclaimed = (execution_id(stack, start(stack)) for _ in range(4))
    token = token_for(stack, old)
    psql(stack, "UPDATE flow.executions SET status = 'succeeded', updated_at = now() - interval '2 hours',"
                f" expires_at = now() - interval '1 hour' WHERE id = {old}")
    # Finished long ago but not expired: a login finished through a link whose
    # browser may still collect its session. Kept.
    psql(stack, "UPDATE flow.executions SET status = 'succeeded', updated_at = now() - interval '2 hours'"
                f" WHERE id = {unclaimed}")
    psql(stack, f"UPDATE flow.executions SET status = 'failed', updated_at = now() WHERE id = {recent}")
    # A live execution is never deleted, however long ago it last moved.
    psql(stack, f"UPDATE flow.executions SET updated_at = now() - interval '2 hours' WHERE id = {running}")
    assert gone(stack, "executions", f"id = {old}")
    assert count(stack, "action_tokens", token) == 0
    assert count(stack, "executions", f"id IN ({recent}, {running}, {unclaimed})") == 3


def test_ended_sessions_past_retention_are_deleted_and_live_ones_kept(stack, janitor):
    user = ok(stack, "flow.user_add", {"username": "jan-" + uuid.uuid4().hex[:12],
                                       "password": "a long enough password"})["user"]
    sids = ["sid-" + uuid.uuid4().hex for _ in range(4)]
    ends = ["expires_at => now() - interval '2 hours'",      # expired long ago: deleted
            "revoked_at => now() - interval '2 hours'",      # revoked long ago: deleted
            "revoked_at => now() - interval '5 minutes'",    # revoked recently: kept
            "expires_at => now() + interval '1 hour'"]       # live: kept
    for sid, end in zip(sids, ends):
        column, value = end.split(" => ")
        expires = value if column == "expires_at" else "now() + interval '1 hour'"
        revoked = value if column == "revoked_at" else "NULL"
        psql(stack, "INSERT INTO flow.sessions (sid, handle_hash, sub, auth_time, amr, expires_at, revoked_at)"
                    f" VALUES ('{sid}', '\\x{os.urandom(32).hex()}'::bytea, '{user['sub']}',"
                    f" now() - interval '3 hours', '[\"pwd\"]', {expires}, {revoked})")
    assert gone(stack, "sessions", f"sid IN ('{sids[0]}', '{sids[1]}')")
    assert count(stack, "sessions", f"sid IN ('{sids[2]}', '{sids[3]}')") == 2
    assert count(stack, "users", f"sub = '{user['sub']}'") == 1


def test_delivered_and_dead_outbox_rows_past_retention_are_deleted_pending_ones_kept(stack, janitor):
    ids = psql(stack, "INSERT INTO flow.outbox (kind, payload, status, created_at, sent_at, next_attempt_at) VALUES"
                      " ('email', NULL, 'sent', now() - interval '3 hours', now() - interval '2 hours', now()),"
                      " ('email', NULL, 'dead', now() - interval '2 hours', NULL, now()),"
                      " ('email', NULL, 'sent', now() - interval '3 hours', now(), now()),"
                      " ('email', 'x', 'pending', now() - interval '3 hours', NULL,"
                      "  now() + interval '1 day') RETURNING id").split()
    assert gone(stack, "outbox", f"id IN ({ids[0]}, {ids[1]})")
    assert count(stack, "outbox", f"id IN ({ids[2]}, {ids[3]})") == 2
    psql(stack, f"DELETE FROM flow.outbox WHERE id = {ids[3]}")


def test_flow_retention_below_an_hour_is_refused(stack):
    inst = stack.start("flow-svc", {"OSTIARY_FLOW_RETENTION": "60"})
    assert inst.wait(10) != 0
    assert "OSTIARY_FLOW_RETENTION" in inst.log_path.read_text()
