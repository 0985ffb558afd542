"""Pages and emails in the user's language (locales/*.json): ui_locales
(OpenID Connect Core §3.1.2.1) on /authorize carries through the flow's
pages, consent and emails; Accept-Language chooses otherwise; discovery
lists ui_locales_supported from the catalogues. Every page a user can reach
is rendered in each language and checked: <html lang>, no missing key in the
gateway's log, and in a language other than English no English sentence of
the catalogue left on the page.

"Every page" is derived, not listed: test_every_page_and_message_was_rendered
fails when a GET route of gateway/routes.c that answers HTML, or a message of
en.json, was not rendered by the walks of this file in a language (a message
counts as rendered when its text in that language is on a page or in an
email). A new page brings a route or messages of its own, so it cannot be
left out: add it to a walk, or to UNREACHED with the reason."""

import html
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import mail
from console_util import make_admin, register_console
from flowweb import CustomLoginFlow, code_in, inputs, link_in, text_of, totp, wait_message
from conftest import ADMIN_CLIENT_ID
from oidc import (PASSWORD, RP, Browser, auth_params, code_flow, ctl_json, exchange, make_client, make_user, pkce,
                  unfinished_form_post, unique, wait_for)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from webhook_receiver import Receiver  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "locales"
EN = json.loads((LOCALES / "en.json").read_text())
LANGS = sorted(p.stem for p in LOCALES.glob("*.json"))
OTHERS = [lang for lang in LANGS if lang != "en"]
CATALOGUES = {lang: json.loads((LOCALES / f"{lang}.json").read_text()) for lang in LANGS}

# What the walks rendered, by language: (method, path) of every page, and
# the visible text of every page and email.
RENDERED = {lang: {"routes": set(), "texts": []} for lang in LANGS}

# GET routes that never answer a page: documents, images, probes, APIs.
NOT_PAGES = {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks",
             "/userinfo", "/static/ostiary.css", "/theme/style.css", "/theme/logo", "/healthz", "/readyz",
             # A redirect to /authorize (a page only when the server fails).
             "/demo/login"}

# Messages the walks do not render, each with why. A prefix ends with ".".
UNREACHED = {
    # One per code of a table: tests/unit/test_gw_messages.c checks each
    # exists; the walks render some (invalid_flow, bad_escape...).
    "error.oauth.": "one per OAuth code of proto/errors.def (test_gw_messages)",
    "error.form.": "one per form_parse status (test_gw_messages)",
    # Our own faults, which no request can cause.
    "error.memory": "out of memory",
    "error.issuer": "an issuer too long for a URL",
    "error.page": "a page that could not be built",
    "error.redirect": "a redirect too long to send",
    "error.response": "a response that could not be built",
    "error.unexpected": "a service answering outside proto/ops.def",
    "error.check": "a CSRF hash that could not be computed",
    "logout.redirect_long": "a logout redirect too long to send",
    "logout.request_long": "a logout request too long to send",
    "demo.why.": "the demo's checks of a forged or broken response (one, state, is rendered)",
    "demo.not_configured.": "the demo without its client (the walks run it configured)",
    # Lockout: its thresholds are settings the lockout tests change.
    "flow.error.code_locked": "a locked second factor (test_second_factor_lockout.py)",
    "flow.error.throttled": "an address over its threshold (test_lockout.py)",
    "flow.error.invalid": "a value a step refuses without a more precise code",
    "flow.error.other": "a step error without a code of its own",
    "flow.error.login_failed": "the login flow's failure when lockout refuses (test_lockout.py)",
    "session_ended.": "a session that ended between the sign-in and the consent",
    "sessions.stale": "a sessions form older than its session",
    "logout.stale": "a logout form older than its session",
    "action.refused": "an action link refused by flow-svc other than invalid_action",
    "recovery_codes.shown": "the recovery codes page reloaded",
    "done.other": "a flow of a kind without its own message",
    "action.other_done": "an action link of a flow of another kind",
    "sessions.not_yet": "a session not used since its sign-in (the walks' sessions all authorize)",
    "signin_first.how": "production mode's sign-in-first page (the walks run in development mode)",
    "field.new_password": "a field no shipped flow asks for",
    "field.recovery_code": "a field no shipped flow asks for (the TOTP step takes recovery codes in its code field)",
    "error.unavailable.": "a service down or our own fault (test_faults_*.py)",
    "error.title": "our own faults (500 pages)",
    "error.refused.text": "a service's refusal without a sentence of its own code",
    "scope.other": "a scope without a message: clients may register only the scopes that have one",
    "error.page.client_id_not_audience": "a logout naming another client than its ID token's (test_logout.py)",
    "console.off.": "the console without OSTIARY_CONSOLE_KEY or OSTIARY_ADMIN_CLIENT_ID (the stack has both)",
    "console.keys.unavailable": "a keys-svc without keys.admin_call (an older replica)",
    "console.next_page": "a console list longer than its page of 50",
    "console.previous_page": "a console list longer than its page of 50 (test_console.py pages one)",
}


