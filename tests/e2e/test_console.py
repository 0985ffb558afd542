"""The admin console at /admin (docs/admin/console.md) over HTTP: sign-in
through Ostiary's own code flow as the admin client, the session cookie's
flags, CSRF on every form, a stale form refused with nothing overwritten,
non-admins refused, and the clients, users, settings and audit pages.
tests/e2e/test_console_browser.py drives the same pages in Chromium."""

import base64
import html
import re

import pytest

from conftest import ADMIN_CLIENT_ID
from console_util import Console, csrf_of, forms, make_admin, register_console
from lockout_util import settings  # noqa: F401
from test_two_gateways import second  # noqa: F401
from oidc import (Browser, assert_page_headers, code_flow, ctl_json, exchange, make_client, make_user, token_request,
                  unique, wait_for)


@pytest.fixture(scope="module")
def console_client(stack):
    register_console(stack)
    return ADMIN_CLIENT_ID


@pytest.fixture
def admin(stack, console_client):
    username, _ = make_admin(stack)
    c = Console(stack)
    page = c.sign_in(username)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    assert page.url.endswith("/admin/clients"), page.url
    c.username = username
    yield c
    c.close()


def client_get(stack, client_id):
    return ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]


def new_client(admin, **values):
    page = admin.get("/admin/clients/new")
    assert page.status_code == 200
    client_id = unique("console")
    data = {"client_id": client_id, "name": "Console " + client_id, "type": "confidential",
            "redirect_uris": "https://rp.example/cb", "scopes": "openid profile",
            "grant_types": "authorization_code", "require_pkce": "default"}
    data.update(values)
    r = admin.submit(page, data, action="/admin/clients/new")
    return client_id, r


def test_console_address_sends_to_sign_in_and_pages_need_a_session(stack, console_client):
    c = Console(stack)
    try:
        r = c.get("/admin")
        assert r.status_code == 302 and r.headers["Location"] == stack.base_url + "/admin/login"
        r = c.get("/admin/login")
        assert r.status_code == 302 and r.headers["Location"].startswith(stack.base_url + "/authorize?")
        assert "code_challenge_method=S256" in r.headers["Location"]
        assert "prompt=login" in r.headers["Location"]
        r = c.get("/admin/clients")
        assert r.status_code == 401 and 'id="sign-in"' in r.text
        assert_page_headers(r)
    finally:
        c.close()


def test_session_cookie_is_sealed_httponly_strict_and_on_admin_only(stack, console_client):
    username, _ = make_admin(stack)
    c = Console(stack)
    try:
        r = c.follow(c.get("/admin/login"))
        target, data = c.form(r)
        data.update({"username": username, "password": "correct horse battery staple"})
        r = c.post(target, data)
        while "/admin/callback" not in r.headers.get("Location", ""):
            r = c.get(r.headers["Location"])
        r = c.get(r.headers["Location"])
        assert r.status_code == 302 and r.headers["Location"] == stack.base_url + "/admin/clients"
        cookie = next(v for v in r.raw.headers.getlist("Set-Cookie")
                      if v.startswith("ostiary_console=") and "Max-Age=0" not in v)
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie, cookie
        # Sealed: no token in it. A token (or any text) in the clear would
        # show as a long run of base64url characters in the decoded bytes;
        # 20 in a row from a cipher's output is a chance of about 4^-20.
        value = cookie.split("=", 1)[1].split(";", 1)[0]
        assert len(value) > 100
        raw = b"".join(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
                       for part in re.split(r"[.~]", value) if part)
        assert not re.search(rb"[A-Za-z0-9_-]{20}", raw), raw[:80]
        page = c.follow(r)
        assert page.status_code == 200 and username in page.text
        assert_page_headers(page)
        csp = page.headers["Content-Security-Policy"]
        assert "script-src" not in csp and "unsafe-inline" not in csp
        assert "<script" not in page.text and "style=" not in page.text
        # Nothing of the session in the gateway's log.
        assert value[:40] not in stack.log_text("gateway")
    finally:
        c.close()


