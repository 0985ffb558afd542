"""Pages and emails in the user's language (locales/*.json): ui_locales
(OpenID Connect Core §3.1.2.1) on /authorize carries through the flow's
pages, consent and emails; Accept-Language chooses otherwise; discovery
lists ui_locales_supported from the catalogues. Every page a user can reach
is rendered in each language and checked: <html lang>, no missing key in the
gateway's log, and in a language other than English no English sentence of
the catalogue left on the page."""

import html
import json
import re
from pathlib import Path

import pytest
import requests

import mail
from console_util import make_admin, register_console
from flowweb import code_in, inputs, link_in, text_of, totp, wait_message
from oidc import PASSWORD, auth_params, make_client, make_user, pkce, unique

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "locales"
EN = json.loads((LOCALES / "en.json").read_text())
LANGS = sorted(p.stem for p in LOCALES.glob("*.json"))
OTHERS = [lang for lang in LANGS if lang != "en"]


def fragments(text):
    """The literal pieces of a catalogue text around its placeholders."""
    return [f.strip() for f in re.split(r"\{[a-z_]+\}", text) if len(f.strip()) >= 5]


def visible(page_text):
    """The page's text as a reader sees it (tags out, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page_text))


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
    Accept-Language on every request."""

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
        """r, or the page its 303 leads to; checked."""
        if r.status_code in (302, 303) and r.headers["Location"].startswith(self.base):
            r = self.get(r.headers["Location"])
        check_page(self.stack, r, self.lang, what)
        self.seen.append(what)
        return r

    def close(self):
        self.http.close()


def authorize(w, client_id, redirect_uri, **extra):
    _, challenge = pkce()
    return w.http.get(w.base + "/authorize",
                      params=auth_params(client_id, redirect_uri, code_challenge=challenge, ui_locales=f"xx {w.lang}",
                                         **extra),
                      allow_redirects=False, timeout=30)


