"""The relying party of the conformance modules: what the suite's test
client does, step by step, each check written here from the specs (never
with Ostiary's code). JWTs are checked with python3-jwcrypto against the
published JWKS.

    rp = RP(stack, variant)                 discovery, JWKS, a static client
    params = rp.auth_params(scope=...)      state, nonce, response_mode
    cb = rp.authorize(params, user)         the browser walk; cb.params, cb.saw_login
    rp.check_success(cb, params)            state, iss, code
    tokens = rp.exchange(cb)                the token request with the variant's auth
    claims = rp.check_id_token(tokens["id_token"], params)
"""

import base64
import hashlib
import html
import json
import re
import secrets
import time
from urllib.parse import parse_qs, quote, urlsplit

import requests
from jwcrypto import jwk, jws, jwt

from oidc import Browser, forms, make_client, make_user

# OpenID Connect Core §3.1.2.6: the errors that mean "a user interface is needed".
UI_ERRORS = ("login_required", "interaction_required", "consent_required", "account_selection_required")
# RFC 6749 §5.2 / §4.1.2.1: error and error_description are printable ASCII without " and \.
ERROR_CHARS = re.compile(r'^[\x20\x21\x23-\x5b\x5d-\x7e]+$')
SKEW = 300


_CLIENTS = {}
_USERS = {}


def new_client(stack, auth, scopes=None, extra=None):
    """A static client as the suite's configuration has it: a confidential
    client of the code flow that may refresh, without required PKCE (the
    suite sends PKCE only in its PKCE module)."""
    body = {"grant_types": ["authorization_code", "refresh_token"]}
    body.update(extra or {})
    return make_client(stack, auth_method=auth, require_pkce=False,
                       scopes=scopes or ["openid", "profile", "email", "address", "phone", "offline_access"],
                       **body)


class Callback:
    def __init__(self, params, response, saw_login, via):
        self.params = params
        self.response = response
        self.saw_login = saw_login
        self.via = via  # query | fragment | form_post


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def at_hash(token, alg):
    bits = {"RS256": 256, "ES256": 256, "PS256": 256, "RS384": 384, "ES384": 384, "RS512": 512,
            "ES512": 512, "EdDSA": 512}[alg]
    h = {256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}[bits](token.encode()).digest()
    return b64url(h[: len(h) // 2])


def jwt_parts(token):
    """(header, claims) of a compact JWS without checking it."""
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body))))