def test_a_non_admin_is_refused_and_gets_no_session(stack, console_client):
    username, _ = make_admin(stack, admin=False)
    c = Console(stack)
    try:
        page = c.sign_in(username)
        assert page.status_code == 403, (page.status_code, page.text[:300])
        assert "ostiary_console" not in c.http.cookies.get_dict()
        r = c.get("/admin/clients")
        assert r.status_code == 401
    finally:
        c.close()


def test_create_edit_rotate_and_delete_a_client(stack, admin):
    client_id, r = new_client(admin)
    assert r.status_code == 201, r.text[:500]
    secret = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    assert len(secret) >= 32
    stored = client_get(stack, client_id)
    assert stored["redirect_uris"] == ["https://rp.example/cb"]
    # The list and its search find it.
    page = admin.get("/admin/clients", params={"q": client_id})
    assert client_id in page.text and page.text.count("<tr>") == 2
    # Edit the redirect URI, PKCE off then on.
    page = admin.get(f"/admin/clients/{client_id}")
    r = admin.submit(page, {"redirect_uris": "https://rp.example/cb2\nhttps://rp.example/cb3",
                            "require_pkce": "off"}, action=f"/admin/clients/{client_id}")
    assert r.status_code == 200 and 'id="console-notice"' in r.text, r.text[:500]
    stored = client_get(stack, client_id)
    assert stored["redirect_uris"] == ["https://rp.example/cb2", "https://rp.example/cb3"]
    assert stored["require_pkce"] is False and stored["version"] == 2
    r = admin.submit(r, {"require_pkce": "on"}, action=f"/admin/clients/{client_id}")
    assert client_get(stack, client_id)["require_pkce"] is True
    # A bad redirect URI is refused with the service's reason, nothing saved.
    r = admin.submit(r, {"redirect_uris": "https://rp.example/cb#fragment"}, action=f"/admin/clients/{client_id}")
    assert r.status_code == 400 and 'id="console-error"' in r.text
    assert client_get(stack, client_id)["version"] == 3
    # Rotate the secret: shown once.
    page = admin.get(f"/admin/clients/{client_id}")
    r = admin.submit(page, {}, action=f"/admin/clients/{client_id}/secret")
    new_secret = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    assert new_secret != secret
    # Delete: the confirmation says what is lost.
    confirm = admin.get(f"/admin/clients/{client_id}/delete")
    assert "refresh tokens" in confirm.text and "cannot be undone" in confirm.text
    assert admin.stack.ctl("clients", "show", client_id).returncode == 0
    r = admin.submit(confirm, {}, action=f"/admin/clients/{client_id}/delete")
    assert r.status_code == 200 and r.url.endswith("/admin/clients?done=deleted")
    assert admin.stack.ctl("clients", "show", client_id).returncode != 0


def test_a_stale_client_form_is_refused_and_nothing_overwritten(stack, admin):
    client_id, r = new_client(admin)
    page = admin.get(f"/admin/clients/{client_id}")
    # Meanwhile, another admin renames it.
    ctl_json(stack, "token.client_update", {"client_id": client_id, "version": 1, "name": "Renamed elsewhere"})
    r = admin.submit(page, {"name": "Mine", "redirect_uris": "https://rp.example/mine"},
                     action=f"/admin/clients/{client_id}")
    assert r.status_code == 409 and 'id="console-error"' in r.text, r.text[:500]
    assert "changed elsewhere" in r.text
    stored = client_get(stack, client_id)
    assert stored["name"] == "Renamed elsewhere" and stored["redirect_uris"] == ["https://rp.example/cb"]
    assert stored["version"] == 2
    # The page now carries the current version: the change goes through.
    r = admin.submit(r, {"name": "Mine"}, action=f"/admin/clients/{client_id}")
    assert r.status_code == 200 and client_get(stack, client_id)["name"] == "Mine"


