"""Faults lose nothing: token-svc and the gateway killed with SIGKILL in the
middle of refreshes and code exchanges under load. A client whose reply was
lost retries what it sent, as a 503 with Retry-After invites it to; a retry is
never taken for reuse, no code is redeemed twice, and what the database holds
afterwards is checked, not only the status codes."""

import concurrent.futures
import signal
import threading
import time

import pytest
import requests

import oidc
from lifecycle import Client, family, psql, refresh_client
from test_gateway import wait_stopped
from test_token_ops import code_for, token_form

# How long one client keeps retrying the same request before the test gives up.
RETRY_FOR = 60
# Statuses that mean "no answer": the request may or may not have happened.
NO_ANSWER = {0, 502, 503, 504}


def post_token(stack, client, data):
    """Status and JSON of POST /token (status 0: the connection failed)."""
    try:
        r = oidc.token_request(stack, data, basic=(client.id, client.secret))
    except requests.RequestException:
        return 0, None
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code, body


class Chain:
    """One refresh family used by one client in a loop: each lost answer is
    retried with the same token until an answer comes."""

    def __init__(self, stack, client, token):
        self.stack, self.client, self.token = stack, client, token
        self.successes = 0
        self.retries = 0
        self.errors = []

    def step(self):
        deadline = time.monotonic() + RETRY_FOR
        while True:
            status, body = post_token(self.stack, self.client,
                                      {"grant_type": "refresh_token", "refresh_token": self.token})
            if status == 200:
                self.token = body["refresh_token"]
                self.successes += 1
                return True
            if status not in NO_ANSWER:
                self.errors.append((status, body))
                return False
            self.retries += 1
            if time.monotonic() >= deadline:
                self.errors.append(("no answer for", RETRY_FOR))
                return False
            time.sleep(0.05)  # back-off before the retry, as a client would


def run_chains(stack, chains, kill):
    """Runs every chain until kill() returns, then one more step each."""
    done = threading.Event()

    def loop(chain):
        while not done.is_set():
            if not chain.step():
                return
        chain.step()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(chains)) as pool:
        futures = [pool.submit(loop, c) for c in chains]
        try:
            kill()
        finally:
            done.set()
        for f in futures:
            f.result()


def total(chains):
    return sum(c.successes for c in chains)


def wait_for_progress(chains, more, timeout=60):
    target = total(chains) + more
    assert oidc.wait_until(lambda: total(chains) >= target or any(c.errors for c in chains), timeout), \
        "the refreshes made no progress"


def assert_families_intact(stack, chains):
    for c in chains:
        assert not c.errors, c.errors
        row = psql(stack, "SELECT f.revoked_at IS NULL,"
                          " count(*) FILTER (WHERE t.consumed_at IS NULL AND t.replaced_at IS NULL),"
                          " bool_or(t.consumed_at IS NULL AND t.replaced_at IS NULL"
                          f"   AND t.token_hash = sha256('{c.token}'::bytea))"
                          " FROM token.refresh_families f JOIN token.refresh_tokens t ON t.family_id = f.id"
                          " WHERE f.id = (SELECT family_id FROM token.refresh_tokens"
                          f"   WHERE token_hash = sha256('{c.token}'::bytea)) GROUP BY f.revoked_at")
        # Not revoked, one live token, and it is the one the client holds.
        assert row == "t|1|t", row


def make_chains(stack, n=8):
    client = refresh_client(stack)
    return client, [Chain(stack, client, family(stack, client)[0]["refresh_token"]) for _ in range(n)]


def test_sigkill_of_a_token_svc_during_refreshes_revokes_no_family(stack):
    _, chains = make_chains(stack)
    stack.start("token-svc")

    def kill():
        for _ in range(3):
            wait_for_progress(chains, 30)
            victim = stack.instances("token-svc")[0]
            victim.kill()
            victim.wait(10)
            stack.start("token-svc")

    run_chains(stack, chains, kill)
    assert_families_intact(stack, chains)
    stack.stop_all("token-svc")
    stack.ensure("token-svc")


def test_sigkill_of_the_gateway_during_refreshes_revokes_no_family(stack):
    _, chains = make_chains(stack)

    def kill():
        for _ in range(3):
            wait_for_progress(chains, 30)
            gateway = stack.instances("gateway")[0]
            gateway.kill()
            gateway.wait(10)
            stack.start("gateway")
            stack.wait_ready(30)

    run_chains(stack, chains, kill)
    assert_families_intact(stack, chains)
    assert sum(c.retries for c in chains) > 0, "no request was in flight when the gateway was killed"