class RP:
    def __init__(self, stack, variant, *, scopes=None, client_extra=None, fresh=False):
        self.stack = stack
        self.variant = variant
        self.http = requests.Session()
        self.http.trust_env = False
        # A connection per request: a kept-alive one that the gateway closes
        # while idle (a module pausing, a loaded machine) would fail the
        # next POST, which is never retried.
        self.http.headers["Connection"] = "close"
        self.issuer = stack.base_url
        self.discovery = self.fetch_discovery()
        self.check_server_configuration()
        self.keys = self.fetch_jwks()
        auth = variant.auth if variant.auth != "none" else "client_secret_basic"
        if client_extra or scopes or fresh:
            self.client_id, self.secret, self.redirect_uri = new_client(stack, auth, scopes, client_extra)
        else:
            # One static client per authentication method, as a suite's
            # configuration registers it once for every module.
            key = (id(stack), auth)
            if key not in _CLIENTS:
                _CLIENTS[key] = new_client(stack, auth)
            self.client_id, self.secret, self.redirect_uri = _CLIENTS[key]
        self.browser = Browser(stack)
        # One user of the session (each module starts with a browser of its own).
        if id(stack) not in _USERS:
            _USERS[id(stack)] = make_user(stack)
        self.username, self.sub = _USERS[id(stack)]

    def close(self):
        self.browser.close()
        self.http.close()

    def new_browser(self):
        """A browser without the cookies of the first (a user never logged in)."""
        self.browser.close()
        self.browser = Browser(self.stack)
        return self.browser

    # ------------------------------------------------------------ discovery

    def fetch_discovery(self):
        r = self.http.get(self.issuer + "/.well-known/openid-configuration", timeout=10)
        assert r.status_code == 200, r.status_code
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        return r.json()

    def check_server_configuration(self):
        d = self.discovery
        assert d.get("issuer") == self.issuer, ("issuer", d.get("issuer"), self.issuer)
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            assert isinstance(d.get(field), str) and d[field], f"{field} is missing"

    def fetch_jwks(self):
        r = self.http.get(self.discovery["jwks_uri"], timeout=10)
        assert r.status_code == 200, r.status_code
        doc = r.json()
        assert isinstance(doc.get("keys"), list) and doc["keys"], "the JWKS has no keys"
        for k in doc["keys"]:
            # OpenID Connect Core §10.1: with several keys, each has a kid.
            assert k.get("kid"), ("a key of the JWKS has no kid", k.get("kty"))
            assert "d" not in k and "p" not in k, "the JWKS publishes a private key"
        return jwk.JWKSet.from_json(r.text)

    # ------------------------------------------------------------ authorization

    def auth_params(self, *, scope="openid", nonce=True, state=True, **extra):
        params = {"client_id": self.client_id, "redirect_uri": self.redirect_uri, "response_type": "code",
                  "scope": scope}
        if state:
            params["state"] = secrets.token_urlsafe(16)
        if nonce:
            params["nonce"] = secrets.token_urlsafe(16)
        if self.variant.response_mode != "default":
            params["response_mode"] = self.variant.response_mode
        for k, v in extra.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = v
        return params

    def authorize(self, params, username=None, *, method="GET", login=True, browser=None, redirect_uri=None):
        """Walks /authorize as a browser: the login page when shown (logging in
        as username, or the RP's user, unless login=False), consent when
        asked. Returns the Callback at the redirect URI, or None when the
        browser never got there (r: the last response in self.last)."""
        b = browser or self.browser
        r = b.authorize(params, method=method)
        saw_login = False
        if r.status_code == 303 and r.headers.get("Location") == self.issuer + "/login":
            saw_login = True
            self.login_page = b.login_page(r)
            if not login:
                self.last = self.login_page
                return Callback(None, self.login_page, True, None)
            r = b.submit(self.login_page, username=username or self.username,
                         password="correct horse battery staple")
        if r.status_code == 303 and r.headers.get("Location") == self.issuer + "/consent":
            r = b.consent(r, "allow")
        self.last = r
        return self.callback(r, redirect_uri or params.get("redirect_uri", self.redirect_uri), saw_login)

    def callback(self, r, redirect_uri, saw_login=False):
        if r.status_code in (302, 303):
            loc = r.headers["Location"]
            if not loc.startswith(redirect_uri):
                return None
            parts = urlsplit(loc)
            via = "fragment" if parts.fragment else "query"
            raw = parts.fragment or parts.query
            return Callback({k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}, r, saw_login, via)
        if r.status_code == 200 and "<form" in r.text:
            fs = [f for f in forms(r.text) if f["action"] and html.unescape(f["action"]) == redirect_uri]
            if fs:
                assert (fs[0]["method"] or "").lower() == "post", fs[0]
                return Callback({k: v for k, v in fs[0]["fields"].items() if k}, r, saw_login, "form_post")
        return None

    def check_via(self, cb):
        """The response came the way the variant asked: the query by default
        for the code flow, an auto-submitted POST form for form_post."""
        want = "form_post" if self.variant.response_mode == "form_post" else "query"
        assert cb.via == want, f"the authorization response came by {cb.via}, not {want}"

    def check_iss(self, cb):
        # RFC 9207 §2.4: a provider that advertises the iss parameter sends
        # it with every authorization response, equal to its issuer.
        if self.discovery.get("authorization_response_iss_parameter_supported"):
            assert "iss" in cb.params, "iss is missing from the authorization response (RFC 9207)"
            assert cb.params["iss"] == self.issuer, ("iss", cb.params["iss"])

    def check_success(self, cb, params):
        assert cb is not None, f"the browser never reached the redirect URI: {self.last.status_code} " \
                               f"{self.last.headers.get('Location', '')} {self.last.text[:300]}"
        self.check_via(cb)
        assert "error" not in cb.params, ("authorization error", cb.params)
        if "state" in params:
            assert cb.params.get("state") == params["state"], ("state", cb.params.get("state"))
        else:
            assert "state" not in cb.params, "state came back though none was sent"
        self.check_iss(cb)
        assert cb.params.get("code"), "no code in the authorization response"
        # The code flow's response carries no tokens (OpenID Connect Core §3.1.2.5).
        assert "id_token" not in cb.params and "access_token" not in cb.params, cb.params
        return cb.params["code"]

    def check_error(self, cb, params, allowed=None):
        """An error response at the redirect URI (RFC 6749 §4.1.2.1)."""
        assert cb is not None, f"no error sent to the redirect URI: {self.last.status_code} {self.last.text[:300]}"
        self.check_via(cb)
        err = cb.params.get("error")
        assert err, ("no error in the authorization response", cb.params)
        assert "code" not in cb.params, "an error response carries a code"
        assert ERROR_CHARS.match(err), err
        if "error_description" in cb.params:
            assert ERROR_CHARS.match(cb.params["error_description"]), cb.params["error_description"]
        if "state" in params:
            assert cb.params.get("state") == params["state"], ("state", cb.params.get("state"))
        self.check_iss(cb)
        if allowed:
            assert err in allowed, f"error {err}, expected one of {allowed}"
        return err

    # ------------------------------------------------------------ token endpoint

    def token_request(self, data, *, auth=None):
        auth = auth or self.variant.auth
        headers = {}
        data = dict(data)
        if auth == "client_secret_basic":
            # RFC 6749 §2.3.1: form-urlencoded id and secret in Basic.
            raw = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            data["client_id"] = self.client_id
            data["client_secret"] = self.secret
        return self.http.post(self.discovery["token_endpoint"], data=data, headers=headers, timeout=15)

    def exchange(self, code, params, *, extra=None):
        """The code for tokens; returns the JSON after the token response checks."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"]}
        data.update(extra or {})
        r = self.token_request(data)
        return self.check_token_response(r)

    def check_token_response(self, r):
        assert r.status_code == 200, ("token endpoint", r.status_code, r.text[:300])
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        # RFC 6749 §5.1: no caching of token responses.
        assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
        body = r.json()
        assert isinstance(body.get("access_token"), str) and body["access_token"], "no access_token"
        assert str(body.get("token_type", "")).lower() == "bearer", body.get("token_type")
        if "expires_in" in body:
            assert isinstance(body["expires_in"], int) and body["expires_in"] > 0, body["expires_in"]
        assert isinstance(body.get("id_token"), str), "no id_token"
        return body

    def check_token_error(self, r, error="invalid_grant"):
        """RFC 6749 §5.2: 400 (401 for client authentication), JSON, a valid error."""
        # A success carries tokens: only the names of its members are shown.
        shown = sorted(r.json()) if r.status_code == 200 else r.text[:300]
        assert r.status_code == 400, ("token error status", r.status_code, shown)
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        body = r.json()
        assert body.get("error") == error, body
        assert ERROR_CHARS.match(body["error"])
        if "error_description" in body:
            assert ERROR_CHARS.match(body["error_description"]), body["error_description"]
            assert not re.search(r"[\r\n\t]", body["error_description"])
        if "error_uri" in body:
            assert re.match(r"^[\x21\x23-\x5b\x5d-\x7e]+$", body["error_uri"]), body["error_uri"]
        return body

    # ------------------------------------------------------------ ID token

    def check_id_token(self, token, params, *, access_token=None, expect_nonce=True):
        """OpenID Connect Core §3.1.3.7 and §2, as the RP must check them."""
        header, claims = jwt_parts(token)
        alg = header.get("alg")
        assert alg and alg != "none", f"the ID token is not signed (alg {alg})"
        assert alg == "RS256", f"the ID token is signed with {alg}, the client registered RS256"
        kid = header.get("kid")
        assert kid, "the ID token's header has no kid"
        key = self.keys.get_key(kid)
        if key is None:  # rotated since: fetch again once
            self.keys = self.fetch_jwks()
            key = self.keys.get_key(kid)
        assert key is not None, f"no key {kid} in the JWKS"
        sig = jws.JWS()
        sig.deserialize(token)
        try:
            sig.verify(key, alg=alg)
        except jws.InvalidJWSSignature:
            raise AssertionError("the ID token's signature does not verify with the JWKS key of its kid")
        now = time.time()
        assert claims.get("iss") == self.issuer, ("iss", claims.get("iss"))
        sub = claims.get("sub")
        assert isinstance(sub, str) and sub and len(sub) <= 255, ("sub", sub)
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        assert self.client_id in auds, ("aud", aud)
        if len(auds) > 1 or "azp" in claims:
            assert claims.get("azp") == self.client_id, ("azp", claims.get("azp"))
        assert isinstance(claims.get("exp"), (int, float)) and claims["exp"] > now - SKEW, ("exp", claims.get("exp"))
        assert isinstance(claims.get("iat"), (int, float)), ("iat", claims.get("iat"))
        assert now - SKEW < claims["iat"] < now + SKEW, ("iat", claims["iat"], now)
        assert claims["exp"] > claims["iat"], "exp is not after iat"
        if "auth_time" in claims:
            assert isinstance(claims["auth_time"], (int, float)), ("auth_time", claims["auth_time"])
            assert claims["auth_time"] < now + SKEW, "auth_time is in the future"
        if expect_nonce and "nonce" in params:
            assert claims.get("nonce") == params["nonce"], ("nonce", claims.get("nonce"), params["nonce"])
        elif expect_nonce:
            assert "nonce" not in claims, "the ID token has a nonce though the request had none"
        if "at_hash" in claims and access_token:
            assert claims["at_hash"] == at_hash(access_token, alg), "at_hash does not match the access token"
        if "acr" in claims:
            assert isinstance(claims["acr"], str), ("acr", claims["acr"])
        return claims

    # ------------------------------------------------------------ userinfo

    def userinfo(self, access_token, how="get"):
        url = self.discovery["userinfo_endpoint"]
        auth = {"Authorization": f"Bearer {access_token}"}
        if how == "get":
            return self.http.get(url, headers=auth, timeout=10)
        if how == "post-header":
            return self.http.post(url, headers=auth, timeout=10)
        return self.http.post(url, data={"access_token": access_token}, timeout=10)

    def check_userinfo(self, r, id_claims):
        assert r.status_code == 200, ("userinfo", r.status_code, r.text[:300])
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("application/json"), ("userinfo is not JSON", ctype)
        body = r.json()
        assert body.get("sub") == id_claims["sub"], ("userinfo sub", body.get("sub"), id_claims["sub"])
        # OpenID Connect Core §5.1: the standard claims have their types.
        for name in ("name", "given_name", "family_name", "email", "phone_number", "preferred_username",
                     "locale", "zoneinfo", "website", "picture", "profile", "nickname", "middle_name"):
            if name in body:
                assert isinstance(body[name], str), (name, body[name])
        for name in ("email_verified", "phone_number_verified"):
            if name in body:
                assert isinstance(body[name], bool), (name, body[name])
        if "address" in body:
            assert isinstance(body["address"], dict), ("address", body["address"])
        if "updated_at" in body:
            assert isinstance(body["updated_at"], (int, float)), ("updated_at", body["updated_at"])
        if "birthdate" in body:
            assert re.match(r"^(\d{4}|\d{4}-\d\d-\d\d|0000-\d\d-\d\d)$", body["birthdate"]), body["birthdate"]
        return body

    # ------------------------------------------------------------ whole flows

    def login_flow(self, scope="openid", **extra):
        """The module's first authorization: (params, callback, tokens, ID token claims)."""
        params = self.auth_params(scope=scope, **extra)
        cb = self.authorize(params)
        code = self.check_success(cb, params)
        tokens = self.exchange(code, params)
        claims = self.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
        return params, cb, tokens, claims


