"""The harness itself: the stack it starts answers, ostiaryctl reaches the bus,
and every binary's --check-config rejects bad settings and hides secrets."""

import json
import re
import subprocess
import time

import pytest

PROCESSES = ("gateway", "token-svc", "flow-svc", "keys-svc")
DB_VARS = {"token-svc": "OSTIARY_DB_TOKEN", "flow-svc": "OSTIARY_DB_FLOW",
           "keys-svc": "OSTIARY_DB_KEYS"}


def process_env(stack, name, **overrides):
    """The environment the harness gives `name`, with OSTIARY_DB set for
    every process (so that --check-config has a secret to hide)."""
    env = dict(stack.env)
    env["OSTIARY_DB"] = env[DB_VARS.get(name, "OSTIARY_DB_TOKEN")]
    env.update(overrides)
    return env


def check_config(stack, name, env):
    return subprocess.run([stack.bin(name), "--check-config"], env=env, text=True,
                          capture_output=True, timeout=20)


def test_healthz_is_200(stack, http):
    r = http.get(stack.base_url + "/healthz", allow_redirects=False, timeout=5)
    assert r.status_code == 200


def test_readyz_is_200_with_every_service_up(stack, http):
    r = http.get(stack.base_url + "/readyz", allow_redirects=False, timeout=5)
    assert r.status_code == 200


def test_ostiaryctl_call_token_health_prints_json(stack):
    r = stack.ctl("call", "token.health")
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), dict)


def test_ostiaryctl_without_arguments_exits_2(stack):
    r = stack.ctl()
    assert r.returncode == 2
    assert "usage" in (r.stdout + r.stderr).lower()


@pytest.mark.parametrize("service", ["token", "flow", "keys"])
def test_ostiaryctl_ready_sees_each_service(stack, service):
    r = stack.ctl("ready", service)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", PROCESSES)
def test_check_config_rejects_bad_value_and_names_it(stack, name):
    r = check_config(stack, name, process_env(stack, name, OSTIARY_WORKERS="0"))
    assert r.returncode == 2
    assert "OSTIARY_WORKERS" in r.stderr


@pytest.mark.parametrize("name", PROCESSES)
def test_check_config_accepts_the_harness_settings(stack, name):
    r = check_config(stack, name, process_env(stack, name))
    assert r.returncode == 0, r.stderr
    assert "OSTIARY_BUS_ENDPOINT=" + stack.bus_endpoint in r.stdout


@pytest.mark.parametrize("name", PROCESSES)
def test_check_config_never_prints_secrets(stack, name):
    env = process_env(stack, name)
    r = check_config(stack, name, env)
    out = r.stdout + r.stderr
    kek = env["OSTIARY_KEK"]
    password = re.search(r"password=(\S+)", env["OSTIARY_DB"]).group(1)
    assert kek not in out
    assert env["OSTIARY_CLIENT_SECRET_KEY"] not in out
    assert password not in out
    assert env["OSTIARY_DB"] not in out
    assert "OSTIARY_KEK=(set)" in r.stdout
    assert "OSTIARY_DB=(set)" in r.stdout


def test_check_config_refuses_a_malformed_kek_without_echoing_it(stack):
    bad = "not-a-key-" + "x" * 20
    r = check_config(stack, "keys-svc", process_env(stack, "keys-svc", OSTIARY_KEK=bad))
    assert r.returncode == 2
    assert "OSTIARY_KEK" in r.stderr
    assert bad not in r.stdout + r.stderr


def test_harness_starts_and_stops_extra_instances(stack):
    extra = stack.start("token-svc")
    try:
        assert extra.alive()
        assert len(stack.instances("token-svc")) == 2
        # It has joined once it answers a request (health names the pid);
        # only then is its SIGTERM handler sure to be in place.
        deadline = time.monotonic() + 15
        while True:
            r = stack.ctl("call", "token.health")
            if r.returncode == 0 and json.loads(r.stdout).get("pid") == extra.pid:
                break
            assert time.monotonic() < deadline, "the new token-svc never answered"
    finally:
        extra.terminate()
        assert extra.wait(10) == 0
    assert len(stack.instances("token-svc")) == 1
    assert extra.log_path.exists()
