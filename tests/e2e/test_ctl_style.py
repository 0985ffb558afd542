"""One CLI style: every listing command prints a table for people and JSON
with --json; every command exits by the one table of ctl/ctl.h (0 ok, 1
refused by the service, 2 usage or configuration error, 3 unreachable); the
man page and the bash completion come from the command table."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import free_port

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
REPO = Path(__file__).resolve().parents[2]

LISTINGS = [
    ("clients", "list"),
    ("users", "list"),
    ("settings", "list"),
    ("audit", "list", "--limit", "5"),
    ("audit", "tail", "-n", "5"),
    ("keys", "list"),
    ("ops",),
]


@pytest.mark.parametrize("args", LISTINGS, ids=lambda a: " ".join(a[:2]))
def test_listing_prints_a_table_and_json_with_json(stack, args):
    table = stack.ctl(*args)
    assert table.returncode == EXIT_OK, table.stderr
    first = table.stdout.splitlines()[0] if table.stdout.strip() else ""
    # A table: a header line of capitals (ops: one aligned line per op), never JSON.
    assert not table.stdout.lstrip().startswith(("{", "[")), table.stdout[:200]
    if args[0] != "ops":
        assert first.split() and all(w.isupper() or not w.isalpha() for w in first.split()[:2]), first
    out = stack.ctl(*args, "--json")
    assert out.returncode == EXIT_OK, out.stderr
    assert isinstance(json.loads(out.stdout), (dict, list))


def test_every_listing_command_is_one_of_those_checked(stack):
    """The listings above are every list or tail command of the command table
    (ostiaryctl --commands), so that a new one cannot go without --json."""
    families = [f for f in commands(stack) if f not in ("call", "ready", "ops")]
    listing = {(f, sub) for f in families for sub in commands(stack, f) if sub in ("list", "tail")}
    assert listing, families
    assert listing - {tuple(a[:2]) for a in LISTINGS} == set()


# The option of each list field of a client (proto/ops/token.def, STRS), and
# two values it may hold together.
LIST_OPTIONS = {
    "redirect_uris": ("--redirect-uri", ["https://rp.example/a", "https://rp.example/b"]),
    "grant_types": ("--grant-type", ["authorization_code", "refresh_token"]),
    "response_types": ("--response-type", ["code"]),
    "scopes": ("--scope", ["openid", "profile"]),
    "allowed_web_origins": ("--web-origin", ["https://a.example", "https://b.example"]),
    "post_logout_redirect_uris": ("--post-logout-redirect-uri", ["https://rp.example/bye1", "https://rp.example/bye2"]),
    # token.client_update only: members back to their defaults.
    "unset": ("--unset", ["access_token_alg", "refresh_grace"]),
}


def client_get(stack, client_id):
    r = stack.ctl("call", "token.client_get", json.dumps({"client_id": client_id}))
    assert r.returncode == EXIT_OK, r.stderr
    return json.loads(r.stdout)["client"]


def test_every_list_field_of_a_client_is_a_repeatable_option(stack):
    """Each list field of token.client_add and token.client_update (derived
    from proto/ops/token.def) is an option of clients add and clients update
    given once per value; update replaces the whole list."""
    spec = (REPO / "proto" / "ops" / "token.def").read_text()
    fields = set(re.findall(r"IN \(token_client_(?:add|update), (\w+), STRS", spec))
    assert fields == set(LIST_OPTIONS), fields ^ set(LIST_OPTIONS)
    argv = ["clients", "add", "--id", "style-lists", "--access-token-alg", "ES256", "--refresh-grace", "10"]
    for field, (option, values) in LIST_OPTIONS.items():
        for v in values if field != "unset" else ():
            argv += [option, v]
    r = stack.ctl(*argv)
    assert r.returncode == EXIT_OK, r.stderr
    client = client_get(stack, "style-lists")
    for field, (_, values) in LIST_OPTIONS.items():
        if field != "unset":
            assert client[field] == values, (field, client[field])
    assert client["access_token_alg"] == "ES256" and client["refresh_grace"] == 10, client
    r = stack.ctl("clients", "update", "style-lists", "--version", str(client["version"]),
                  "--redirect-uri", "https://rp.example/c", "--redirect-uri", "https://rp.example/d",
                  "--unset", "access_token_alg", "--unset", "refresh_grace")
    assert r.returncode == EXIT_OK, r.stderr
    after = client_get(stack, "style-lists")
    assert after["redirect_uris"] == ["https://rp.example/c", "https://rp.example/d"]
    assert after.get("access_token_alg") != "ES256" and after.get("refresh_grace") != 10, after


def test_the_same_refusal_exits_1_from_every_command(stack):
    """invalid_request from token-svc: the same exit code from a family
    command and from `call` (it used to be 2 and 1)."""
    add = stack.ctl("clients", "add", "--id", "style-dup", "--redirect-uri", "https://rp.example/cb")
    assert add.returncode == EXIT_OK, add.stderr
    again = stack.ctl("clients", "add", "--id", "style-dup", "--redirect-uri", "https://rp.example/cb")
    assert again.returncode == EXIT_REFUSED and "invalid_request" in again.stderr
    call = stack.ctl("call", "token.client_add", json.dumps({
        "client_id": "style-dup", "name": "x", "type": "confidential",
        "redirect_uris": ["https://rp.example/cb"], "grant_types": ["authorization_code"],
        "response_types": ["code"], "scopes": ["openid"], "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "RS256", "first_party": True}))
    assert call.returncode == EXIT_REFUSED and json.loads(call.stdout)["error"] == "invalid_request"
    assert stack.ctl("clients", "show", "no-such-client").returncode == EXIT_REFUSED
    assert stack.ctl("users", "show", "no-such-user").returncode == EXIT_REFUSED


@pytest.mark.parametrize("args", [
    ("frobnicate",), ("clients", "frobnicate"), ("users", "frobnicate"), ("settings", "frobnicate"),
    ("audit", "frobnicate"), ("keys", "frobnicate"), ("bus", "frobnicate"), ("clients", "list", "--nope"),
    ("users", "list", "--nope"), ("ops", "--nope"),
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(stack, args):
    r = stack.ctl(*args)
    assert r.returncode == EXIT_USAGE, (r.stdout, r.stderr)


def test_configuration_errors_exit_2(stack):
    env = dict(stack.env, OSTIARY_BUS_CERT="/nonexistent/admin.key")
    r = stack.ctl("users", "list", env=env)
    assert r.returncode == EXIT_USAGE, r.stderr


def test_an_unreachable_bus_or_socket_exits_3(stack, tmp_path):
    bus = f"tcp://127.0.0.1:{free_port()}"
    for args in (("call", "token.health"), ("users", "list"), ("clients", "list"), ("ready", "token")):
        r = stack.ctl("--bus", bus, "--timeout", "500", *args)
        assert r.returncode == EXIT_UNREACHABLE, (args, r.stdout, r.stderr)
    empty = tmp_path / "rt"
    empty.mkdir(mode=0o700)
    env = {k: v for k, v in stack.env.items() if k != "OSTIARY_KEYS_ADMIN"}
    env["OSTIARY_RUN_DIR"] = str(empty)
    r = stack.ctl("keys", "status", env=env)
    assert r.returncode == EXIT_UNREACHABLE, r.stderr


def test_help_states_the_one_exit_code_table(stack):
    texts = [stack.ctl("--help").stdout] + [stack.ctl(f, "--help").stdout
                                          for f in ("clients", "users", "settings", "audit", "keys", "bus")]
    for text in texts:
        assert "exit codes (the same for every command):" in text
        assert "  3  unreachable" in text


def commands(stack, *family):
    r = stack.ctl(*family, "--commands")
    assert r.returncode == EXIT_OK, r.stderr
    return r.stdout.split()


def test_man_page_and_completion_cover_every_command(stack):
    man = stack.ctl("--man")
    completion = stack.ctl("--completion")
    assert man.returncode == EXIT_OK and completion.returncode == EXIT_OK
    top = commands(stack)
    assert {"call", "ready", "ops", "clients", "users", "keys", "settings", "audit", "bus"} <= set(top)
    for family in ("clients", "users", "keys", "settings", "audit", "bus"):
        assert f".SS {family}\n" in man.stdout, family
        subs = commands(stack, family)
        assert subs, family
        line = next(l for l in completion.stdout.splitlines() if l.strip().startswith(f"{family})"))
        for sub in subs:
            assert sub in line, (family, sub)
    for code in (0, 1, 2, 3):
        assert f".TP\n.B {code}\n" in man.stdout
    r = subprocess.run(["bash", "-n"], input=completion.stdout, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
    # The completion completes: the subcommands of clients after "clients".
    script = completion.stdout + ('\nCOMP_WORDS=(ostiaryctl clients "")\nCOMP_CWORD=2\n_ostiaryctl\n'
                                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", script], text=True, capture_output=True, env=dict(os.environ))
    assert set(commands(stack, "clients")) <= set(r.stdout.split()), (r.stdout, r.stderr)