# ------------------------------------------------------------------ logout

class LogoutRP(RP):
    """The RP of the logout plans: a client with a registered
    post_logout_redirect_uri (and, for back-channel, a backchannel_logout_uri)."""

    def __init__(self, stack, variant, *, backchannel_uri=None):
        self.post_logout_uri = f"https://rp.example/post_logout_redirect/{secrets.token_hex(4)}"
        extra = {"post_logout_redirect_uris": [self.post_logout_uri]}
        if backchannel_uri:
            extra.update(backchannel_logout_uri=backchannel_uri, backchannel_logout_session_required=True)
        super().__init__(stack, variant, client_extra=extra)
        self.end_session = self.discovery.get("end_session_endpoint")
        assert self.end_session, "discovery has no end_session_endpoint"

    def logout(self, params):
        """The browser sent to the end-session endpoint (a 128-character state,
        as the suite sends, when the caller put one in params)."""
        return self.browser.http.get(self.end_session, params=params, allow_redirects=False, timeout=15)

    def confirm(self, r):
        """A confirmation page: the user agrees; returns the answer."""
        fs = forms(r.text)
        assert fs, ("neither a redirect nor a page with a form", r.status_code, r.text[:300])
        form = fs[0]
        data = {k: v for k, v in form["fields"].items() if k}
        for name, value in form["buttons"]:
            if name:
                data[name] = value
                break
        action = html.unescape(form["action"] or self.end_session)
        if action.startswith("/"):
            action = self.issuer + action
        return self.browser.http.post(action, data=data, allow_redirects=False, timeout=15)

    def check_not_redirected(self, r):
        loc = r.headers.get("Location", "")
        assert not loc.startswith(self.post_logout_uri), "redirected to the post_logout_redirect_uri"
        assert r.status_code != 302 or not loc, (r.status_code, loc)

    def check_post_logout_redirect(self, r, state):
        assert r.status_code in (302, 303), ("no redirect after logout", r.status_code, r.text[:300])
        loc = r.headers["Location"]
        parts = urlsplit(loc)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == self.post_logout_uri, loc
        got = parse_qs(parts.query, keep_blank_values=True)
        if state is None:
            assert "state" not in got, "state came back though none was sent"
        else:
            assert got.get("state") == [state], ("state", got.get("state"))
        unexpected = set(got) - {"state"}
        assert not unexpected, f"unexpected parameters in the post-logout redirect: {unexpected}"

    def check_logged_out(self):
        """prompt=none now needs a login (the suite's last step)."""
        params = self.auth_params(prompt="none")
        cb = self.authorize(params, login=False)
        assert cb is not None and not cb.saw_login, "prompt=none showed a page"
        self.check_error(cb, params, allowed=UI_ERRORS)

    def long_state(self):
        return secrets.token_urlsafe(96)[:128]