def fragments(text):
    """The literal pieces of a catalogue text around its placeholders."""
    return [f.strip() for f in re.split(r"\{[a-z_]+\}", text) if len(f.strip()) >= 5]


def visible(page_text):
    """The page's text as a reader sees or hears it (tags out, entities
    decoded; the title, alt, aria-label and placeholder attributes kept)."""
    said = " ".join(m.group(2) for m in re.finditer(r'\b(title|alt|aria-label|placeholder)="([^"]*)"', page_text))
    return html.unescape(re.sub(r"<[^>]+>", " ", page_text) + " " + said)


def check_page(stack, page, lang, what):
    """page is in lang: <html lang>, and no English text left when lang is
    not English (a sentence of en.json that lang's catalogue words
    otherwise)."""
    assert page.headers.get("Content-Type", "").startswith("text/html"), (what, page.status_code)
    assert f'<html lang="{lang}">' in page.text, (what, page.text[:300])
    if lang == "en":
        return
    own = json.loads((LOCALES / f"{lang}.json").read_text())
    text = re.sub(r"\s+", " ", visible(page.text))
    left = []
    for key, english in EN.items():
        if own.get(key) == english:
            continue
        for piece in fragments(english):
            # A piece that the language's own texts also hold is no proof.
            if any(piece in t for t in own.values()):
                continue
            if piece in text:
                left.append(f"{key}: {piece!r}")
    assert not left, f"{what} ({lang}) still says in English: {left}"


def no_missing_keys(stack):
    for name in ("gateway", "flow"):
        log = stack.log_text(name)
        assert "i18n: no message" not in log, [l for l in log.splitlines() if "i18n: no message" in l][:5]


class Walk:
    """A browser session in one language: by ui_locales on /authorize, and
    Accept-Language on every request. Every page it checks is recorded in
    RENDERED."""

    def __init__(self, stack, lang):
        self.stack = stack
        self.lang = lang
        self.base = stack.base_url
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Accept-Language"] = f"{lang};q=0.9"
        self.http.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        self.seen = []

    def get(self, url, **kw):
        return self.http.get(url if url.startswith("http") else self.base + url, allow_redirects=False,
                             timeout=30, **kw)

    def post_form(self, page, **values):
        data = {}
        for name, attrs in inputs(page).items():
            if attrs.get("type") == "hidden":
                data[name] = attrs.get("value", "")
            elif name in values:
                data[name] = values[name]
            elif attrs.get("type") == "password" and "password" in values:
                data[name] = values["password"]
        data.update({k: v for k, v in values.items() if k in ("decision", "choice", "confirm")})
        action = html.unescape(re.search(r'<form method="post" action="([^"]*)"', page.text).group(1))
        return self.http.post(action, data=data, allow_redirects=False, timeout=30)

    def page(self, r, what):
        """r, or the page its 302/303 leads to; checked and recorded (the
        route of r as well: the page is its answer)."""
        if r.status_code in (302, 303) and r.headers["Location"].startswith(self.base):
            RENDERED[self.lang]["routes"].add((r.request.method, urlsplit(r.url).path))
            r = self.get(r.headers["Location"])
        check_page(self.stack, r, self.lang, what)
        record(self.lang, r.request.method, urlsplit(r.url).path, r.text)
        self.seen.append(what)
        return r

    def close(self):
        self.http.close()


def record(lang, method, path, text):
    RENDERED[lang]["routes"].add((method, path))
    RENDERED[lang]["texts"].append(re.sub(r"\s+", " ", visible(text)))


def record_mail(lang, msg):
    RENDERED[lang]["texts"].append(re.sub(r"\s+", " ", msg["Subject"] + " " + mail.text(msg)))


def authorize(w, client_id, redirect_uri, **extra):
    _, challenge = pkce()
    return w.http.get(w.base + "/authorize",
                      params=auth_params(client_id, redirect_uri, code_challenge=challenge, ui_locales=f"xx {w.lang}",
                                         **extra),
                      allow_redirects=False, timeout=30)


