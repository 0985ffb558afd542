"""An independent relying party in the loop: Apache's mod_auth_openidc
(Debian 12, a certified RP implementation; tests/e2e/apache.py runs it)
drives the Basic OP happy paths with its own reading of the specs, with
client_secret_basic and with client_secret_post at the token endpoint:
discovery, the code flow with state, nonce and PKCE, the token request, its
own ID token validation (signature from the JWKS, iss, aud, exp, iat,
nonce, at_hash), then /userinfo (the claims it passes to the page come from
both). Then the RP-initiated logout through the end_session_endpoint.

These are not modules of the suite; the table lists them on their own."""

from urllib.parse import urlsplit

import pytest

import apache as httpd
import leaks
from modules import Variant
from oidc import make_client, make_user
from test_mod_auth_openidc import Visitor, log_problems

AUTHS = ("client_secret_basic", "client_secret_post")


@pytest.fixture(scope="module")
def apache(stack):
    httpd.require()
    server = httpd.Apache(stack)
    try:
        for auth in AUTHS:
            site = server.add_site(auth.replace("_", "-"))
            site.client_id, site.client_secret, _ = make_client(
                stack, redirect_uris=[site.redirect_uri], name=f"mod_auth_openidc {auth}",
                scopes=["openid", "email", "profile"], token_endpoint_auth_method=auth,
                post_logout_redirect_uris=[site.logged_out_url])
            # Its own choice would be the first the discovery lists; the
            # variant is forced.
            site.directives = [f"OIDCProviderTokenEndpointAuth {auth}",
                               "OIDCUserInfoRefreshInterval 0"]
            site.auth = auth
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=AUTHS)
def variant(request):
    v = Variant(None, request.param, "default")
    return v


@pytest.fixture
def site(apache, variant):
    return next(s for s in apache.sites if s.auth == variant.auth)


@pytest.fixture
def visitor(stack):
    v = Visitor(stack)
    yield v
    v.close()


def sign_in(stack, site, visitor):
    username, sub = make_user(stack)
    page, hops = visitor.visit(site.url(), username)
    assert page.status_code == 200, (page.status_code, hops, page.text[:500], site.apache.logs())
    env = httpd.claims(page.text)
    for name in ("OIDC_id_token", "OIDC_access_token"):
        leaks.register(env.get(name), name)
    return sub, env, hops


def test_mod_auth_openidc_basic_op(stack, site, visitor):
    """The code flow as mod_auth_openidc runs it: it lets the user in only
    when every check of its own passed; the page shows what it took from
    the ID token and /userinfo."""
    before = site.apache.error_log()
    sub, env, hops = sign_in(stack, site, visitor)
    assert env["OIDC_CLAIM_sub"] == sub and env["REMOTE_USER"] == sub, env
    assert env["OIDC_CLAIM_iss"] == stack.base_url
    assert env["OIDC_CLAIM_aud"] == site.client_id
    # email and name come from /userinfo (scope email profile).
    assert env["OIDC_CLAIM_email"].endswith("@example.org") and env["OIDC_CLAIM_name"] == "Alice Liddell", env
    authorize = [h for h in hops if h.startswith(stack.base_url + "/authorize")]
    assert authorize, hops
    problems = log_problems(site.apache.error_log()[len(before):])
    assert not problems, problems
    # The client was registered with this method alone, and token-svc
    # refuses any other: the login proves mod_auth_openidc used it.


def test_mod_auth_openidc_rp_initiated_logout(stack, site, visitor):
    sub, env, _ = sign_in(stack, site, visitor)
    page, hops = visitor.visit(site.logout_url())
    ends = [h for h in hops if h.startswith(stack.base_url + "/logout")]
    assert ends, hops
    assert page.status_code == 200 and page.url.split("?")[0] == site.logged_out_url, (page.url, hops)
    # Signed out at Ostiary too: the protected page asks for a login again.
    r = visitor.get(site.url())
    assert r.status_code in (302, 303) and urlsplit(r.headers["Location"]).path == "/authorize"
    r = visitor.get(r.headers["Location"])
    assert r.headers.get("Location") == stack.base_url + "/login", r.headers