@pytest.mark.parametrize("victim", ["gateway", "token-svc"])
def test_sigkill_during_code_exchanges_redeems_no_code_twice(stack, victim):
    """A retried exchange whose first reply was lost is refused (codes are
    single-use, RFC 6749 §4.1.2) and, being the rightful client's replay,
    revokes what the lost reply carried; a code is never redeemed twice.
    The gateway is killed, or one of two token-svc."""
    client = refresh_client(stack)
    if victim == "token-svc":
        stack.start("token-svc")
    codes = [code_for(stack, client, code_challenge=None) for _ in range(40)]
    outcomes = {}
    started = threading.Event()

    def redeem(item):
        code, _, params, _ = item
        answers = []
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            started.set()
            status, body = post_token(stack, client, token_form(code, params))
            answers.append(status)
            if status not in NO_ANSWER:
                outcomes[code] = (answers, body)
                return
            time.sleep(0.05)
        outcomes[code] = (answers, None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(redeem, c) for c in codes]
        assert started.wait(30)
        target = stack.instances(victim)[0]
        target.kill()
        target.wait(10)
        stack.start(victim)
        stack.wait_ready(30)
        for f in futures:
            f.result()

    for code, (answers, body) in outcomes.items():
        final = answers[-1]
        assert final in (200, 400), (code, answers, body)
        if final == 400:
            assert body["error"] == "invalid_grant", body
            # Only a code whose first answer was lost may be refused.
            assert len(answers) > 1, (code, answers)
        consumed, revoked = psql(
            stack, "SELECT consumed_at IS NOT NULL, EXISTS (SELECT 1 FROM token.revoked_jtis r"
                   " WHERE r.jti = c.issued_jti AND r.reason = 'code_replay')"
                   f" FROM token.codes c WHERE code_hash = sha256('{code}'::bytea)").split("|")
        assert consumed == "t", (code, answers)
        # Refused after a lost answer: what that answer carried is revoked.
        assert (revoked == "t") == (final == 400), (code, answers, revoked)
    if victim == "token-svc":
        stack.stop_all("token-svc")
        stack.ensure("token-svc")


def test_a_hung_token_svc_under_a_flood_answers_fast_and_executes_nothing_twice(stack):
    """One of two token-svc is frozen (SIGSTOP) under load: the broker drops
    it after its missed heartbeats, the other answers within 1 s, a flood of
    200 requests gets 200 or 503 (never a hang), and after SIGCONT the
    requests it held, past their deadline, write nothing: their clients were
    answered at the deadline (not earlier, while the frozen one could still
    commit) and retried."""
    _, chains = make_chains(stack)
    cc = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])
    frozen = stack.start("token-svc")

    def frozen_log():
        return frozen.log_path.read_text(errors="replace")

    def cc_request(_=None):
        start = time.monotonic()
        status, body = post_token(stack, cc, {"grant_type": "client_credentials"})
        return status, body, time.monotonic() - start

    def kill():
        # Under load, until the second token-svc serves its share.
        assert oidc.wait_until(lambda: "rotated" in frozen_log() or any(c.errors for c in chains), 30)
        wait_for_progress(chains, 20)
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            wait_stopped(frozen.pid)
            assert oidc.wait_until(lambda: "missed 3 heartbeats; dropped" in stack.log_text("gateway"), 20)
            # Every chain gets past whatever the frozen one held (503 at its
            # deadline, then a retry served by the live one).
            marks = [c.successes for c in chains]
            assert oidc.wait_until(lambda: all(c.successes >= m + 2 for c, m in zip(chains, marks))
                                   or any(c.errors for c in chains), 60)
            status, body, took = cc_request()
            assert status == 200 and took < 1.0, (status, body, took)
            with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
                flood = list(pool.map(cc_request, range(200)))
            assert {s for s, _, _ in flood} <= {200, 503}, flood
            assert max(t for _, _, t in flood) < 6.0
        finally:
            served = frozen_log().count("rotated")
            frozen.proc.send_signal(signal.SIGCONT)
        # It comes back (READY again) and serves its share.
        assert oidc.wait_until(lambda: frozen_log().count("rotated") > served, 30), frozen_log()[-2000:]

    run_chains(stack, chains, kill)
    # A request the frozen one held and executed after its client's retry
    # would have replaced the client's successor or revoked the family.
    assert_families_intact(stack, chains)
    frozen.terminate()
    frozen.wait(10)