@pytest.fixture(scope="module")
def demo(stack):
    """The gateway restarted with the demo relying party configured (its
    client third-party, so its consent page comes first)."""
    out = ctl_json(stack, "token.client_add", {
        "name": "Ostiary demo", "type": "confidential",
        "redirect_uris": [stack.base_url + "/demo/callback"],
        "grant_types": ["authorization_code"], "response_types": ["code"],
        "scopes": ["openid", "profile", "email", "address", "phone"],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "RS256", "first_party": False})
    stack.stop_all("gateway")
    stack.start("gateway", {"OSTIARY_DEMO_CLIENT_ID": out["client"]["client_id"],
                            "OSTIARY_DEMO_CLIENT_SECRET": out["client_secret"]})
    stack.wait_ready(30)
    yield
    stack.stop_all("gateway")
    stack.ensure("gateway")
    stack.wait_ready(30)


def walk_demo(w):
    """The demo relying party: its page, a sign-in through consent to its
    page of claims, a denied consent, a callback without a login, a forged
    state."""
    w.page(w.get("/demo"), "demo")
    r = w.get("/demo/login")
    assert r.status_code == 302 and "/authorize?" in r.headers["Location"], r.status_code
    consent = w.page(w.get(r.headers["Location"]), "demo consent")
    done = w.post_form(consent, decision="allow")
    assert done.status_code in (302, 303) and "/demo/callback" in done.headers["Location"], done.status_code
    signed_in = w.page(w.get(done.headers["Location"]), "demo signed in")
    assert 'id="id-token-claims"' in signed_in.text, signed_in.text[:500]
    w.page(w.get("/demo/callback"), "demo without a login")
    # Consented already: prompt=consent asks again.
    r = w.get("/demo/login?prompt=consent")
    consent = w.page(w.get(r.headers["Location"]), "demo consent again")
    denied = w.post_form(consent, decision="deny")
    refused = w.page(w.get(denied.headers["Location"]), "demo refused")
    assert "access_denied" in refused.text
    w.get("/demo/login")
    forged = w.page(w.get("/demo/callback?code=x&state=forged&iss=" + w.base), "demo forged state")
    assert forged.status_code == 400


def walk_refusals(w, stack, client_id, redirect_uri):
    """Requests refused on a page, one per reason of proto/page_errors.def
    that a browser can send, the form parser's, a method not allowed, a
    form body too large, too slow or cut short, and too many headers."""
    reasons = {}

    def refused(r, what):
        page = w.page(r, what)
        assert page.status_code == 400, (what, page.status_code)
        code = re.search(r'<code id="error-code">([^<]*)</code>', page.text)
        reasons[what] = code and code.group(1)

    def get(url, **kw):
        return w.http.get(url, allow_redirects=False, timeout=30, **kw)

    base = auth_params(client_id, redirect_uri)
    url = w.base + "/authorize"
    refused(get(url, params=dict(base, client_id="nobody-" + unique("x"))), "unknown_client")
    refused(get(url, params={k: v for k, v in base.items() if k != "client_id"}),
            "client_id_malformed")
    refused(get(url + "?client_id=a&client_id=b"), "client_id_repeated")
    refused(get(url, params=dict(base, redirect_uri=redirect_uri + "/other")),
            "redirect_uri_unregistered")
    refused(get(url, params=[(k, v) for k, v in base.items()] + [("redirect_uri", redirect_uri)]), "redirect_uri_repeated")
    several = make_client(stack, redirect_uris=[f"{RP}/a/{unique('r')}", f"{RP}/b/{unique('r')}"])
    refused(get(url, params={k: v for k, v in dict(base, client_id=several[0]).items()
                                    if k != "redirect_uri"}), "redirect_uri_required")
    disabled = make_client(stack)
    ctl_json(stack, "token.client_update", {"client_id": disabled[0], "version": 1, "disabled": True})
    params = dict(base, client_id=disabled[0], redirect_uri=disabled[2])
    # token-svc may answer from its client cache until the change reaches it.
    wait_for("the client disabled", lambda: get(url, params=params).status_code == 400)
    refused(get(url, params=params), "client_disabled")
    logout = w.base + "/logout"
    refused(get(logout + "?state=a&state=b"), "parameter_repeated")
    refused(get(logout, params={"id_token_hint": "abc.def.ghi"}), "id_token_hint_invalid")
    refused(get(logout, params={"client_id": "c" * 100}), "client_id_malformed")
    refused(get(logout, params={"post_logout_redirect_uri": f"{RP}/bye"}),
            "post_logout_redirect_uri_needs_client")
    refused(get(logout, params={"client_id": client_id, "post_logout_redirect_uri": f"{RP}/nowhere"}), "post_logout_redirect_uri_unregistered")
    refused(get(logout, params={"state": "s" * 3000}), "state_too_long")
    refused(get(logout, params={"logout_hint": "h" * 600}), "logout_hint_malformed")
    refused(get(logout, params={"ui_locales": "l" * 300}), "ui_locales_malformed")
    # The form parser's refusal, and a method a path does not serve.
    refused(get(url + "?client_id=%00"), "nul")
    r = w.page(w.http.delete(w.base + "/login", timeout=30), "405")
    assert r.status_code == 405 and "Allow" in r.headers
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    limit = int(stack.env.get("OSTIARY_HTTP_MAX_BODY", 65536))
    r = w.page(w.http.post(url, data=b"a=" + b"x" * limit, headers=form, timeout=30), "413")
    assert r.status_code == 413
    said = {k: w.http.headers[k] for k in ("Accept", "Accept-Language")}
    r = w.page(unfinished_form_post(w.base, "/authorize", said, drip=True), "408")
    assert r.status_code == 408
    r = w.page(unfinished_form_post(w.base, "/authorize", said, drip=False), "body_incomplete")
    assert r.status_code == 400
    many = {f"X-H{i}": "v" for i in range(70)}
    r = w.page(w.get("/login", headers=many), "431")
    assert r.status_code == 431
    assert {k: v for k, v in reasons.items() if k != v} == {}, reasons

