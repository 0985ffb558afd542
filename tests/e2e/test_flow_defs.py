"""Flow definitions (docs/flows.md, "Flows as data"): validation at start-up
with file:line errors and exit code 2, storage in flow.definitions, and
version pinning (an execution started on v1 continues on v1 after v2
replaces the file and flow-svc restarts)."""

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from test_flow_engine import PASSWORD, call, new_user, ok, step

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "flows"


def run_to_exit(stack, env, timeout=20):
    """Starts a flow-svc with env; returns (exit status, its log) once it exits."""
    inst = stack.start("flow", env)
    try:
        rc = inst.wait(timeout)
    except Exception:
        inst.kill()
        inst.wait(5)
        raise
    return rc, inst.log_path.read_text(errors="replace")


@pytest.mark.parametrize("folder, line, message", [
    ("bad-syntax", 9, "JSON syntax"),
    ("bad-unknown-type", 8, 'node "sms": unknown node type "carrier_pigeon"'),
    ("bad-dangling-edge", 8, 'node "totp": edge "success" names unknown node "dne"'),
    ("bad-unreachable", 10, 'node "orphan": unreachable from start node "password"'),
    ("bad-no-success", 5, "no success node is reachable"),
    ("bad-missing-edge", 7, 'node "password": missing required edge "failure"'),
    ("bad-unknown-member", 8, 'node "done": unknown member "colour"'),
    ("bad-name", 2, '"name" is "signin" but the file is named login.json'),
    ("bad-unknown-hook", 8, 'node "crm": hook "no_such_hook" is not defined in OSTIARY_WEBHOOKS_FILE'),
])
def test_bad_flow_definition_stops_start_with_file_and_line(stack, folder, line, message):
    path = BAD / folder
    rc, log = run_to_exit(stack, {"OSTIARY_FLOWS_DIR": str(path)})
    assert rc == 2, log
    assert f"{path}/login.json:{line}: " in log, log
    assert message in log, log


def write_flow(folder, name, version, graph_nodes, start="password"):
    (folder / f"{name}.json").write_text(json.dumps({
        "name": name, "version": version, "kind": "login", "start": start, "nodes": graph_nodes}, indent=2))


V1 = {"password": {"type": "password", "on": {"success": "done", "failure": "failed"}},
      "done": {"type": "success"}, "failed": {"type": "failure"}}
V2 = {"password": {"type": "password", "on": {"success": "check", "failure": "failed"}},
      "check": {"type": "condition", "test": "has_password", "on": {"success": "ok", "failure": "failed"}},
      "ok": {"type": "success"}, "failed": {"type": "failure"}}


def serve(stack, folder):
    """Only a flow-svc with folder's flows serves the bus."""
    for inst in stack.instances("flow"):
        inst.stop()
    stack.start("flow", {"OSTIARY_FLOWS_DIR": str(folder)})
    deadline = time.monotonic() + 15
    while call(stack, "flow.health", {})[0] != 0:
        assert time.monotonic() < deadline, stack.log_tails()
        time.sleep(0.1)


@pytest.fixture
def restore(stack):
    yield
    stack.stop_all("flow")
    stack.ensure("flow")
    stack.wait_ready()


def test_execution_stays_on_its_pinned_version_after_a_new_one_is_loaded(stack, tmp_path, restore):
    name = "pin-" + uuid.uuid4().hex[:8]
    write_flow(tmp_path, name, 1, V1)
    serve(stack, tmp_path)
    username, _ = new_user(stack)
    old = ok(stack, "flow.start", {"flow": name, "request_id": "r-" + uuid.uuid4().hex})
    assert old["version"] == 1
    write_flow(tmp_path, name, 2, V2)
    serve(stack, tmp_path)
    new = ok(stack, "flow.start", {"flow": name, "request_id": "r-" + uuid.uuid4().hex})
    assert new["version"] == 2
    got = ok(stack, "flow.get", {"flow": old["flow"]})
    assert got["version"] == 1 and got["node"] == "password"
    # v1 runs its own graph: success goes straight to "done" (v2 has no such node).
    out = step(stack, got, handle=old["flow"], username=username, password=PASSWORD)
    assert out["status"] == "succeeded" and out["node"] == "done" and out["version"] == 1
    out = step(stack, new, username=username, password=PASSWORD)
    assert out["status"] == "succeeded" and out["node"] == "ok" and out["version"] == 2


def test_changed_graph_under_a_stored_version_stops_start(stack, tmp_path, restore):
    name = "bump-" + uuid.uuid4().hex[:8]
    write_flow(tmp_path, name, 1, V1)
    serve(stack, tmp_path)
    write_flow(tmp_path, name, 1, V2)
    stack.stop_all("flow")
    rc, log = run_to_exit(stack, {"OSTIARY_FLOWS_DIR": str(tmp_path)})
    assert rc == 2 and "bump the version" in log, log


def test_definitions_are_stored_with_their_graph(stack):
    assert ok(stack, "flow.health", {})["status"] == "ok"
    from test_flow_engine import psql
    stored = psql(stack, "SELECT graph->>'kind' FROM flow.definitions WHERE name = 'login' AND version = 1")
    assert stored == "login"


def test_malformed_flow_secret_key_stops_start(stack):
    rc, log = run_to_exit(stack, {"OSTIARY_FLOW_SECRET_KEY": "not-a-key"})
    assert rc == 2 and "OSTIARY_FLOW_SECRET_KEY" in log, log
