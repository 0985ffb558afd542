"""A real relying party: Apache httpd with Debian 12's mod_auth_openidc
(2.4.12) protects applications with Ostiary as their provider
(tests/e2e/apache.py). A browser-less user (requests, following every
redirect and filling Ostiary's login and consent forms) signs in; the
protected page prints what mod_auth_openidc put in the request's
environment, which must be the user Ostiary authenticated. Then: a second
page needs no new login, a second application (another client) gets the
user through Ostiary's SSO without a page, and a new visit without Apache's
cookie does too. The EdDSA (OKP) key in /jwks, which this mod_auth_openidc
cannot use, stays harmless. A site configured with a wrong client secret
lets nobody in. mod_auth_openidc's own logout ends its session and revokes
its tokens at /revoke.

Logout through Ostiary (mod_auth_openidc's `<redirect URI>?logout=<url>`
sent on to the provider's end_session_endpoint, and its
`?logout=backchannel` receiving a logout token) runs only once discovery
advertises end_session_endpoint, and backchannel_logout_supported: until
then those tests are skipped, saying so."""

import base64
import json
import os
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

import apache as httpd
import leaks
from oidc import Browser, forms, make_client, make_user, userinfo, wait_for

REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture(scope="module")
def discovery(stack):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def register(stack, site, **extra):
    site.client_id, site.client_secret, _ = make_client(
        stack, redirect_uris=[site.redirect_uri], name=f"Apache {site.name}",
        scopes=["openid", "email", "profile"], **extra)


@pytest.fixture(scope="module")
def rp(stack):
    """One Apache, five sites: app1 (a third-party client: consent asked),
    app2 (first party), es (ID tokens signed ES256), ed (EdDSA) and bad
    (registered, but configured with a wrong secret)."""
    httpd.require()
    server = httpd.Apache(stack)
    try:
        sites = {name: server.add_site(name) for name in ("app1", "app2", "es", "ed", "bad")}
        register(stack, sites["app1"], first_party=False)
        register(stack, sites["app2"])
        register(stack, sites["es"], id_token_signed_response_alg="ES256")
        register(stack, sites["ed"], id_token_signed_response_alg="EdDSA")
        register(stack, sites["bad"])
        sites["bad"].client_secret = "wrong-" + sites["bad"].client_secret
        server.start()
        server.site = sites
        yield server
    finally:
        server.stop()


class Visitor(Browser):
    """A browser without JavaScript: follows every redirect, between Apache
    and Ostiary alike, and fills Ostiary's login and consent forms."""

    def visit(self, url, username=None, consent="allow", max_hops=12):
        """GETs url to its end; returns (last response, every URL redirected to)."""
        hops = []
        r = self.get(url)
        while r.status_code in REDIRECTS:
            assert len(hops) < max_hops, hops
            location = urljoin(r.url, r.headers["Location"])
            hops.append(location)
            if location == self.base + "/login":
                assert username, f"a login page where none was expected: {hops}"
                r = self.login(r, username)
            elif location == self.base + "/consent":
                r = self.consent(r, consent)
            else:
                r = self.get(location)
        return r, hops

    def forget(self, site):
        """Drops the cookies mod_auth_openidc set for site: a new visit."""
        for cookie in list(self.http.cookies):
            if cookie.name.startswith(site.name + "-"):
                self.http.cookies.clear(cookie.domain, cookie.path, cookie.name)


@pytest.fixture
def visitor(stack):
    v = Visitor(stack)
    yield v
    v.close()


def login(visitor, site, username, sub):
    """Signs in to site through Ostiary's pages; returns (the page's
    environment, the URLs on the way)."""
    page, hops = visitor.visit(site.url(), username)
    assert page.status_code == 200, (page.status_code, hops, page.text[:800], site.apache.logs())
    env = httpd.claims(page.text)
    assert env.get("OIDC_CLAIM_sub") == sub, (env, page.text[:800], site.apache.logs())
    # The tokens Apache holds are secrets like any other (leaks.py).
    for name in ("OIDC_id_token", "OIDC_access_token"):
        leaks.register(env.get(name), name)
    return env, hops


