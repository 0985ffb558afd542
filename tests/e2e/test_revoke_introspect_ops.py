"""token.revoke (RFC 7009) and token.introspect (RFC 7662) over the bus,
where processes matter: a revocation seen at once by another token-svc
replica, and a revoke while the database is unreachable. What each op
answers (families, jtis, hints, foreign and unknown tokens, {"active":
false}, client authentication) is tested in-process in
tests/svc/test_token_ops.c, bodies outside proto/ops/token.def in
tests/svc/test_revoke_introspect.c."""

import pytest

from lifecycle import active, call, family, introspect, refresh_client, revoke, userinfo_error


@pytest.fixture(scope="module")
def rc_client(stack):
    return refresh_client(stack)


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
        assert rc == 3 and err["error"] == "temporarily_unavailable", err  # exit 3: ctl/ctl.h
    finally:
        _admin(stack, f"ALTER ROLE {role} LOGIN")
    assert oidc.wait_until(lambda: call(stack, "token.health", {})[0] == 0, 10)
    # Nothing happened: the family is alive, and the revoke can be retried.
    assert oidc.wait_until(lambda: introspect(stack, rc_client, out["refresh_token"])[0] == 0, 10)
    assert active(stack, rc_client, out["refresh_token"])
    assert revoke(stack, rc_client, out["refresh_token"])[1]["revoked"] is True
