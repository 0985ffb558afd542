"""The modules of the OpenID Foundation's OP certification plans that the
harness reproduces, in each plan's order, with what each one checks (in our
words, from the suite's module classes), and the variants they run in.

A module's test is tests/conformance/test_<module with _ for ->.py's
function test_<...>; `readme(results)` turns a session's results into
tests/conformance/README.md."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    plan: str            # key of PLANS
    auth: str            # client_secret_basic | client_secret_post
    response_mode: str   # default | form_post

    @property
    def label(self):
        mode = "" if self.response_mode == "default" else f", {self.response_mode}"
        return f"{self.auth}{mode}"

    def __str__(self):
        return f"{self.plan}:{self.auth}:{self.response_mode}"


PLANS = {
    "basic": "oidcc-basic-certification-test-plan",
    "formpost": "oidcc-formpost-basic-certification-test-plan",
    "config": "oidcc-config-certification-test-plan",
    "rp-logout": "oidcc-rp-initiated-logout-certification-test-plan",
    "bc-logout": "oidcc-backchannel-rp-initiated-logout-certification-test-plan",
}

# The Basic OP plan's modules, in its order (the Form Post plan runs the
# same ones with response_mode=form_post). What each checks, in short.
BASIC = {
    "oidcc-server": "The code flow end to end: discovery and JWKS (every key has a kid), state and iss "
                    "echoed in the authorization response, the code exchanged with the client's "
                    "authentication, the token response (Bearer, expires_in), the ID token (signature "
                    "by kid, iss, aud, azp, exp, iat, nonce, sub, at_hash when present), and /userinfo "
                    "answering for the same sub.",
    "oidcc-response-type-missing": "An authorization request without response_type: an error "
                                   "(invalid_request or unsupported_response_type) sent back to the "
                                   "redirect URI with the state, never a code.",
    "oidcc-idtoken-signature": "The ID token is signed (not alg none) with the algorithm registered for the "
                               "client, by a key of the JWKS named by kid.",
    "oidcc-idtoken-unsigned": "A client registered for unsigned ID tokens (alg none) gets one. Only for "
                              "providers whose discovery lists none.",
    "oidcc-userinfo-get": "/userinfo by GET with the access token in the Authorization header: JSON whose "
                          "sub is the ID token's.",
    "oidcc-userinfo-post-header": "/userinfo by POST with the access token in the Authorization header.",
    "oidcc-userinfo-post-body": "/userinfo by POST with the access token as a form parameter (RFC 6750 "
                                "§2.2).",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow": "A code flow request without nonce "
                                                                 "succeeds; the ID token then carries "
                                                                 "no nonce.",
    "oidcc-scope-profile": "scope openid profile: /userinfo returns the profile claims (a warning when "
                           "none comes back).",
    "oidcc-scope-email": "scope openid email: /userinfo returns email and email_verified.",
    "oidcc-scope-address": "scope openid address: /userinfo returns address (a JSON object).",
    "oidcc-scope-phone": "scope openid phone: /userinfo returns phone_number and phone_number_verified.",
    "oidcc-scope-all": "scope openid profile email address phone: the claims of every scope.",
    "oidcc-ensure-other-scope-order-succeeds": "openid need not come first in scope: 'email openid' "
                                               "succeeds.",
    "oidcc-display-page": "display=page is accepted and the normal login page is shown.",
    "oidcc-display-popup": "display=popup is accepted and a login page is shown.",
    "oidcc-prompt-login": "A second authorization with prompt=login asks the logged-in user to log in "
                          "again; auth_time of the two ID tokens differs.",
    "oidcc-prompt-none-not-logged-in": "prompt=none without a session: an error that needs a user "
                                       "interface (login_required, ...) sent to the redirect URI.",
    "oidcc-prompt-none-logged-in": "prompt=none with a session: a code at once, no page; the same sub "
                                   "and auth_time.",
    "oidcc-max-age-1": "After a login, max_age=1 a few seconds later forces a new login; the second ID "
                       "token has an auth_time later than the first.",
    "oidcc-max-age-10000": "max_age=10000 right after a login needs no new login; auth_time is present "
                           "and unchanged.",
    "oidcc-ensure-request-with-unknown-parameter-succeeds": "An unknown authorization request parameter "
                                                            "is ignored.",
    "oidcc-id-token-hint": "prompt=none with the first ID token as id_token_hint succeeds silently, same "
                           "sub.",
    "oidcc-login-hint": "login_hint is accepted (and offered on the login page).",
    "oidcc-ui-locales": "ui_locales is accepted without an error.",
    "oidcc-claims-locales": "claims_locales is accepted; /userinfo still answers.",
    "oidcc-ensure-request-with-acr-values-succeeds": "acr_values is accepted; the ID token SHOULD carry "
                                                     "acr with one of the values asked (a warning "
                                                     "otherwise).",
    "oidcc-codereuse": "A code used twice: the second token request gets 400 invalid_grant in JSON.",
    "oidcc-codereuse-30seconds": "A code used again 30 s after its first use: invalid_grant, and the "
                                 "access token of the first use SHOULD be revoked (a warning "
                                 "otherwise).",
    "oidcc-ensure-registered-redirect-uri": "An unregistered redirect_uri: an error shown to the user, "
                                            "never a redirect to that URI.",
    "oidcc-ensure-post-request-succeeds": "The authorization request sent by POST (form) succeeds.",
    "oidcc-server-client-secret-post": "oidcc-server with client_secret_post at the token endpoint.",
    "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported":
        "A request_uri pointing at an unsigned request object: processed, or refused with "
        "request_uri_not_supported. Only for providers whose discovery lists alg none for request "
        "objects (and dynamic clients).",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported":
        "An unsigned request object by value: processed, or refused with request_not_supported. "
        "Only for providers whose discovery lists alg none for request objects.",
    "oidcc-claims-essential": "The claims parameter asks for name as essential in userinfo: the request "
                              "succeeds; a warning when /userinfo has no name (or the ID token has it).",
    "oidcc-ensure-request-object-with-redirect-uri": "A request object's redirect_uri takes precedence "
                                                     "over an invalid one in the query.",
    "oidcc-refresh-token": "offline_access with prompt=consent gives a refresh token; refreshing gives "
                           "new tokens whose ID token keeps iss, sub, aud; a refresh token of another "
                           "client is refused with invalid_grant.",
    "oidcc-ensure-request-with-valid-pkce-succeeds": "A code flow with a valid S256 PKCE pair "
                                                     "succeeds.",
}

CONFIG = {
    "oidcc-discovery-endpoint-verification": "The discovery document: issuer equal to the URL it came "
                                             "from, the endpoints, jwks_uri serving a valid JWKS, "
                                             "scopes_supported with openid, response types, subject "
                                             "types, RS256 among the ID token algorithms, "
                                             "claims_supported, and https endpoints.",
}

RP_LOGOUT = {
    "oidcc-rp-initiated-logout-discovery-endpoint-verification": "Discovery lists an https "
                                                                 "end_session_endpoint.",
    "oidcc-rp-initiated-logout": "Logout with id_token_hint, a registered post_logout_redirect_uri and "
                                 "state: a redirect there with state and nothing unexpected; then "
                                 "prompt=none fails with login_required.",
    "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri": "An unregistered post_logout_redirect_uri: "
                                                              "no redirect, an error page (or a "
                                                              "confirmation).",
    "oidcc-rp-initiated-logout-modified-id-token-hint": "An id_token_hint turned into alg none: no "
                                                        "redirect, an error page.",
    "oidcc-rp-initiated-logout-no-id-token-hint": "post_logout_redirect_uri without id_token_hint: no "
                                                  "redirect; an error page or a confirmation.",
    "oidcc-rp-initiated-logout-no-params": "/logout without parameters logs the user out (after a "
                                           "confirmation) and shows a logged-out page.",
    "oidcc-rp-initiated-logout-no-post-logout-redirect-uri": "id_token_hint without "
                                                             "post_logout_redirect_uri: logged out, a "
                                                             "logged-out page, no redirect.",
    "oidcc-rp-initiated-logout-no-state": "Logout with hint and redirect URI but no state: the redirect "
                                          "carries no state.",
    "oidcc-rp-initiated-logout-only-state": "/logout with only state: logged out (after a "
                                            "confirmation), no redirect.",
}

BC_LOGOUT = {
    "oidcc-backchannel-rp-initiated-logout-discovery-endpoint-verification": "Discovery says "
                                                                             "backchannel_logout_supported.",
    "oidcc-backchannel-rp-initiated-logout": "RP-initiated logout reaches the client's "
                                             "backchannel_logout_uri: a logout token signed by a JWKS "
                                             "key, with iss, aud, iat, jti, the event, sub or sid "
                                             "(those of the ID token), no nonce; the browser is "
                                             "redirected with state; prompt=none then fails.",
}

WHAT = {**BASIC, **CONFIG, **RP_LOGOUT, **BC_LOGOUT}

# The variants each plan runs. The suite runs the Basic and Form Post plans
# with client_secret_basic, and only oidcc-server-client-secret-post with
# client_secret_post; here every Basic module runs with both, and the Form
# Post plan as the suite does (its oidcc-server-client-secret-post covers
# client_secret_post with form_post).
BASIC_VARIANTS = [Variant("basic", "client_secret_basic", "default"),
                  Variant("basic", "client_secret_post", "default"),
                  Variant("formpost", "client_secret_basic", "form_post")]
RP_LOGOUT_VARIANTS = [Variant("rp-logout", "client_secret_basic", "default"),
                      Variant("rp-logout", "client_secret_post", "default")]
BC_LOGOUT_VARIANTS = [Variant("bc-logout", "client_secret_basic", "default"),
                      Variant("bc-logout", "client_secret_post", "default")]
CONFIG_VARIANT = Variant("config", "none", "default")
RP_LOGOUT_DISCOVERY = Variant("rp-logout", "none", "default")
BC_LOGOUT_DISCOVERY = Variant("bc-logout", "none", "default")

PLAN_MODULES = {
    "basic": list(BASIC),
    "formpost": list(BASIC),
    "config": list(CONFIG),
    "rp-logout": list(RP_LOGOUT),
    "bc-logout": list(BC_LOGOUT),
}


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def readme(results):
    """The Markdown of tests/conformance/README.md from one session's results."""
    by_key = {}
    for r in results:
        by_key.setdefault((r["plan"], r["module"]), []).append(r)
    lines = [
        "# Conformance: the OpenID Foundation's OP test plans, module by module",
        "",
        "Generated by `make conformance` (tests/conformance/conftest.py): do not edit. Each row is",
        "one module of the plan, run by tests/conformance/test_*.py against the whole stack",
        "(the fixture of tests/e2e/conftest.py), with the outcome the OpenID Foundation's suite",
        "would give: passed, skipped (the suite's reason), warning (the reason), failed.",
        "\"Review\" is what the suite would have a person check on a screenshot; the harness",
        "checks that page itself.",
        "",
        "How the harness differs from the suite, and why:",
        "",
        "- Variants: every Basic module runs with client_secret_basic and client_secret_post (the",
        "  suite runs them with client_secret_basic and only oidcc-server-client-secret-post with",
        "  post); the Form Post plan runs as the suite does. Clients are static (registered over the",
        "  bus), so modules the suite runs for dynamic clients only end as it would for a static one",
        "  or, where the provider's answer decides, with that answer.",
        "- oidcc-codereuse-30seconds: the suite waits 30 s before using the code again. What it",
        "  checks then is that a code whose first use is 30 s old, but which is still within its",
        "  lifetime (OSTIARY_CODE_TTL, 60 s), is still known as used: invalid_grant, and the access",
        "  token of its first use revoked. The harness moves the code's stored times (created,",
        "  expires, consumed) 30 s into the past in the database, whose clock token-svc compares",
        "  them with: the same state as after a 30 s wait, without the wait.",
        "- oidcc-max-age-1 and oidcc-prompt-login wait on the clock (whole seconds, for auth_time),",
        "  never a fixed sleep.",
        "- The endpoints are http in the harness (the stack listens on loopback); the Config module",
        "  checks that every endpoint shares the issuer's scheme and authority instead, so that an",
        "  https issuer makes them all https.",
        "",
    ]
    totals = {}
    for plan, modules in PLAN_MODULES.items():
        lines += [f"## {PLANS[plan]}", "", "| Module | What it checks | Outcome |", "|---|---|---|"]
        for module in modules:
            rs = by_key.get((plan, module), [])
            if not rs:
                cell = "not run"
            else:
                parts = []
                for r in rs:
                    totals[r["outcome"]] = totals.get(r["outcome"], 0) + 1
                    text = r["outcome"]
                    if r["reason"]:
                        text += f": {r['reason']}"
                    if r["review"] and r["outcome"] == "passed":
                        text += f" (review: {r['review']})"
                    parts.append((r["variant"], text))
                if len({t for _, t in parts}) == 1:
                    cell = parts[0][1]
                else:
                    cell = "<br>".join(f"{v}: {t}" for v, t in parts)
            lines.append(f"| {module} | {_cell(WHAT[module])} | {_cell(cell)} |")
        lines.append("")
    # The independent relying party (not a module of the suite).
    lines += ["## An independent relying party: Apache's mod_auth_openidc", "",
              "| Test | Outcome |", "|---|---|"]
    for r in results:
        if r["plan"] is None:
            text = r["outcome"] + (f": {r['reason']}" if r["reason"] else "")
            lines.append(f"| {r['module']}{' [' + r['variant'] + ']' if r['variant'] else ''} | {_cell(text)} |")
    lines += ["", "Totals: " + ", ".join(f"{n} {k}" for k, n in sorted(totals.items())), ""]
    return "\n".join(lines)