def sections(page):
    """sid → (current, the form's fields) of each session of /account/sessions."""
    out = {}
    for m in re.finditer(r'<section class="account" data-sid="([^"]+)"( data-current="true")?>(.*?)</section>',
                         page.text, re.S):
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', m.group(3)))
        action = html.unescape(re.search(r'<form method="post" action="([^"]*)"', m.group(3)).group(1))
        out[m.group(1)] = (bool(m.group(2)), action, fields)
    return out


def walk_sessions(stack, lang, first_id, first_uri):
    """One user's two browsers: the sessions page ends the other one, then
    its own; the ended browser's logout; and an RP-initiated logout that
    frames the front-channel URI before going back to the application."""
    username, _ = make_user(stack, unique("i18n"))
    a, b, c = Walk(stack, lang), Walk(stack, lang), Walk(stack, lang)
    try:
        for w in (a, b, c):
            login = w.page(authorize(w, first_id, first_uri, response_mode="form_post"), "sign-in")
            w.page(w.post_form(login, username=username, password=PASSWORD), "form_post")
        # c: the application asks to sign out, and names where to go after.
        confirm = c.page(c.get(f"/logout?client_id={first_id}&post_logout_redirect_uri={RP}/bye"),
                         "logout asked by the application")
        frames = c.page(c.post_form(confirm, confirm="yes"), "logout frames, then the application")
        assert "<iframe" in frames.text, frames.text[:800]
        page = a.page(a.get("/account/sessions"), "two sessions")
        listed = sections(page)
        assert len(listed) == 2, listed
        other = next(sid for sid, (current, _, _) in listed.items() if not current)
        _, action, fields = listed[other]
        a.page(a.http.post(action, data=fields, allow_redirects=False, timeout=30), "another session ended")
        # The same form again: that session has ended already.
        a.page(a.http.post(action, data=fields, allow_redirects=False, timeout=30), "a session ended already")
        own = next(sid for sid, (current, _, _) in listed.items() if current)
        _, action, fields = listed[own]
        a.page(a.http.post(action, data=fields, allow_redirects=False, timeout=30), "this session ended")
    finally:
        for w in (a, b, c):
            w.close()



def register(w, stack, reg, what, code=True, wrong_codes=0):
    """A registration from its first page: refused fields, then a new
    account, its email code (wrong_codes wrong ones first); the last page."""
    new = unique("reg")
    address = f"{new}@example.org"
    bad = w.page(w.post_form(reg, username=new, email=address, password="short", password_confirm="other"),
                 f"{what}: refused fields")
    sent = w.page(w.post_form(bad, username=new, email=address, password="a good long password 1",
                              password_confirm="a good long password 1"), f"{what}: email code")
    msg = wait_message(stack, address, count=1)
    record_mail(w.lang, msg)
    field = next(n for n in inputs(sent) if "code" in n)
    right = code_in(msg)
    page = sent
    for i in range(wrong_codes):
        wrong = f"{(int(right) + 1) % 10 ** len(right):0{len(right)}d}"
        page = w.page(w.post_form(page, **{field: wrong}), f"{what}: wrong code {i + 1}")
    if code:
        page = w.page(w.post_form(page, **{field: right}), f"{what}: done")
    return page, new


