"""End-to-end behaviour of the bus between real processes: scaling out by
starting another token-svc, losing a worker, and no worker at all."""
import json
import signal
import time

from oidc import wait_for
from test_bus_security import broker_workers


def _health(stack, timeout_ms=5000):
    r = stack.ctl("--timeout", str(timeout_ms), "call", "token.health")
    return r


def _workers(stack, service):
    """Live workers of a service according to the broker (mmi.service)."""
    r = stack.ctl("ready", service)
    return r.returncode == 0


def test_ostiaryctl_call_prints_result_json(stack):
    r = stack.ctl("call", "token.health", "{}")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["status"] == "ok"
    assert isinstance(body["pid"], int)


def test_ostiaryctl_refuses_bad_usage_with_exit_2(stack):
    assert stack.ctl().returncode == 2
    assert stack.ctl("call").returncode == 2
    assert stack.ctl("call", "token.nope").returncode == 2
    assert stack.ctl("call", "token.health", "[1,2]").returncode == 2
    assert stack.ctl("call", "token.health", "{not json").returncode == 2
    assert stack.ctl("--timeout", "abc", "call", "token.health").returncode == 2
    assert stack.ctl("frobnicate").returncode == 2


def test_ostiaryctl_lists_ops(stack):
    r = stack.ctl("ops")
    assert r.returncode == 0
    assert "keys.sign" in r.stdout and "token.health" in r.stdout


def test_second_token_svc_joins_and_serves_a_share(stack):
    extra = stack.start("token-svc")
    try:
        pids = set()
        deadline = time.time() + 20
        while time.time() < deadline and len(pids) < 2:
            r = _health(stack)
            assert r.returncode == 0, r.stdout + r.stderr
            pids.add(json.loads(r.stdout)["pid"])
        assert extra.pid in pids, f"the second token-svc never answered: {pids}"
        assert len(pids) == 2
    finally:
        extra.terminate()
        extra.wait(10)


def test_killed_worker_is_dropped_and_requests_keep_succeeding(stack):
    before = broker_workers(stack, "token")
    extra = stack.start("token-svc")
    try:
        # Wait until the new replica takes requests.
        deadline = time.time() + 20
        while time.time() < deadline:
            r = _health(stack)
            if r.returncode == 0 and json.loads(r.stdout)["pid"] == extra.pid:
                break
        else:
            raise AssertionError("second token-svc never served")
        assert broker_workers(stack, "token") > before
        extra.kill()  # SIGKILL: no DISCONNECT, the broker must notice by heartbeats
        extra.wait(10)
        # A READ op with a deadline longer than three heartbeats survives the
        # loss: the broker answers the lost request temporarily_unavailable when
        # it drops the dead worker, and the client resends the READ op.
        for _ in range(10):
            r = _health(stack, timeout_ms=8000)
            assert r.returncode == 0, r.stdout + r.stderr
            assert json.loads(r.stdout)["pid"] != extra.pid
        # The broker drops the dead worker's threads by heartbeats; from then
        # on every request goes to a live worker with no resend.
        wait_for("the broker dropped the killed worker", lambda: broker_workers(stack, "token") == before,
                 timeout=30)
        for _ in range(10):
            r = _health(stack)
            assert r.returncode == 0, r.stdout + r.stderr
            assert json.loads(r.stdout)["pid"] != extra.pid
    finally:
        if extra.proc.poll() is None:
            extra.kill()


def test_no_worker_answers_503_before_the_deadline(stack):
    stack.stop_all("flow-svc")
    try:
        start = time.time()
        r = stack.ctl("--timeout", "3000", "call", "flow.health")
        took = time.time() - start
        assert r.returncode == 3  # unreachable: no worker answers
        assert json.loads(r.stdout)["error"] == "temporarily_unavailable"
        assert took < 2.0
        assert not _workers(stack, "flow")
    finally:
        stack.ensure("flow-svc")
        stack.wait_ready()


def test_stopped_worker_leaves_at_once(stack):
    extra = stack.start("keys-svc")
    wait_for("the extra keys-svc to serve", lambda: "serving on" in extra.log_path.read_text(errors="replace"))
    extra.proc.send_signal(signal.SIGTERM)
    assert extra.wait(10) == 0
    # the remaining keys-svc still answers
    r = stack.ctl("call", "keys.health")
    assert r.returncode == 0, r.stderr
