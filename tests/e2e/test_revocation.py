"""POST /revoke (RFC 7009): client authentication shared with /token, a
refresh token revokes its family, an access token is refused at once by
/userinfo and /introspect (on every token-svc replica), unknown or foreign
tokens answer 200 and change nothing, and a revoke racing a refresh leaves
nothing of the family active."""

import threading

import pytest

from http_lifecycle import (assert_oauth_error, introspect, is_active, lifecycle_client, login_tokens,
                       post_form, refresh, revoke)
from oidc import Browser, make_client, make_user, userinfo


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)


@pytest.fixture(scope="module")
def client(stack):
    return lifecycle_client(stack)


@pytest.fixture(scope="module")
def other_client(stack):
    return lifecycle_client(stack)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


def assert_revoked_answer(r):
    # RFC 7009 §2.2: 200, and the body is not for the client to read.
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == b""
    assert "no-store" in r.headers.get("Cache-Control", "")


# ------------------------------------------------------------ happy paths


def test_revoked_access_token_is_refused_by_userinfo_and_introspect_at_once(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    assert userinfo(stack, t["access_token"]).status_code == 200
    assert is_active(stack, t["access_token"], client)
    assert_revoked_answer(revoke(stack, t["access_token"], client, hint="access_token"))
    r = userinfo(stack, t["access_token"])
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert introspect(stack, t["access_token"], client).json() == {"active": False}


def test_revoked_refresh_token_ends_its_family(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    r = refresh(stack, client, t["refresh_token"])
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert_revoked_answer(revoke(stack, t2["refresh_token"], client, hint="refresh_token"))
    # RFC 7009 §2.1: revoking a refresh token also invalidates the access
    # tokens of the same grant - here every one the family issued.
    for token in (t["access_token"], t2["access_token"], t2["refresh_token"], t["refresh_token"]):
        assert introspect(stack, token, client).json() == {"active": False}
    assert userinfo(stack, t2["access_token"]).status_code == 401
    assert_oauth_error(refresh(stack, client, t2["refresh_token"]), 400, "invalid_grant")


def test_a_wrong_hint_is_not_trusted(stack, browser, client, user):
    # RFC 7009 §2.1: the server extends its search when the hint is wrong.
    t = login_tokens(stack, browser, client, user)
    assert_revoked_answer(revoke(stack, t["refresh_token"], client, hint="access_token"))
    assert_oauth_error(refresh(stack, client, t["refresh_token"]), 400, "invalid_grant")
    t = login_tokens(stack, browser, client, user)
    assert_revoked_answer(revoke(stack, t["access_token"], client, hint="refresh_token"))
    assert userinfo(stack, t["access_token"]).status_code == 401


def test_an_unknown_hint_is_ignored(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    assert_revoked_answer(revoke(stack, t["access_token"], client, hint="saml_assertion"))
    assert userinfo(stack, t["access_token"]).status_code == 401


def test_revoke_with_client_secret_post(stack, browser, user):
    client = lifecycle_client(stack, auth_method="client_secret_post")
    client_id, secret, redirect_uri = client
    from oidc import code_flow, exchange
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0])
    t = exchange(stack, p["code"], params, client_id, secret, "post").json()
    r = post_form(stack, "/revoke", {"token": t["access_token"], "client_id": client[0],
                                     "client_secret": client[1]})
    assert_revoked_answer(r)
    assert userinfo(stack, t["access_token"]).status_code == 401


def test_public_client_revokes_its_own_token_with_its_client_id(stack, browser, user):
    # RFC 7009 §2.1 with "none" authentication, as discovery advertises.
    client_id, _, redirect_uri = make_client(stack, type="public", grant_types=["authorization_code",
                                                                              "refresh_token"],
                                             scopes=["openid", "offline_access"])
    from oidc import code_flow, exchange
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0],
                             scope="openid offline_access")
    t = exchange(stack, p["code"], params, client_id, None, "none").json()
    r = post_form(stack, "/revoke", {"token": t["access_token"], "client_id": client_id})
    assert_revoked_answer(r)
    assert userinfo(stack, t["access_token"]).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "x" * 2000, "eyJhbGciOiJub25lIn0.e30.", "a.b.c"], ids=["word", "long", "alg-none", "dots"])
def test_unknown_token_is_200_and_changes_nothing(stack, client, token):
    assert_revoked_answer(revoke(stack, token, client))


def test_client_cannot_revoke_another_clients_tokens(stack, browser, client, other_client, user):
    t = login_tokens(stack, browser, client, user)
    for token, hint in ((t["access_token"], "access_token"), (t["refresh_token"], "refresh_token")):
        # RFC 7009 §2.1: the server checks the token was issued to this client;
        # the answer does not tell the other client anything.
        assert_revoked_answer(revoke(stack, token, other_client, hint=hint))
    assert userinfo(stack, t["access_token"]).status_code == 200
    assert is_active(stack, t["access_token"], client)
    r = refresh(stack, client, t["refresh_token"])
    assert r.status_code == 200, r.text


# ------------------------------------------------------------ refusals


def test_missing_token_is_invalid_request(stack, client):
    assert_oauth_error(post_form(stack, "/revoke", {}, basic=client[:2]), 400, "invalid_request")
    assert_oauth_error(post_form(stack, "/revoke", {"token": ""}, basic=client[:2]), 400, "invalid_request")