def walk_console(stack, w):
    """The console's pages (docs/admin/console.md) in w's language, signed in
    as an admin through the login page (its ui_locales is the console's):
    every page, each change's notice, a stale form, the refusals, and the
    session ending."""
    def hops(r):
        while r.status_code in (302, 303) and r.headers["Location"].startswith(w.base):
            r = w.get(r.headers["Location"])
        return r

    def post(path, what, **data):
        return w.page(w.http.post(w.base + path, data=dict(data, csrf=csrf), allow_redirects=False, timeout=30),
                      what)

    register_console(stack)
    username, _ = make_admin(stack)
    w.page(w.get("/admin/clients"), "console: sign-in required")
    w.page(w.get("/admin/callback?state=x&code=y"), "console: sign-in failed")
    login = w.page(hops(w.get("/admin/login")), "console: sign-in page")
    clients = w.page(hops(w.post_form(login, username=username, password=PASSWORD)), "console: clients")
    csrf = re.search(r'name="csrf" value="([^"]+)"', clients.text).group(1)
    client_id = unique("i18n-console")
    form = {"name": "Walk", "redirect_uris": "https://rp.example/cb", "scopes": "openid",
            "grant_types": "authorization_code", "require_pkce": "default"}
    w.page(w.get("/admin/clients/new"), "console: new client")
    refused = post("/admin/clients/new", "console: client refused", client_id=client_id, type="confidential",
                   **dict(form, redirect_uris="https://rp.example/cb#fragment"))
    assert refused.status_code == 400
    created = post("/admin/clients/new", "console: client created", client_id=client_id, type="confidential",
                   **form)
    assert created.status_code == 201
    w.page(w.get(f"/admin/clients/{client_id}"), "console: client")
    post(f"/admin/clients/{client_id}", "console: client updated", version="1", **form)
    stale = post(f"/admin/clients/{client_id}", "console: stale client form", version="1", **form)
    assert stale.status_code == 409
    post(f"/admin/clients/{client_id}", "console: client disable confirmation", version="2", disabled="1", **form)
    post(f"/admin/clients/{client_id}/secret", "console: new secret with an overlap", overlap_seconds="60")
    w.page(w.get(f"/admin/clients/{client_id}/delete"), "console: delete confirmation")
    post(f"/admin/clients/{client_id}/delete", "console: client deleted")
    w.page(w.get("/admin/users"), "console: users")
    w.page(w.get("/admin/users/new"), "console: new user")
    new_user = unique("i18n-cu")
    post("/admin/users/new", "console: user created", username=new_user, password="a long enough password 9")
    w.page(w.get(f"/admin/users/{new_user}/disable"), "console: user disable confirmation")
    post(f"/admin/users/{new_user}/disable", "console: user disabled")
    post(f"/admin/users/{new_user}/enable", "console: user enabled")
    post(f"/admin/users/{new_user}/password", "console: password set", password="another long password 8")
    post(f"/admin/users/{new_user}/unlock", "console: user unlocked")
    w.page(w.get(f"/admin/users/{new_user}/totp-reset"), "console: second factor reset confirmation")
    post(f"/admin/users/{new_user}/totp-reset", "console: second factor reset")
    # A user holding a grant: revoked from the console.
    holder, _ = make_user(stack, unique("i18n-grant"))
    app_id, secret, redirect = make_client(stack, grant_types=["authorization_code", "refresh_token"],
                                           always_refresh=True)
    b = Browser(stack)
    try:
        params, _, resp = code_flow(stack, b, app_id, redirect, holder)
    finally:
        b.close()
    assert exchange(stack, resp["code"], params, app_id, secret).status_code == 200
    w.page(w.get(f"/admin/users/{holder}"), "console: user with a session and a grant")
    post(f"/admin/users/{holder}/grant", "console: grant revoked", client_id=app_id)
    post(f"/admin/users/{holder}/session", "console: sessions ended")
    settings_page = w.page(w.get("/admin/settings"), "console: settings")
    value = re.search(r'id="setting-code_mail_window_seconds">.*?name="expected" value="(\d+)"', settings_page.text,
                      re.S).group(1)
    # Back to its default (what it is in this stack): nothing stored after.
    post("/admin/settings/code_mail_window_seconds", "console: setting saved", reset="1", expected=value)
    w.page(w.get("/admin/keys"), "console: keys")
    rotated = post("/admin/keys/rotate", "console: key rotated", alg="EdDSA")
    kid = re.search(r'<tr class="rotated"><td>EdDSA</td><td>([^<]+)</td>', rotated.text).group(1)
    w.page(w.get(f"/admin/keys/retire?kid={kid}"), "console: key retire confirmation")
    post("/admin/keys/retire", "console: key retired", kid=kid)
    w.page(w.get("/admin/audit?event=client_add"), "console: audit")
    w.page(w.get("/admin/audit?since=yesterday"), "console: audit bad time")
    w.page(w.get("/admin/no-such-page"), "console: not found")
    w.page(w.http.post(w.base + "/admin/settings/lockout_threshold", data={"csrf": "forged", "value": "3"},
                       allow_redirects=False, timeout=30), "console: csrf refused")
    post("/admin/logout", "console: signed out")
    # Signed in again, the admin revokes the console's own grant: the
    # session's tokens go, and the next page says the session ended.
    login = w.page(hops(w.get("/admin/login")), "console: sign-in page again")
    clients = w.page(hops(w.post_form(login, username=username, password=PASSWORD)), "console: clients again")
    csrf = re.search(r'name="csrf" value="([^"]+)"', clients.text).group(1)
    post(f"/admin/users/{username}/grant", "console: session ended", client_id=ADMIN_CLIENT_ID)
    # A user without the admin role.
    other, _ = make_admin(stack, admin=False)
    login = w.page(hops(w.get("/admin/login")), "console: sign-in page, not an admin")
    w.page(hops(w.post_form(login, username=other, password=PASSWORD)), "console: not an admin")


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_in_each_language(stack, demo, lang):
    w = Walk(stack, lang)
    own = CATALOGUES[lang]
    try:
        # A third-party client asking for every scope the consent page names
        # (prompt=consent: offline_access asks for it).
        scopes = ["openid", "profile", "email", "address", "phone", "offline_access"]
        third_party = make_client(stack, first_party=False, scopes=scopes,
                                  grant_types=["authorization_code", "refresh_token"])
        client_id, _, redirect_uri = third_party
        username, _ = make_user(stack, unique("i18n"))
        # Sign-in: the password step, then a wrong password, then consent.
        login = w.page(authorize(w, client_id, redirect_uri, scope=" ".join(scopes), prompt="consent"),
                       "sign-in")
        assert "/register?request=" in login.text
        failed = w.page(w.post_form(login, username=username, password="wrong password 1"), "sign-in failed")
        consent = w.page(w.post_form(failed, username=username, password=PASSWORD), "consent")
        done = w.post_form(consent, decision="allow")
        assert done.status_code in (302, 303) and done.headers["Location"].startswith(redirect_uri)
        # Consent again, for every claim the catalogue names asked one by one
        # with the claims parameter and no scope but openid.
        claims = {"userinfo": {k.split(".", 1)[1]: None for k in own if k.startswith("claim.")}}
        by_claim = w.page(authorize(w, client_id, redirect_uri, scope="openid", prompt="consent",
                                    claims=json.dumps(claims)), "consent to claims")
        done = w.post_form(by_claim, decision="allow")
        assert done.status_code in (302, 303) and done.headers["Location"].startswith(redirect_uri)
        # The account chooser, with the session.
        chooser = w.page(authorize(w, client_id, redirect_uri, prompt="select_account"), "account chooser")
        assert 'name="choice"' in chooser.text
        # form_post: the page that returns to the application, of a client
        # with a front-channel logout URI (the signed-out page frames it).
        first_id, _, first_uri = make_client(stack, frontchannel_logout_uri=f"{RP}/fc",
                                             post_logout_redirect_uris=[f"{RP}/bye"])
        w.page(authorize(w, first_id, first_uri, response_mode="form_post"), "form_post")
        # The demo relying party, signed in already.
        walk_demo(w)
        # The account's sessions, TOTP enrollment and email verification.
        w.page(w.get("/account/sessions"), "sessions")
        # TOTP enrollment: the QR step, a wrong code, the recovery codes, done.
        enroll = w.page(w.get("/account/totp"), "totp enrollment")
        secret = text_of(enroll, "totp-secret")
        field = next(n for n in inputs(enroll) if "code" in n)
        wrong = f"{(int(totp(secret)) + 1) % 1000000:06d}"
        enroll = w.page(w.post_form(enroll, **{field: wrong}), "totp enrollment wrong code")
        codes = w.page(w.post_form(enroll, **{field: totp(secret)}), "recovery codes")
        assert "recovery-codes" in codes.text
        w.page(w.post_form(codes), "totp enrollment done")
        # Email verification: the link sent (in the flow's language), its
        # confirm page, and the confirmed page.
        w.page(w.get("/account/verify-email"), "verify email: link sent")
        msg = wait_message(stack, f"{username}@example.org", count=1)
        record_mail(lang, msg)
        assert msg["Subject"] == own["email.link.subject"].replace("{product}", own["product"]), msg["Subject"]
        first_line = own["email.link.text"].split("{link}")[0].strip()
        assert mail.text(msg).replace("\r\n", "\n").startswith(first_line), mail.text(msg)
        link = link_in(msg, stack.base_url)
        # Opened in another browser without Accept-Language: still the flow's.
        with requests.Session() as other:
            other.trust_env = False
            check_page(stack, other.get(link, allow_redirects=False, timeout=30), lang, "action confirm elsewhere")
        confirm = w.page(w.get(link), "action confirm")
        w.page(w.post_form(confirm), "action confirmed")
        # Logout: the confirmation, "stay", then signed out.
        confirm = w.page(w.get("/logout"), "logout confirmation")
        w.page(w.post_form(confirm, confirm="no"), "logout kept")
        confirm = w.page(w.get("/logout"), "logout confirmation")
        w.page(w.post_form(confirm, confirm="yes"), "signed out")
        # Registration from the sign-in page's link (then onward to the
        # application), from /register (onward to the account), and one
        # ended by wrong codes; a name already taken.
        login = w.page(authorize(w, client_id, redirect_uri), "sign-in for registration")
        link = html.unescape(re.search(r'href="([^"]*/register\?request=[^"]*)"', login.text).group(1))
        reg = w.page(w.get(link), "registration from the sign-in page")
        done, _ = register(w, stack, reg, "registration from the sign-in page", wrong_codes=1)
        onward = re.search(r'href="([^"]*/register/continue[^"]*)"', done.text)
        assert onward, done.text[:800]
        w.page(w.get(html.unescape(onward.group(1))), "continue to the application")
        done, taken = register(w, stack, w.page(w.get("/register"), "registration"), "registration")
        w.page(w.get("/register/continue"), "nothing to continue")
        register(w, stack, w.page(w.get("/register"), "registration"), "registration ended", code=False,
                 wrong_codes=5)
        reg = w.page(w.get("/register"), "registration")
        w.page(w.post_form(reg, username=taken, email=f"{unique('t')}@example.org",
                           password="a good long password 1", password_confirm="a good long password 1"),
               "registration: name taken")
        # Recovery: the identifier, then the code sent by email.
        rec = w.page(w.get("/recover"), "recovery")
        sent = w.page(w.post_form(rec, identifier=username), "recovery email code")
        msg = wait_message(stack, f"{username}@example.org", count=2)
        record_mail(lang, msg)
        assert msg["Subject"] == own["email.code.subject"].replace("{product}", own["product"]), msg["Subject"]
        if lang != "en":
            assert "It expires in" not in mail.text(msg), mail.text(msg)
        field = next(n for n in inputs(sent) if "code" in n)
        new_password = w.page(w.post_form(sent, **{field: code_in(msg)}), "recovery new password")
        w.page(w.post_form(new_password, password="a brand new passphrase 2026"), "recovery done")
        # Sign-in with the second factor: the TOTP step, then a wrong code.
        login = w.page(authorize(w, client_id, redirect_uri, prompt="login"), "sign-in again")
        second = w.page(w.post_form(login, username=username, password="a brand new passphrase 2026"), "totp step")
        field = next(n for n in inputs(second) if "code" in n)
        page = w.page(w.post_form(second, **{field: wrong}), "totp step wrong code")
        # Four more: the sign-in fails, and a sign-in cannot start again here.
        for i in range(4):
            page = w.page(w.post_form(page, **{field: wrong}), f"totp step wrong code {i + 2}")
        assert "<form" not in page.text, page.text[:800]
        # The admin console: every page group, its refusals and the sign-out.
        walk_console(stack, w)
        # Error pages, and the pages that need a session without one.
        w.page(w.get("/no-such-page"), "404")
        w.page(w.get("/flow"), "expired flow")
        w.page(w.get("/action?token=" + "A" * 43), "invalid link")
        with requests.Session() as fresh:
            w.http, kept = fresh, w.http
            fresh.trust_env = False
            fresh.headers.update(kept.headers)
            w.page(w.get("/account/sessions"), "sessions without a session")
            w.page(w.get("/account/totp"), "totp enrollment without a session")
            w.page(w.get("/account/verify-email"), "verify email without a session")
            w.page(w.get("/flow"), "a flow page without a flow")
            w.page(w.get("/logout"), "logout without a session")
            r = w.http.post(w.base + "/flow", data="x", headers={"Content-Type": "text/plain"}, timeout=30)
            w.page(r, "a form that is not a form")
            w.http = kept
        walk_refusals(w, stack, client_id, redirect_uri)
        walk_sessions(stack, lang, first_id, first_uri)
        no_missing_keys(stack)
    finally:
        w.close()