def test_a_form_without_the_csrf_token_changes_nothing(stack, admin):
    client_id, _ = new_client(admin)
    page = admin.get(f"/admin/clients/{client_id}")
    target, data = admin.form(page, action=f"/admin/clients/{client_id}")
    data["name"] = "Forged"
    for forged in ({k: v for k, v in data.items() if k != "csrf"}, dict(data, csrf="A" * 43)):
        r = admin.post(target, forged)
        assert r.status_code == 403, r.status_code
    r = admin.post(f"/admin/clients/{client_id}/delete", {"csrf": "x"})
    assert r.status_code == 403
    stored = client_get(stack, client_id)
    assert stored["name"] != "Forged" and stored["version"] == 1
    # The token of another session does not do either.
    assert csrf_of(page) != "A" * 43


def test_settings_change_and_stale_setting_refused(stack, admin, settings):  # noqa: F811
    settings.set("lockout_threshold", 5)
    page = admin.get("/admin/settings")
    assert page.status_code == 200 and 'id="setting-lockout_threshold"' in page.text
    assert 'min="1" max="1000"' in page.text
    r = admin.submit(page, {"value": "3"}, action="/admin/settings/lockout_threshold")
    assert r.status_code == 200 and 'id="console-notice"' in r.text
    assert settings.get("lockout_threshold") == 3
    # Changed elsewhere meanwhile: the form of value 3 is refused.
    stale = r
    settings.set("lockout_threshold", 4)
    r = admin.submit(stale, {"value": "7"}, action="/admin/settings/lockout_threshold")
    assert r.status_code == 409 and "changed elsewhere" in r.text
    assert settings.get("lockout_threshold") == 4
    # Out of bounds: refused by the service.
    r = admin.submit(r, {"value": "100000"}, action="/admin/settings/lockout_threshold")
    assert r.status_code == 400 and settings.get("lockout_threshold") == 4


def test_users_create_disable_enable_unlock_and_password(stack, admin):
    page = admin.get("/admin/users/new")
    username = unique("cuser")
    r = admin.submit(page, {"username": username, "email": f"{username}@example.org", "name": "Console User",
                            "password": "a long enough password 1"}, action="/admin/users/new")
    assert r.status_code == 200 and r.url.endswith(f"/admin/users/{username}?done=created"), r.url
    listing = admin.get("/admin/users", params={"q": username})
    assert username in listing.text
    for action, status in (("disable", "Disabled"), ("enable", "Active"), ("unlock", "Active")):
        if action == "disable":
            r = admin.get(f"/admin/users/{username}/disable")
        r = admin.submit(r, {}, action=f"/admin/users/{username}/{action}")
        assert r.status_code == 200 and 'id="console-notice"' in r.text, (action, r.text[:300])
        assert re.search(r'id="user-status">' + status, r.text), action
    r = admin.submit(r, {"password": "short"}, action=f"/admin/users/{username}/password")
    assert r.status_code == 400 and 'id="console-error"' in r.text
    r = admin.submit(r, {"password": "another long password 2"}, action=f"/admin/users/{username}/password")
    assert r.status_code == 200 and 'id="console-notice"' in r.text


def test_audit_page_filters_and_pages(stack, admin):
    client_id, _ = new_client(admin)
    page = admin.get("/admin/audit", params={"event": "client_add", "subject": client_id})
    assert page.status_code == 200 and client_id in page.text
    assert page.text.count('class="event"') == 1
    page = admin.get("/admin/audit", params={"client": client_id})
    assert client_id in page.text
    page = admin.get("/admin/audit", params={"since": "not a time"})
    assert page.status_code == 400
    page = admin.get("/admin/audit", params={"service": "flow", "event": "login_failure"})
    assert page.status_code == 200