def test_repeated_parameter_is_invalid_request(stack, client):
    r = post_form(stack, "/revoke", [("token", "a"), ("token", "b")], basic=client[:2])
    assert_oauth_error(r, 400, "invalid_request")
    r = post_form(stack, "/revoke", [("token", "a"), ("token_type_hint", "access_token"),
                                     ("token_type_hint", "refresh_token")], basic=client[:2])
    assert_oauth_error(r, 400, "invalid_request")


def test_only_form_bodies_are_accepted(stack, client):
    r = post_form(stack, "/revoke", '{"token": "a"}', basic=client[:2],
                  headers={"Content-Type": "application/json"})
    assert_oauth_error(r, 400, "invalid_request")


def test_wrong_secret_in_basic_is_401_with_challenge(stack, client):
    r = revoke(stack, "whatever", (client[0], "wrong-secret"))
    assert_oauth_error(r, 401, "invalid_client")


def test_unknown_client_is_invalid_client(stack):
    assert_oauth_error(revoke(stack, "whatever", ("no-such-client", "x")), 401, "invalid_client")


def test_malformed_authorization_header_is_invalid_client(stack):
    for value in ("Basic !!!", "Basic " + "a" * 5, "Bearer abc"):
        r = post_form(stack, "/revoke", {"token": "x"}, headers={"Authorization": value})
        assert_oauth_error(r, 401, "invalid_client")


def test_confidential_client_without_authentication_is_invalid_client(stack, client):
    r = post_form(stack, "/revoke", {"token": "x", "client_id": client[0]})
    assert_oauth_error(r, 401, "invalid_client")


def test_wrong_secret_by_post_is_invalid_client(stack, client):
    r = post_form(stack, "/revoke", {"token": "x", "client_id": client[0], "client_secret": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


def test_get_is_405(stack, http):
    r = http.get(stack.base_url + "/revoke", timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


def test_without_token_svc_revoke_is_503_never_200(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    stack.stop_all("token-svc")
    try:
        r = revoke(stack, t["access_token"], client)
        assert r.status_code in (503, 504), r.text
        assert r.json()["error"] in ("temporarily_unavailable", "deadline_exceeded")
    finally:
        stack.ensure("token-svc")
        stack.wait_ready()
    # Nothing happened: the token still works.
    assert userinfo(stack, t["access_token"]).status_code == 200


# ------------------------------------------------------------ replicas and races


def test_revocation_is_seen_at_once_by_a_second_token_svc_replica(stack, browser, client, user):
    second = stack.start("token-svc")
    try:
        stack.wait_ready()
        t = login_tokens(stack, browser, client, user)
        # Both replicas have seen (and may cache) the token as valid.
        for _ in range(10):
            assert userinfo(stack, t["access_token"]).status_code == 200
            assert is_active(stack, t["access_token"], client)
        assert_revoked_answer(revoke(stack, t["access_token"], client))
        assert_revoked_answer(revoke(stack, t["refresh_token"], client))
        # The broker spreads these over both replicas: none may say active.
        for _ in range(20):
            assert userinfo(stack, t["access_token"]).status_code == 401
            assert introspect(stack, t["access_token"], client).json() == {"active": False}
            assert introspect(stack, t["refresh_token"], client).json() == {"active": False}
    finally:
        second.stop()


def test_revoke_racing_refresh_leaves_nothing_of_the_family_active(stack, browser, client, user):
    for _ in range(25):
        t = login_tokens(stack, browser, client, user)
        barrier = threading.Barrier(2)
        out = {}

        def do_refresh():
            barrier.wait()
            out["refresh"] = refresh(stack, client, t["refresh_token"])

        def do_revoke():
            barrier.wait()
            out["revoke"] = revoke(stack, t["refresh_token"], client, hint="refresh_token")

        threads = [threading.Thread(target=do_refresh), threading.Thread(target=do_revoke)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert_revoked_answer(out["revoke"])
        r = out["refresh"]
        assert r.status_code in (200, 400), r.text
        tokens = [t["access_token"], t["refresh_token"]]
        if r.status_code == 200:
            tokens += [r.json()["access_token"], r.json()["refresh_token"]]
            assert_oauth_error(refresh(stack, client, r.json()["refresh_token"]), 400, "invalid_grant")
        else:
            assert r.json()["error"] == "invalid_grant"
        for token in tokens:
            assert introspect(stack, token, client).json() == {"active": False}, token


def _psql_admin(stack, sql):
    import subprocess
    cp = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", stack.pg_admin,
                         "-c", sql], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def test_revoke_with_the_database_down_is_503_never_200(stack, browser, client, user):
    """RFC 7009 §2.2.1: a revoke that could not happen is 503 with
    Retry-After, never a 200. token-svc's role is locked out and its
    connections ended, which is PostgreSQL being unreachable for token-svc."""
    import re
    import shutil
    from oidc import wait_until
    if not stack.pg_admin or not shutil.which("psql"):
        pytest.skip("no superuser conninfo for the test cluster")
    t = login_tokens(stack, browser, client, user)
    role = re.search(r"user=(\S+)", stack.env["OSTIARY_DB_TOKEN"]).group(1)
    _psql_admin(stack, f"ALTER ROLE {role} NOLOGIN")
    try:
        _psql_admin(stack, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'")
        r = revoke(stack, t["refresh_token"], client)
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.headers.get("Retry-After")
        assert r.json()["error"] == "temporarily_unavailable"
    finally:
        _psql_admin(stack, f"ALTER ROLE {role} LOGIN")
    # Nothing was revoked: once the database is back the token is still active.
    assert wait_until(lambda: introspect(stack, t["refresh_token"], client).status_code == 200
                      and introspect(stack, t["refresh_token"], client).json().get("active") is True, 15)