@pytest.mark.parametrize("lang", LANGS)
def test_pages_of_other_login_flows_in_each_language(stack, lang, tmp_path):
    """The pages only other login flows show: a sign-in link by email
    (tests/flows/engine/magic-link-login.json) and an outside approval
    (webhook-async.json)."""
    client_id, _, redirect_uri = make_client(stack)
    username, _ = make_user(stack, unique("i18n"))
    (tmp_path / "magic").mkdir()
    flow = CustomLoginFlow(stack, tmp_path / "magic", "magic-link-login")
    w = Walk(stack, lang)
    try:
        login = w.page(authorize(w, client_id, redirect_uri), "sign-in by link")
        w.page(w.post_form(login, identifier=username), "sign-in link sent")
        msg = wait_message(stack, f"{username}@example.org", count=1)
        record_mail(lang, msg)
        link = link_in(msg, stack.base_url)
        with requests.Session() as other:
            other.trust_env = False
            other.headers.update(w.http.headers)
            w.http, kept = other, w.http
            confirm = w.page(w.get(link), "sign-in link confirm")
            w.page(w.post_form(confirm), "sign-in link confirmed")
            w.http = kept
        w.page(w.get("/login"), "signed in by link")
    finally:
        w.close()
        flow.close()
    receiver = Receiver("0123456789abcdef0123456789abcdef").start()
    (tmp_path / "hook").mkdir()
    flow = CustomLoginFlow(stack, tmp_path / "hook", "webhook-async", {
        "async_approve": {"url": receiver.url("/async"), "secret": "0123456789abcdef0123456789abcdef",
                          "mode": "async", "timeout_ms": 2000, "retries": 2}})
    w = Walk(stack, lang)
    try:
        login = w.page(authorize(w, client_id, redirect_uri), "sign-in before approval")
        wait = w.page(w.post_form(login, username=username, password=PASSWORD), "waiting for approval")
        assert '<meta http-equiv="refresh"' in wait.text
        no_missing_keys(stack)
    finally:
        w.close()
        flow.close()
        receiver.stop()


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_and_message_was_rendered(lang):
    """Runs after the walks above (the same file, in order): every GET route
    that answers a page was rendered in lang, and every message of the
    catalogue is on one of the pages or emails, but for UNREACHED."""
    done = RENDERED[lang]
    if not done["texts"]:
        pytest.fail(f"the walks of this file did not run in {lang} (run the whole file)")
    routes = re.findall(r'\{"GET", "([^"]+)"', (REPO / "gateway" / "routes.c").read_text())
    assert len(routes) > 15
    missed_routes = sorted(p for p in routes if p not in NOT_PAGES and ("GET", p) not in done["routes"])
    own = CATALOGUES[lang]
    missed = []
    for key in EN:
        if any(key == k or (k.endswith(".") and key.startswith(k)) for k in UNREACHED):
            continue
        text = own.get(key, EN[key])
        pieces = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\{[a-z_]+\}", text)]
        pieces = [p for p in pieces if p]
        if not any(all(p in t for p in pieces) for t in done["texts"]):
            missed.append(key)
    assert not missed_routes and not missed, (f"not rendered in {lang}: routes {missed_routes}, "
                                              f"messages {missed}")


