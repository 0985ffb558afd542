"""token.revoke (RFC 7009) and token.introspect (RFC 7662) over the bus:
refresh token → its family; access token → its jti listed;
token_type_hint honoured but not trusted; unknown or foreign tokens change
nothing; introspection says {"active": false} and nothing more unless the
caller is the token's client or a resource server; revocation seen at once
by another token-svc replica."""

import pytest

from lifecycle import Client, active, call, family, introspect, refresh, refresh_client, revoke, userinfo_error


@pytest.fixture(scope="module")
def rc_client(stack):
    return refresh_client(stack)


def test_revoke_refresh_token_revokes_family(stack, rc_client):
    out, _ = family(stack, rc_client)
    rc, new = refresh(stack, rc_client, out["refresh_token"])
    assert rc == 0
    rc, res = revoke(stack, rc_client, new["refresh_token"], hint="refresh_token")
    assert rc == 0 and res["revoked"] is True
    rc, err = refresh(stack, rc_client, new["refresh_token"])
    assert rc == 1 and err["error"] == "invalid_grant"
    for at in (out["access_token"], new["access_token"]):
        assert userinfo_error(stack, at) == "invalid_token"


def test_revoke_access_token_lists_its_jti(stack, rc_client):
    out, _ = family(stack, rc_client)
    assert userinfo_error(stack, out["access_token"]) is None
    rc, res = revoke(stack, rc_client, out["access_token"], hint="access_token")
    assert rc == 0 and res["revoked"] is True
    assert userinfo_error(stack, out["access_token"]) == "invalid_token"
    # The refresh token stays usable.
    assert refresh(stack, rc_client, out["refresh_token"])[0] == 0


@pytest.mark.parametrize("kind,hint", [("access_token", "refresh_token"), ("refresh_token", "access_token"),
                                       ("access_token", "bogus")])
def test_revoke_hint_is_not_trusted(stack, rc_client, kind, hint):
    out, _ = family(stack, rc_client)
    rc, res = revoke(stack, rc_client, out[kind], hint=hint)
    assert rc == 0 and res["revoked"] is True
    assert not active(stack, rc_client, out[kind])


@pytest.mark.parametrize("token", ["", "A" * 43, "not-a-token", "a.b.c", "x" * 5000])
def test_revoke_unknown_token_changes_nothing(stack, rc_client, token):
    rc, res = revoke(stack, rc_client, token)
    assert rc == 0 and res["revoked"] is False


def test_revoke_missing_token_is_invalid_request(stack, rc_client):
    rc, err = call(stack, "token.revoke", {"form": {}, "basic": rc_client.basic(), "client_ip": "127.0.0.1"})
    assert rc == 1 and err["error"] == "invalid_request"


def test_revoke_bad_client_is_invalid_client(stack, rc_client):
    rc, err = call(stack, "token.revoke", {"form": {"token": "x"}, "basic": {"client_id": rc_client.id,
                                                                            "client_secret": "wrong"}})
    assert rc == 1 and err["error"] == "invalid_client"


def test_client_cannot_revoke_another_clients_tokens(stack, rc_client):
    other = refresh_client(stack)
    out, _ = family(stack, rc_client)
    for kind in ("refresh_token", "access_token"):
        rc, res = revoke(stack, other, out[kind])
        assert rc == 0 and res["revoked"] is False
        assert active(stack, rc_client, out[kind])


def test_introspect_active_refresh_and_access_tokens(stack, rc_client):
    out, sess = family(stack, rc_client)
    for kind, token_type in (("access_token", "Bearer"), ("refresh_token", "refresh_token")):
        rc, res = introspect(stack, rc_client, out[kind])
        assert rc == 0, res
        assert res["active"] is True
        assert res["sub"] == sess["sub"] and res["client_id"] == rc_client.id
        assert res["iss"] == stack.base_url and res["token_type"] == token_type
        assert set(res["scope"].split()) == set(out["scope"].split())
        assert res["exp"] > res["iat"] > 0 and res["aud"]