def test_sign_out_revokes_and_drops_the_session(stack, admin):
    page = admin.get("/admin/clients")
    r = admin.submit(page, {}, action="/admin/logout")
    assert r.status_code == 200 and 'id="sign-in"' in r.text
    assert admin.get("/admin/clients").status_code == 401


def test_a_users_sessions_and_grants_with_revoke_and_totp_reset(stack, admin):
    username, sub = make_user(stack)
    client_id, secret, redirect = make_client(stack, first_party=False, scopes=["openid", "profile"],
                                              grant_types=["authorization_code", "refresh_token"],
                                              always_refresh=True)
    b = Browser(stack)
    try:
        params, _, resp = code_flow(stack, b, client_id, redirect, username, scope="openid profile")
    finally:
        b.close()
    tokens = exchange(stack, resp["code"], params, client_id, secret)
    assert tokens.status_code == 200 and "refresh_token" in tokens.json()
    page = admin.get(f"/admin/users/{username}")
    assert page.status_code == 200
    assert page.text.count('class="session"') == 1 and page.text.count('class="grant"') == 1
    assert client_id in page.text
    r = admin.submit(page, {}, action=f"/admin/users/{username}/grant")
    assert r.status_code == 200 and 'id="console-notice"' in r.text and 'class="grant"' not in r.text
    assert ctl_json(stack, "token.grant_list", {"sub": sub})["grants"] == []
    refreshed = token_request(stack, {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
                              basic=(client_id, secret))
    assert refreshed.status_code == 400
    r = admin.submit(r, {}, action=f"/admin/users/{username}/session")
    assert r.status_code == 200 and 'class="session"' not in r.text
    assert ctl_json(stack, "flow.user_sessions", {"username": username})["sessions"] == []
    r = admin.get(f"/admin/users/{username}/totp-reset")
    r = admin.submit(r, {}, action=f"/admin/users/{username}/totp-reset")
    assert r.status_code == 200 and 'id="console-notice"' in r.text


def test_the_access_token_is_refreshed_as_needed(stack, console_client):
    """An admin client whose access tokens live 5 s: every page refreshes
    the session's token (less than 30 s left) and sets the new cookie."""
    stored = client_get(stack, ADMIN_CLIENT_ID)
    ctl_json(stack, "token.client_update", {"client_id": ADMIN_CLIENT_ID, "version": stored["version"],
                                            "access_token_lifetime": 5})
    username, _ = make_admin(stack)
    c = Console(stack)
    try:
        assert c.sign_in(username).status_code == 200
        seen = {c.http.cookies.get("ostiary_console", path="/admin")}
        for _ in range(3):
            r = c.get("/admin/clients")
            assert r.status_code == 200 and 'id="new-client"' in r.text
            assert any(v.startswith("ostiary_console=") for v in r.raw.headers.getlist("Set-Cookie"))
            seen.add(c.http.cookies.get("ostiary_console", path="/admin"))
        assert len(seen) == 4
    finally:
        c.close()
        stored = client_get(stack, ADMIN_CLIENT_ID)
        ctl_json(stack, "token.client_update", {"client_id": ADMIN_CLIENT_ID, "version": stored["version"],
                                                "unset": ["access_token_lifetime"]})


def test_revoking_the_admin_role_ends_the_console_at_the_next_page(stack, admin):
    assert admin.get("/admin/clients").status_code == 200
    assert stack.ctl("users", "revoke-admin", admin.username).returncode == 0
    r = admin.get("/admin/clients")
    assert r.status_code == 403 and 'id="new-client"' not in r.text
    assert admin.get("/admin/clients").status_code == 401


def test_another_gateway_with_the_same_key_serves_the_session(stack, admin, second):  # noqa: F811
    gateway, _ = second
    r = admin.get(gateway.base_url + "/admin/clients")
    assert r.status_code == 200 and 'id="new-client"' in r.text, r.text[:300]


def test_keys_status_list_planned_rotation_and_retire(stack, admin):
    page = admin.get("/admin/keys")
    assert page.status_code == 200
    if 'id="key-status"' not in page.text:
        pytest.skip("keys-svc does not take the admin envelope (keys.admin_call) yet")
    assert 'id="keys"' in page.text and "RS256" in page.text
    r = admin.submit(page, {"alg": "EdDSA"}, action="/admin/keys/rotate")
    assert r.status_code == 200 and 'class="rotated"' in r.text, r.text[:500]
    kid = re.search(r'<tr class="rotated"><td>EdDSA</td><td>([^<]+)</td><td>next</td>', r.text).group(1)
    page = admin.get("/admin/keys")
    assert kid in page.text and f'id="retire-{kid}"' in page.text
    # Retiring the pending key: a confirmation first, then it is gone.
    confirm = admin.get("/admin/keys/retire", params={"kid": kid})
    assert confirm.status_code == 200 and 'id="retire-warning"' in confirm.text
    r = admin.submit(confirm, {}, action="/admin/keys/retire")
    assert r.status_code == 200 and 'id="retired-kid"' in r.text and "retired" in r.text
    page = admin.get("/admin/keys")
    assert f'id="retire-{kid}"' not in page.text
    events = admin.get("/admin/audit", params={"service": "keys", "event": "key_retire", "subject": kid})
    assert events.text.count('class="event"') == 1


def test_the_client_form_edits_every_member_with_field_errors(stack, admin):
    """Token algorithms, lifetimes, refresh grace, the token endpoint's
    authentication and logout, as token.client_update takes them; a refused
    value is said next to its field and nothing is saved."""
    client_id, _ = new_client(admin)
    page = admin.get(f"/admin/clients/{client_id}")
    path = f"/admin/clients/{client_id}"
    r = admin.submit(page, {"token_endpoint_auth_method": "client_secret_post",
                            "id_token_signed_response_alg": "ES256", "access_token_alg": "EdDSA",
                            "access_token_lifetime": "120", "id_token_lifetime": "240",
                            "refresh_grace": "30", "refresh_grace_uses": "2", "always_refresh": "1",
                            "refresh_bound_to_session": "1", "resource_server": "1",
                            "backchannel_logout_uri": "https://rp.example/bc",
                            "backchannel_logout_session_required": "1",
                            "frontchannel_logout_uri": "https://rp.example/fc",
                            "frontchannel_logout_session_required": "1"}, action=path)
    assert r.status_code == 200 and 'id="console-notice"' in r.text, r.text[:500]
    stored = client_get(stack, client_id)
    expected = {"token_endpoint_auth_method": "client_secret_post", "id_token_signed_response_alg": "ES256",
                "access_token_alg": "EdDSA", "access_token_lifetime": 120, "id_token_lifetime": 240,
                "refresh_grace": 30, "refresh_grace_uses": 2, "always_refresh": True,
                "refresh_bound_to_session": True, "resource_server": True,
                "backchannel_logout_uri": "https://rp.example/bc", "backchannel_logout_session_required": True,
                "frontchannel_logout_uri": "https://rp.example/fc", "frontchannel_logout_session_required": True}
    assert {k: stored.get(k) for k in expected} == expected
    assert stored["version"] == 2
    # The page shows what is stored; saved as it is, nothing changes.
    r = admin.submit(r, {}, action=path)
    again = client_get(stack, client_id)
    assert {k: again.get(k) for k in expected} == expected and again["version"] == 3
    # Emptied: back to the defaults.
    r = admin.submit(r, {"access_token_alg": "", "access_token_lifetime": "", "id_token_lifetime": "",
                         "backchannel_logout_uri": "", "backchannel_logout_session_required": None,
                         "frontchannel_logout_uri": "", "frontchannel_logout_session_required": None},
                     action=path)
    assert r.status_code == 200, r.text[:500]
    stored = client_get(stack, client_id)
    for member in ("access_token_alg", "access_token_lifetime", "id_token_lifetime", "backchannel_logout_uri",
                   "frontchannel_logout_uri"):
        assert member not in stored, member
    assert stored["version"] == 4
    # Refused values: the reason next to the field, nothing saved.
    for field, value in (("access_token_lifetime", "90000"), ("id_token_lifetime", "90000"),
                         ("redirect_uris", "https://rp.example/cb#fragment"),
                         ("backchannel_logout_uri", "https://rp.example/bc#x"),
                         ("frontchannel_logout_session_required", "1")):
        r = admin.submit(admin.get(path), {field: value}, action=path)
        assert r.status_code == 400, (field, r.status_code)
        assert f'id="{field}-error"' in r.text, (field, re.search(r'id="console-error">.*', r.text).group(0))
        assert r.text.count('class="error field-error"') == 1, field
        assert client_get(stack, client_id)["version"] == 4, field
    # A stale form is refused and overwrites nothing.
    page = admin.get(path)
    ctl_json(stack, "token.client_update", {"client_id": client_id, "version": 4, "refresh_grace": 5})
    r = admin.submit(page, {"refresh_grace": "60", "id_token_signed_response_alg": "RS256"}, action=path)
    assert r.status_code == 409 and "changed elsewhere" in r.text
    stored = client_get(stack, client_id)
    assert stored["refresh_grace"] == 5 and stored["id_token_signed_response_alg"] == "ES256"
    assert stored["version"] == 5


def test_disabling_and_a_second_factor_reset_are_confirmed_first(stack, admin):
    """Disabling a client or a user and resetting a user's two-step
    verification act at once: the console says what happens and asks first."""
    username, _ = make_user(stack)
    page = admin.get(f"/admin/users/{username}")
    for action in ("disable", "totp-reset"):
        assert not [f for f in forms(page.text) if f["action"].endswith(f"/{action}")], action
        assert f'href="{stack.base_url}/admin/users/{username}/{action}"' in page.text, action
    confirm = admin.get(f"/admin/users/{username}/disable")
    assert confirm.status_code == 200 and "ends their sessions" in confirm.text
    assert ctl_json(stack, "flow.user_get", {"username": username})["user"]["disabled"] is False
    r = admin.submit(confirm, {}, action=f"/admin/users/{username}/disable")
    assert r.status_code == 200 and re.search(r'id="user-status">Disabled', r.text)
    confirm = admin.get(f"/admin/users/{username}/totp-reset")
    assert confirm.status_code == 200 and "recovery codes" in confirm.text
    r = admin.submit(confirm, {}, action=f"/admin/users/{username}/totp-reset")
    assert r.status_code == 200 and 'id="console-notice"' in r.text
    # A client: the disabled box asks first, with the form's other changes kept.
    client_id, _ = new_client(admin)
    path = f"/admin/clients/{client_id}"
    r = admin.submit(admin.get(path), {"disabled": "1", "name": "Disabled one"}, action=path)
    assert r.status_code == 200 and "revokes every token it was issued, for good" in r.text, r.text[:500]
    stored = client_get(stack, client_id)
    assert stored["disabled"] is False and stored["version"] == 1
    r = admin.submit(r, {}, action=path)
    assert r.status_code == 200 and 'id="console-notice"' in r.text, r.text[:500]
    stored = client_get(stack, client_id)
    assert stored["disabled"] is True and stored["name"] == "Disabled one" and stored["version"] == 2
    # Saved again while disabled: no question.
    r = admin.submit(r, {"name": "Still disabled"}, action=path)
    assert r.status_code == 200 and client_get(stack, client_id)["name"] == "Still disabled"


def _page_ids(page, prefix):
    return re.findall(r'<tr><td><a href="[^"]+">(' + re.escape(prefix) + r'[^<]*)</a>', page.text)


def _link(page, id_):
    m = re.search(r'id="' + id_ + r'" href="([^"]+)"', page.text)
    return html.unescape(m.group(1)) if m else None


def test_a_list_longer_than_a_page_pages_forward_and_back(stack, admin):
    """The console's pages hold 50 (PAGE_LIMIT of gateway/console.c): 55
    clients of one prefix span two pages, Next page and Previous page walk
    them, and the way back shows the first page again."""
    prefix = unique("paged") + "-"
    made = sorted(f"{prefix}{i:02d}" for i in range(55))
    for client_id in made:
        ctl_json(stack, "token.client_add", {
            "client_id": client_id, "name": "Paged " + client_id, "type": "public",
            "token_endpoint_auth_method": "none", "redirect_uris": ["https://rp.example/cb"],
            "grant_types": ["authorization_code"], "response_types": ["code"], "scopes": ["openid"]})
    first = admin.get("/admin/clients", params={"q": prefix})
    assert first.status_code == 200
    assert _page_ids(first, prefix) == made[:50]
    assert _link(first, "previous-page") is None
    second = admin.get(_link(first, "next-page"))
    assert second.status_code == 200 and _page_ids(second, prefix) == made[50:]
    assert _link(second, "next-page") is None
    back = admin.get(_link(second, "previous-page"))
    assert back.status_code == 200 and _page_ids(back, prefix) == made[:50]
    assert _link(back, "previous-page") is None
    assert _link(back, "next-page") == _link(first, "next-page")


def test_a_lifetime_beyond_what_keys_svc_signs_is_said_next_to_its_field(stack, admin):
    """With OSTIARY_KEYS_TOKEN_LIFETIME_MAX 600, token-svc refuses a lifetime
    of 601 (its own rule, within the schema's bounds): the reason is shown
    next to the field and nothing is saved."""
    client_id, _ = new_client(admin)
    path = f"/admin/clients/{client_id}"
    stack.stop_all("token")
    inst = stack.start("token", {"OSTIARY_KEYS_TOKEN_LIFETIME_MAX": "600"})
    try:
        wait_for("token-svc", lambda: inst.alive() and stack.ctl("call", "token.health").returncode == 0,
                 timeout=20)
        for field in ("access_token_lifetime", "id_token_lifetime"):
            r = admin.submit(admin.get(path), {field: "601"}, action=path)
            assert r.status_code == 400, (field, r.status_code, r.text[:300])
            error = re.search(r'id="' + field + r'-error"><code>([^<]*)<', r.text)
            assert error and "OSTIARY_KEYS_TOKEN_LIFETIME_MAX" in error.group(1), (field, r.text[:2000])
            assert client_get(stack, client_id)["version"] == 1
        r = admin.submit(admin.get(path), {"access_token_lifetime": "600"}, action=path)
        assert r.status_code == 200 and client_get(stack, client_id)["access_token_lifetime"] == 600
    finally:
        stack.stop_all("token")
        stack.ensure("token")
        stack.wait_ready()


def test_an_admin_with_a_second_factor_gives_it_to_sign_in(stack, console_client, browser, client):
    """The console's sign-in is the login flow with prompt=login: an admin
    who enrolled an authenticator app is asked for its code after the
    password, and only then reaches the console."""
    import time
    from flowweb import h1, totp
    from test_totp_login import code_field, enroll
    username, _ = make_admin(stack)
    secret, _ = enroll(stack, browser, client, username)
    c = Console(stack)
    try:
        page = c.sign_in(username)
        assert page.status_code == 200 and h1(page) == "Two-step verification", (page.status_code, page.text[:400])
        assert "ostiary_console" not in str(page.headers.get("Set-Cookie", ""))
        assert c.get("/admin/clients").status_code in (302, 401)  # no console session yet
        target, data = c.form(page)
        data[code_field(page)] = totp(secret, at=time.time() + 30)
        r = c.follow(c.post(target, data))
        assert r.status_code == 200 and r.url.endswith("/admin/clients"), (r.status_code, r.url, r.text[:400])
    finally:
        c.close()