def test_discovery_lists_the_catalogues(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["ui_locales_supported"][0] == "en"
    assert sorted(doc["ui_locales_supported"]) == LANGS
    assert len(LANGS) >= 2


def test_ui_locales_first_served_tag_wins_over_accept_language(stack, client):
    client_id, _, redirect_uri = client
    with requests.Session() as s:
        s.trust_env = False
        s.headers["Accept-Language"] = "en"
        _, challenge = pkce()
        r = s.get(stack.base_url + "/authorize", allow_redirects=False, timeout=10,
                  params=auth_params(client_id, redirect_uri, code_challenge=challenge,
                                     ui_locales=f"es {OTHERS[0]}-CA en"))
        page = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
        assert f'<html lang="{OTHERS[0]}">' in page.text


def test_logout_refused_on_a_page_speaks_its_ui_locales(stack, http):
    """RP-Initiated Logout 1.0 §2: ui_locales names the language of the
    pages, the refusal's included."""
    r = http.get(stack.base_url + f"/logout?state=a&state=b&ui_locales=xx+{OTHERS[0]}",
                 headers={"Accept": "text/html", "Accept-Language": "en"}, timeout=10)
    assert r.status_code == 400
    assert f'<html lang="{OTHERS[0]}">' in r.text, r.text[:200]
    assert CATALOGUES[OTHERS[0]]["error.page.parameter_repeated"] in html.unescape(r.text)


def test_accept_language_q_values_choose_without_ui_locales(stack, http):
    for header, want in ((f"es, en;q=0.5, {OTHERS[0]};q=0.7", OTHERS[0]), (f"{OTHERS[0]};q=0.1, en", "en"),
                         ("es", "en"), (None, "en")):
        headers = {"Accept": "text/html"}
        if header:
            headers["Accept-Language"] = header
        r = http.get(stack.base_url + "/no-such-page", headers=headers, timeout=10)
        assert f'<html lang="{want}">' in r.text, (header, r.text[:200])
