"""Ostiary's own access tokens end at their exp, over HTTP: a 10-second
access token is refused at /userinfo (401 invalid_token, "expired") and
inactive at /introspect from the second of its exp on, whatever
OSTIARY_CLOCK_SKEW says (that leeway is for times others produced)."""

import time

import pytest
import requests

from oidc import Browser, bearer_challenge, code_flow, exchange, make_client, make_user, verify_jwt, wait_for


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack)


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)[0]


@pytest.mark.parametrize("skew", ["30", "300"])
def test_ten_second_access_token_ends_at_its_exp(stack, client, user, skew):
    client_id, secret, redirect_uri = client
    stack.stop_all("token-svc")
    try:
        stack.start("token-svc", {"OSTIARY_ACCESS_TOKEN_TTL": "10", "OSTIARY_CLOCK_SKEW": skew})
        stack.wait_ready()
        b = Browser(stack)
        try:
            params, _, p = code_flow(stack, b, client_id, redirect_uri, user)
        finally:
            b.close()
        r = exchange(stack, p["code"], params, client_id, secret)
        assert r.status_code == 200, r.text
        assert r.json()["expires_in"] == 10
        at = r.json()["access_token"]
        _, claims = verify_jwt(stack, at, "at+jwt")
        assert claims["exp"] - claims["iat"] == 10
        with requests.Session() as s:
            s.trust_env = False

            def userinfo():
                return s.get(stack.base_url + "/userinfo", headers={"Authorization": f"Bearer {at}"},
                             timeout=10)

            def active():
                i = s.post(stack.base_url + "/introspect", data={"token": at}, auth=(client_id, secret),
                           timeout=10)
                assert i.status_code == 200, i.text
                return i.json()["active"]

            # Before exp (the flow took well under 10 s): accepted.
            if time.time() < claims["exp"] - 1:
                assert userinfo().status_code == 200
                assert active() is True
            # From the second of exp on: refused and inactive.
            wait_for("the token's exp", lambda: time.time() >= claims["exp"], timeout=15, step=0.1)
            u = userinfo()
            assert u.status_code == 401, (u.status_code, u.text)
            challenge = bearer_challenge(u)
            assert challenge["error"] == "invalid_token"
            assert "expired" in challenge["error_description"]
            assert active() is False
    finally:
        stack.stop_all("token-svc")
        stack.ensure("token-svc")
        stack.wait_ready()