def jws_header(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def at(hops, base, path):
    """The URLs of hops at base + path (any query)."""
    return [h for h in hops if h.split("?")[0] == base + path]


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# What mod_auth_openidc 2.4.12 logs (warn) for a JWK cjose cannot import.
OKP_PARSE_WARNING = "oidc_jwk_parse_json failed"
# Warnings that say nothing about Ostiary: every start's about plain-http
# URLs, and a back-channel logout for a session the site had ended already.
EXPECTED_WARNINGS = ('SHOULD be "https"', "could not (or no longer) find a session")


def log_problems(text):
    """mod_auth_openidc's errors and warnings in an error log excerpt, but
    for EXPECTED_WARNINGS."""
    return [line for line in text.splitlines()
            if ("[auth_openidc:error]" in line or "[auth_openidc:warn]" in line)
            and not any(w in line for w in EXPECTED_WARNINGS)]


# ------------------------------------------------------------------ login


def test_login_puts_the_user_in_apaches_environment(stack, rp, visitor):
    app1 = rp.site["app1"]
    username, sub = make_user(stack)
    env, hops = login(visitor, app1, username, sub)
    # Apache sent the browser to /authorize with PKCE; the user saw the
    # login page and the consent page (a third-party client) and came back
    # to the redirect URI, which took the code and went on to the page.
    authorize = at(hops, stack.base_url, "/authorize")
    assert len(authorize) == 1, hops
    q = query(authorize[0])
    assert q["client_id"] == app1.client_id
    assert q["redirect_uri"] == app1.redirect_uri
    assert q["response_type"] == "code"
    assert q["code_challenge_method"] == "S256" and q["code_challenge"]
    assert q["state"] and q["nonce"]
    assert set(q["scope"].split()) == {"openid", "email", "profile"}
    assert at(hops, stack.base_url, "/login") and at(hops, stack.base_url, "/consent"), hops
    assert at(hops, app1.base, "/protected/redirect_uri"), hops
    # mod_auth_openidc's view: the claims of the ID token and of /userinfo.
    assert env["REMOTE_USER"] == sub
    assert env["AUTH_TYPE"] == "openid-connect"
    assert env["OIDC_CLAIM_iss"] == stack.base_url
    assert env["OIDC_CLAIM_aud"] == app1.client_id
    assert env["OIDC_CLAIM_nonce"] == q["nonce"]
    assert env["OIDC_CLAIM_email"] == f"{username}@example.org"
    assert env["OIDC_CLAIM_name"] == "Alice Liddell"
    assert env.get("OIDC_CLAIM_sid"), env
    # The access token it holds is one Ostiary honours.
    r = userinfo(stack, env["OIDC_access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == sub


def test_second_page_needs_no_new_login(stack, rp, visitor):
    app1 = rp.site["app1"]
    username, sub = make_user(stack)
    login(visitor, app1, username, sub)
    page, hops = visitor.visit(app1.url("/protected/second.shtml"))
    assert page.status_code == 200 and hops == [], (page.status_code, hops)
    assert page.text.startswith("page=second\n")
    assert httpd.claims(page.text)["OIDC_CLAIM_sub"] == sub


def test_second_application_gets_sso_without_a_page(stack, rp, visitor):
    app1, app2 = rp.site["app1"], rp.site["app2"]
    username, sub = make_user(stack)
    env1, _ = login(visitor, app1, username, sub)
    # No username: a login page would fail the visit.
    page, hops = visitor.visit(app2.url())
    assert page.status_code == 200, (page.status_code, hops, page.text[:500])
    assert at(hops, stack.base_url, "/authorize") and not at(hops, stack.base_url, "/consent"), hops
    env2 = httpd.claims(page.text)
    assert env2["OIDC_CLAIM_sub"] == sub
    assert env2["OIDC_CLAIM_aud"] == app2.client_id
    # One SSO session at Ostiary, seen by both applications.
    assert env2["OIDC_CLAIM_sid"] == env1["OIDC_CLAIM_sid"]
    assert env2["OIDC_access_token"] != env1["OIDC_access_token"]


def test_new_visit_without_apache_cookie_is_silent(stack, rp, visitor):
    app1 = rp.site["app1"]
    username, sub = make_user(stack)
    env1, _ = login(visitor, app1, username, sub)
    visitor.forget(app1)
    page, hops = visitor.visit(app1.url())
    assert page.status_code == 200, (page.status_code, hops, page.text[:500])
    # Through /authorize again, but neither login nor consent (remembered).
    assert at(hops, stack.base_url, "/authorize"), hops
    assert not at(hops, stack.base_url, "/login") and not at(hops, stack.base_url, "/consent"), hops
    env = httpd.claims(page.text)
    assert env["OIDC_CLAIM_sub"] == sub
    assert env["OIDC_CLAIM_sid"] == env1["OIDC_CLAIM_sid"]


def test_without_a_session_apache_sends_to_ostiary(stack, rp, visitor):
    r = visitor.get(rp.site["app1"].url())
    assert r.status_code == 302, r.status_code
    assert r.headers["Location"].startswith(stack.base_url + "/authorize?"), r.headers["Location"]


def test_apache_runs_as_an_unprivileged_user(rp):
    """Started by root (CI), Apache switches to www-data (or nobody) like
    any Apache; started by anyone else it stays that user."""
    with open(f"/proc/{rp.proc.pid}/status") as f:
        uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    if os.geteuid() == 0:
        assert uid != 0
    else:
        assert uid == os.geteuid()


# ------------------------------------------------------------------ keys


def test_okp_key_in_jwks_is_harmless(stack, rp):
    """The JWKS lists Ed25519 (OKP) keys beside the RS256 and ES256 ones.
    mod_auth_openidc 2.4.12 looks an ID token's kid up key by key, parsing
    each with cjose 0.6.2, which knows no OKP keys, until the kid matches.
    Whether it meets an OKP key on the way depends on the order of /jwks
    (keys-svc lists its keys in the order it loaded them); when it does it
    logs a warning per OKP key and goes on. Either way both logins work and
    nothing else is logged."""
    with requests.Session() as s:
        s.trust_env = False
        keys = s.get(stack.base_url + "/jwks", timeout=10).json()["keys"]
    kids = [k["kid"] for k in keys]
    assert any(k["kty"] == "OKP" and k.get("crv") == "Ed25519" for k in keys), keys
    before = len(rp.error_log())
    okp_met = False
    for name in ("app2", "es"):
        username, sub = make_user(stack)
        v = Visitor(stack)
        try:
            env, _ = login(v, rp.site[name], username, sub)
        finally:
            v.close()
        kid = jws_header(env["OIDC_id_token"])["kid"]
        assert kid in kids, (kid, kids)
        okp_met |= any(k["kty"] == "OKP" for k in keys[:kids.index(kid)])
    new = rp.error_log()[before:]
    problems = log_problems(new)
    okp_warnings = [line for line in problems if OKP_PARSE_WARNING in line]
    print(f"/jwks: {[k['alg'] for k in keys]}; mod_auth_openidc met an OKP key: {okp_met}")
    print("\n".join(okp_warnings) or "Apache logged nothing about keys")
    assert [line for line in problems if line not in okp_warnings] == [], new
    if okp_met:
        assert okp_warnings, new


def test_eddsa_id_token_is_beyond_mod_auth_openidc(stack, rp, visitor):
    """mod_auth_openidc 2.4.12 (cjose 0.6.2) cannot verify an EdDSA ID
    token: a client meant for it must keep RS256 or ES256. What it says."""
    username, sub = make_user(stack)
    before = len(rp.error_log())
    page, hops = visitor.visit(rp.site["ed"].url(), username)
    assert at(hops, rp.site["ed"].base, "/protected/redirect_uri"), hops
    assert "page=" not in page.text and sub not in page.text, page.text[:500]
    new = rp.error_log()[before:]
    assert "oidc_proto_parse_idtoken" in new and "cjose_jws_import failed" in new, new


# ------------------------------------------------------------------ failures


def test_wrong_client_secret_lets_nobody_in(stack, rp, visitor):
    bad = rp.site["bad"]
    username, sub = make_user(stack)
    before = len(rp.error_log())
    page, hops = visitor.visit(bad.url(), username)
    # The user signed in at Ostiary and came back with a code, but /token
    # refused the client: mod_auth_openidc shows its error page.
    assert at(hops, stack.base_url, "/login") and at(hops, bad.base, "/protected/redirect_uri"), hops
    assert "page=" not in page.text and sub not in page.text, page.text[:500]
    assert '"invalid_client"' in rp.error_log()[before:], rp.error_log()[before:]
    r = visitor.get(bad.url())
    assert r.status_code == 302 and r.headers["Location"].startswith(stack.base_url + "/authorize?")


# ------------------------------------------------------------------ logout


def test_local_logout_ends_the_session_and_revokes_its_tokens(stack, rp, visitor):
    """mod_auth_openidc's logout URL: it forgets the session and revokes
    its access token at Ostiary's revocation_endpoint; then the browser goes
    on (to end_session_endpoint once Ostiary has one, else straight back)."""
    app1 = rp.site["app1"]
    username, sub = make_user(stack)
    env, _ = login(visitor, app1, username, sub)
    assert userinfo(stack, env["OIDC_access_token"]).status_code == 200
    r = visitor.get(app1.logout_url())
    assert r.status_code == 302, (r.status_code, r.text[:500])
    assert r.headers["Location"].startswith((app1.logged_out_url, stack.base_url)), r.headers
    r = visitor.get(app1.url())
    assert r.status_code == 302 and r.headers["Location"].startswith(stack.base_url + "/authorize?")
    assert userinfo(stack, env["OIDC_access_token"]).status_code == 401


@pytest.fixture(scope="module")
def logout_rp(stack, discovery):
    """An Apache of its own with two sites whose clients registered their
    logged-out page and their back-channel logout URI."""
    assert discovery.get("end_session_endpoint"), "discovery advertises no end_session_endpoint"
    httpd.require()
    server = httpd.Apache(stack)
    try:
        sites = {name: server.add_site(name) for name in ("lo1", "lo2")}
        for site in sites.values():
            metadata = {"post_logout_redirect_uris": [site.logged_out_url]}
            if discovery.get("backchannel_logout_supported"):
                metadata.update(backchannel_logout_uri=site.backchannel_logout_uri,
                                backchannel_logout_session_required=True)
            register(stack, site, **metadata)
        server.start()
        server.site = sites
        yield server
    finally:
        server.stop()


def end_session(stack, discovery, visitor, site):
    """Logs out through site's logout URL and follows the browser to the
    logged-out page; returns the URLs on the way. A confirmation page of
    Ostiary's, should one come, is confirmed with its first button."""
    r = visitor.get(site.logout_url())
    assert r.status_code == 302, (r.status_code, r.text[:500])
    location = r.headers["Location"]
    assert location.split("?")[0] == discovery["end_session_endpoint"], location
    q = query(location)
    assert q["id_token_hint"] and q["post_logout_redirect_uri"] == site.logged_out_url, q
    page, hops = visitor.visit(location)
    if page.status_code == 200 and page.url.split("?")[0] == discovery["end_session_endpoint"]:
        form = forms(page.text)[0]
        data = {k: v for k, v in form["fields"].items() if k}
        if form["buttons"] and form["buttons"][0][0]:
            data[form["buttons"][0][0]] = form["buttons"][0][1] or ""
        r = visitor.http.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False,
                              timeout=10)
        assert r.status_code in REDIRECTS, (r.status_code, r.text[:500])
        page, more = visitor.visit(urljoin(page.url, r.headers["Location"]))
        hops += more
    assert page.status_code == 200 and page.url == site.logged_out_url, (page.status_code, page.url, hops)
    return [location] + hops


def test_logout_through_end_session_endpoint(stack, discovery, logout_rp, visitor):
    """RP-initiated logout 1.0 as mod_auth_openidc does it: its logout URL
    sends the browser to end_session_endpoint with id_token_hint and
    post_logout_redirect_uri; Ostiary ends the SSO session and sends the
    browser back; the next visit asks for the password again."""
    lo1 = logout_rp.site["lo1"]
    username, sub = make_user(stack)
    login(visitor, lo1, username, sub)
    assert visitor.session_cookie()
    end_session(stack, discovery, visitor, lo1)
    r = visitor.get(lo1.url())
    assert r.status_code == 302 and r.headers["Location"].startswith(stack.base_url + "/authorize?")
    r = visitor.get(r.headers["Location"])
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login", \
        (r.status_code, r.headers)


def test_backchannel_logout_ends_the_other_applications_session(stack, discovery, logout_rp, visitor):
    """Back-channel logout 1.0: the user is in lo1 and, through SSO, in lo2;
    logging out of lo2 (through Ostiary) makes Ostiary POST a logout token
    to lo1's `?logout=backchannel`, and mod_auth_openidc ends lo1's session."""
    assert discovery.get("backchannel_logout_supported") is True, "discovery advertises no back-channel logout"
    lo1, lo2 = logout_rp.site["lo1"], logout_rp.site["lo2"]
    username, sub = make_user(stack)
    login(visitor, lo1, username, sub)
    page, hops = visitor.visit(lo2.url())
    assert page.status_code == 200 and not at(hops, stack.base_url, "/login"), hops
    end_session(stack, discovery, visitor, lo2)

    def lo1_session_gone():
        r = visitor.get(lo1.url())
        return r.status_code == 302 and r.headers["Location"].startswith(stack.base_url + "/authorize?")
    try:
        wait_for("lo1's Apache session to end by back-channel logout", lo1_session_gone, timeout=20, step=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n---- Apache access log\n{logout_rp.access_log()}\n{logout_rp.logs()}") from None
    assert "POST /protected/redirect_uri 200" in logout_rp.access_log(), logout_rp.access_log()
    problems = [line for line in log_problems(logout_rp.error_log()) if OKP_PARSE_WARNING not in line]
    assert problems == [], logout_rp.error_log()