def test_introspect_inactive_is_only_active_false(stack, rc_client):
    out, _ = family(stack, rc_client)
    rc, new = refresh(stack, rc_client, out["refresh_token"])
    assert rc == 0
    revoke(stack, rc_client, new["access_token"])
    for token in (out["refresh_token"], new["access_token"], "garbage", "A" * 43, "a.b.c"):
        rc, res = introspect(stack, rc_client, token)
        assert rc == 0 and res == {"active": False}, (token, res)


def test_introspect_foreign_token_is_inactive_unless_resource_server(stack, rc_client):
    out, _ = family(stack, rc_client)
    other = refresh_client(stack)
    rs = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["openid"],
                resource_server=True)
    for kind in ("access_token", "refresh_token"):
        assert introspect(stack, other, out[kind])[1] == {"active": False}
        rc, res = introspect(stack, rs, out[kind])
        assert rc == 0 and res["active"] is True and res["client_id"] == rc_client.id


def test_introspect_requires_client_authentication(stack, rc_client):
    out, _ = family(stack, rc_client)
    rc, err = call(stack, "token.introspect", {"form": {"token": out["access_token"]}, "basic": None})
    assert rc == 1 and err["error"] == "invalid_client"
    rc, err = call(stack, "token.introspect", {"form": {"token": out["access_token"]},
                                               "basic": {"client_id": rc_client.id, "client_secret": "x"}})
    assert rc == 1 and err["error"] == "invalid_client"


@pytest.mark.parametrize("op", ["token.revoke", "token.introspect"])
def test_revoke_and_introspect_bodies_outside_their_schema_are_refused(stack, rc_client, op):
    rc, out = call(stack, op, {"form": {"token": "x"}, "basic": rc_client.basic(), "audience": "api"})
    assert rc == 1 and (out["error"], out["error_description"]) == (
        "invalid_request", "invalid request: audience: unknown member")
    rc, out = call(stack, op, {"form": "token=x", "basic": rc_client.basic()})
    assert rc == 1 and (out["error"], out["error_description"]) == (
        "invalid_request", "invalid request: form: must be an object")


def test_revocation_seen_by_second_replica(stack, rc_client):
    second = stack.start("token-svc")
    try:
        out, _ = family(stack, rc_client)
        assert revoke(stack, rc_client, out["refresh_token"])[1]["revoked"] is True
        # Whichever replica answers, every answer says revoked.
        for _ in range(10):
            assert not active(stack, rc_client, out["access_token"])
            assert not active(stack, rc_client, out["refresh_token"])
            assert userinfo_error(stack, out["access_token"]) == "invalid_token"
    finally:
        second.stop()


def _admin(stack, sql):
    import subprocess
    cp = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", stack.pg_admin,
                         "-c", sql], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def test_revoke_with_database_down_is_unavailable(stack, rc_client):
    """The database unreachable during a revoke → temporarily_unavailable
    (503 at the gateway), never a success that did not happen."""
    import re
    import shutil
    import oidc
    if not stack.pg_admin or not shutil.which("psql"):
        pytest.skip("no superuser conninfo")
    out, _ = family(stack, rc_client)
    role = re.search(r"user=(\S+)", stack.env["OSTIARY_DB_TOKEN"]).group(1)
    _admin(stack, f"ALTER ROLE {role} NOLOGIN")
    try:
        _admin(stack, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'")
        rc, err = revoke(stack, rc_client, out["refresh_token"])
        assert rc == 1 and err["error"] == "temporarily_unavailable", err
    finally:
        _admin(stack, f"ALTER ROLE {role} LOGIN")
    assert oidc.wait_until(lambda: call(stack, "token.health", {})[0] == 0, 10)
    # Nothing happened: the family is alive, and the revoke can be retried.
    assert oidc.wait_until(lambda: introspect(stack, rc_client, out["refresh_token"])[0] == 0, 10)
    assert active(stack, rc_client, out["refresh_token"])
    assert revoke(stack, rc_client, out["refresh_token"])[1]["revoked"] is True