def walk_console(stack, w):
    """The console's pages (docs/admin/console.md) in w's language, signed in
    as an admin through the login page (its ui_locales is the console's)."""
    def hops(r):
        while r.status_code in (302, 303) and r.headers["Location"].startswith(w.base):
            r = w.get(r.headers["Location"])
        return r

    register_console(stack)
    username, _ = make_admin(stack)
    w.page(w.get("/admin/clients"), "console: sign-in required")
    login = w.page(hops(w.get("/admin/login")), "console: sign-in page")
    clients = w.page(hops(w.post_form(login, username=username, password=PASSWORD)), "console: clients")
    csrf = re.search(r'name="csrf" value="([^"]+)"', clients.text).group(1)
    client_id = unique("i18n-console")
    new = w.page(w.get("/admin/clients/new"), "console: new client")
    assert new.status_code == 200
    created = w.page(w.http.post(w.base + "/admin/clients/new", allow_redirects=False, timeout=30, data={
        "csrf": csrf, "client_id": client_id, "name": "Walk", "type": "confidential",
        "redirect_uris": "https://rp.example/cb", "scopes": "openid", "grant_types": "authorization_code",
        "require_pkce": "default"}), "console: client created")
    assert created.status_code == 201
    w.page(w.get(f"/admin/clients/{client_id}"), "console: client")
    w.page(w.http.post(w.base + f"/admin/clients/{client_id}", allow_redirects=False, timeout=30, data={
        "csrf": csrf, "version": "0", "name": "Walk", "redirect_uris": "https://rp.example/cb",
        "scopes": "openid", "grant_types": "authorization_code", "require_pkce": "default"}),
        "console: stale client form")
    w.page(w.http.post(w.base + f"/admin/clients/{client_id}/secret", data={"csrf": csrf},
                       allow_redirects=False, timeout=30), "console: new secret")
    w.page(w.get(f"/admin/clients/{client_id}/delete"), "console: delete confirmation")
    w.page(w.http.post(w.base + f"/admin/clients/{client_id}/delete", data={"csrf": csrf},
                       allow_redirects=False, timeout=30), "console: client deleted")
    w.page(w.get("/admin/users"), "console: users")
    w.page(w.get("/admin/users/new"), "console: new user")
    w.page(w.get(f"/admin/users/{username}"), "console: user")
    w.page(w.http.post(w.base + f"/admin/users/{username}/unlock", data={"csrf": csrf},
                       allow_redirects=False, timeout=30), "console: user unlocked")
    w.page(w.http.post(w.base + f"/admin/users/{username}/totp-reset", data={"csrf": csrf},
                       allow_redirects=False, timeout=30), "console: second factor reset")
    w.page(w.get("/admin/settings"), "console: settings")
    w.page(w.get("/admin/keys"), "console: keys")
    rotated = w.page(w.http.post(w.base + "/admin/keys/rotate", data={"csrf": csrf, "alg": "EdDSA"},
                                 allow_redirects=False, timeout=30), "console: key rotated")
    kid = re.search(r'<tr class="rotated"><td>EdDSA</td><td>([^<]+)</td>', rotated.text).group(1)
    w.page(w.get(f"/admin/keys/retire?kid={kid}"), "console: key retire confirmation")
    w.page(w.http.post(w.base + "/admin/keys/retire", data={"csrf": csrf, "kid": kid}, allow_redirects=False,
                       timeout=30), "console: key retired")
    w.page(w.get("/admin/audit?event=client_add"), "console: audit")
    w.page(w.get("/admin/audit?since=yesterday"), "console: audit bad time")
    w.page(w.get("/admin/no-such-page"), "console: not found")
    w.page(w.http.post(w.base + "/admin/settings/lockout_threshold", data={"csrf": "forged", "value": "3"},
                       allow_redirects=False, timeout=30), "console: csrf refused")
    w.page(w.http.post(w.base + "/admin/logout", data={"csrf": csrf}, allow_redirects=False, timeout=30),
           "console: signed out")
    # A user without the admin role.
    other, _ = make_admin(stack, admin=False)
    login = w.page(hops(w.get("/admin/login")), "console: sign-in page again")
    w.page(hops(w.post_form(login, username=other, password=PASSWORD)), "console: not an admin")


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_in_each_language(stack, lang):
    w = Walk(stack, lang)
    try:
        third_party = make_client(stack, first_party=False)
        client_id, _, redirect_uri = third_party
        username, _ = make_user(stack, unique("i18n"))
        # Sign-in: the password step, then a wrong password, then consent.
        login = w.page(authorize(w, client_id, redirect_uri), "sign-in")
        assert "/register?request=" in login.text
        failed = w.page(w.post_form(login, username=username, password="wrong password 1"), "sign-in failed")
        consent = w.page(w.post_form(failed, username=username, password=PASSWORD), "consent")
        done = w.post_form(consent, decision="allow")
        assert done.status_code in (302, 303) and done.headers["Location"].startswith(redirect_uri)
        # The account chooser, with the session.
        chooser = w.page(authorize(w, client_id, redirect_uri, prompt="select_account"), "account chooser")
        assert 'name="choice"' in chooser.text
        # form_post: the page that returns to the application.
        first_id, _, first_uri = make_client(stack)
        w.page(authorize(w, first_id, first_uri, response_mode="form_post"), "form_post")
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
        own = json.loads((LOCALES / f"{lang}.json").read_text())
        msg = wait_message(stack, f"{username}@example.org", count=1)
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
        # Registration: refused fields, then done.
        reg = w.page(w.get("/register"), "registration")
        new = unique("reg")
        bad = w.page(w.post_form(reg, username=new, email=f"{new}@example.org", password="short",
                                 password_confirm="other"), "registration refused")
        w.page(w.post_form(bad, username=new, email=f"{new}@example.org", password="a good long password 1",
                           password_confirm="a good long password 1"), "registration done")
        # Recovery: the identifier, then the code sent by email.
        rec = w.page(w.get("/recover"), "recovery")
        sent = w.page(w.post_form(rec, identifier=username), "recovery email code")
        msg = wait_message(stack, f"{username}@example.org", count=2)
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
        w.page(w.post_form(second, **{field: wrong}), "totp step wrong code")
        # The admin console: every page group, its refusals and the sign-out.
        walk_console(stack, w)
        # Error pages.
        w.page(w.get("/no-such-page"), "404")
        w.page(w.get("/flow"), "expired flow")
        w.page(w.get("/action?token=" + "A" * 43), "invalid link")
        w.page(w.get("/account/sessions"), "sessions without a session")
        no_missing_keys(stack)
    finally:
        w.close()


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


def test_accept_language_q_values_choose_without_ui_locales(stack, http):
    for header, want in ((f"es, en;q=0.5, {OTHERS[0]};q=0.7", OTHERS[0]), (f"{OTHERS[0]};q=0.1, en", "en"),
                         ("es", "en"), (None, "en")):
        headers = {"Accept": "text/html"}
        if header:
            headers["Accept-Language"] = header
        r = http.get(stack.base_url + "/no-such-page", headers=headers, timeout=10)
        assert f'<html lang="{want}">' in r.text, (header, r.text[:200])
