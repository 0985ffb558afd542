"""The gateway's pages of the flow engine: every step is a form
with csrf and node, inputs with the right autocomplete tokens, the security
headers of every page; stale pages, missing cookies and bad action tokens
get clear error pages (never redirects); the webhook callback endpoint
speaks OAuth JSON and wants a Bearer action token; tokens never reach the
gateway's log."""

import json
import secrets
import sys
from pathlib import Path

import pytest

from flowweb import CustomLoginFlow, alert, h1, inputs, text_of
from oidc import assert_page_headers, auth_params, ctl_json, make_user, pkce

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from webhook_receiver import Receiver  # noqa: E402


def test_login_page_carries_csrf_node_and_autocomplete(stack, browser, client):
    client_id, _, redirect_uri = client
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge))
    page = browser.login_page(r)
    assert_page_headers(page)
    fields = inputs(page)
    assert fields["csrf"]["type"] == "hidden" and len(fields["csrf"]["value"]) >= 16
    assert fields["node"]["type"] == "hidden" and fields["node"]["value"]
    assert fields["username"]["autocomplete"] == "username"
    assert fields["password"]["autocomplete"] == "current-password"


def test_registration_page_asks_for_username_email_and_new_password(stack, browser):
    page = browser.start("/register")
    assert_page_headers(page)
    fields = inputs(page)
    assert {"csrf", "node"} <= set(fields)
    assert fields["username"]["autocomplete"] == "username"
    assert fields["email"]["autocomplete"] == "email" and fields["email"]["type"] == "email"
    passwords = [a for a in fields.values() if a.get("type") == "password"]
    assert passwords and all(a["autocomplete"] == "new-password" for a in passwords)
    flow_cookie = browser.http.cookies.get("ostiary_flow")
    assert flow_cookie


def test_flow_page_without_flow_cookie_is_an_error_page(stack, browser):
    for method in ("GET", "POST"):
        r = browser.http.request(method, stack.base_url + "/flow", data={"csrf": "x", "node": "y"},
                                 allow_redirects=False, timeout=10)
        assert r.status_code == 400 and "Location" not in r.headers, (method, r.status_code)
        assert_page_headers(r)


def test_post_of_a_stale_node_is_refused(stack, browser):
    page = browser.start("/register")
    user = "stale-" + secrets.token_hex(4)
    data = {k: v.get("value", "") for k, v in inputs(page).items()}
    data.update(node="not-the-current-node", username=user, email=f"{user}@example.org")
    for name, attrs in inputs(page).items():
        if attrs.get("type") == "password":
            data[name] = "a good long password 1"
    r = browser.http.post(stack.base_url + "/flow", data=data, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "Location" not in r.headers
    assert_page_headers(r)
    r = browser.get(stack.base_url + "/flow")
    assert r.status_code == 400  # the flow cookie was dropped with the error


def test_post_with_a_wrong_csrf_token_is_refused(stack, browser):
    page = browser.start("/recover")
    data = {k: v.get("value", "") for k, v in inputs(page).items()}
    data["csrf"] = "forged"
    r = browser.http.post(stack.base_url + "/flow", data=data, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "Location" not in r.headers


def test_account_pages_without_a_session_ask_to_sign_in(stack, browser):
    for path in ("/account/totp", "/account/verify-email"):
        r = browser.get(stack.base_url + path)
        assert r.status_code == 400 and "Location" not in r.headers, (path, r.status_code)
        assert_page_headers(r)
        assert h1(r) == "Sign in first"
        assert 'href="' in r.text  # the way to sign in (demo relying party in development mode)
        assert "ostiary_flow" not in browser.http.cookies


def test_account_pages_with_a_dead_session_cookie_ask_to_sign_in(stack, browser):
    browser.http.cookies.set("ostiary_session", secrets.token_urlsafe(32))
    r = browser.get(stack.base_url + "/account/totp")
    assert r.status_code == 400 and h1(r) == "Sign in first"


def test_action_get_without_or_with_unknown_token_is_a_clear_400_page(stack, browser):
    for url in ("/action", "/action?token=", "/action?token=" + secrets.token_urlsafe(32)):
        r = browser.get(stack.base_url + url)
        assert r.status_code == 400 and "Location" not in r.headers, (url, r.status_code)
        assert_page_headers(r)
        assert h1(r) == "This link is no longer valid"
    r = browser.http.post(stack.base_url + "/action", data={"token": secrets.token_urlsafe(32)},
                          allow_redirects=False, timeout=10)
    assert r.status_code == 400 and h1(r) == "This link is no longer valid"


def test_callback_without_bearer_is_401_with_a_challenge(stack, http):
    r = http.post(stack.base_url + "/flows/callback", json={"outcome": "success"}, timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert r.json()["error"] == "invalid_request"
    r = http.post(stack.base_url + "/flows/callback", json={"outcome": "success"},
                  headers={"Authorization": "Basic YTpi"}, timeout=10)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_callback_with_an_unknown_or_malformed_bearer_is_invalid_action(stack, http):
    for token in (secrets.token_urlsafe(32), "not a token!"):
        r = http.post(stack.base_url + "/flows/callback", json={"outcome": "success", "data": {}},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] == "invalid_action" and body["error_description"]
        assert "no-store" in r.headers["Cache-Control"]


def test_callback_refuses_bad_bodies(stack, http):
    auth = {"Authorization": "Bearer " + secrets.token_urlsafe(32)}
    cases = [
        ({"Content-Type": "text/plain"}, "outcome=success", 400),
        ({"Content-Type": "application/json"}, "{not json", 400),
        ({"Content-Type": "application/json"}, json.dumps({"outcome": "maybe"}), 400),
        ({"Content-Type": "application/json"}, json.dumps({"outcome": "success", "data": [1]}), 400),
        ({"Content-Type": "application/json"},
         json.dumps({"outcome": "success", "data": {"x": "y" * 9000}}), 413),
    ]
    for headers, body, status in cases:
        r = http.post(stack.base_url + "/flows/callback", data=body, headers={**auth, **headers}, timeout=10)
        assert r.status_code == status, (body[:40], r.status_code, r.text[:200])
        if status == 400:
            assert r.json()["error"] == "invalid_request"


def test_action_tokens_never_reach_the_gateway_log(stack, browser, http):
    token = secrets.token_urlsafe(32)
    browser.get(stack.base_url + "/action?token=" + token)
    browser.http.post(stack.base_url + "/action", data={"token": token}, allow_redirects=False, timeout=10)
    http.post(stack.base_url + "/flows/callback", json={"outcome": "success"},
              headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert token not in stack.log_text("gateway")
    assert token not in stack.log_text("flow-svc")


def test_waiting_and_step_pages_escape_what_they_echo(stack, browser):
    page = browser.start("/register")
    evil = '<script>x</script>"'
    r = browser.fill(page, username=evil, email="not-an-address", password="short")
    assert r.status_code == 200, r.text[:300]
    assert "<script>x</script>" not in r.text
    assert alert(r) or 'class="error field-error"' in r.text
    assert_page_headers(r)


HOOK_SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def async_login(stack, tmp_path):
    """/authorize runs webhook-async (password, then an outside system
    approves through /flows/callback); yields the webhook receiver."""
    receiver = Receiver(HOOK_SECRET).start()
    hooks = {"async_approve": {"url": receiver.url("/async"), "secret": HOOK_SECRET, "mode": "async",
                               "timeout_ms": 2000, "retries": 2}}
    flow = CustomLoginFlow(stack, tmp_path, "webhook-async", hooks)
    yield receiver
    flow.close()
    receiver.stop()


def test_webhook_callback_resumes_a_waiting_login_once(stack, browser, client, async_login, http):
    receiver = async_login
    username, sub = make_user(stack)
    _, challenge = pkce()
    r = browser.authorize(auth_params(client[0], client[2], code_challenge=challenge))
    r = browser.login(r, username)
    assert r.status_code == 200 and h1(r) == "Waiting for approval", r.text[:500]
    assert '<meta http-equiv="refresh" content="3">' in r.text
    hits = receiver.wait_for("/async", 1)
    assert hits and hits[-1]["signature_ok"], hits
    token = hits[-1]["json"]["callback"]["token"]

    url = stack.base_url + "/flows/callback"
    auth = {"Authorization": f"Bearer {token}"}
    r = http.post(url, json={"outcome": "success", "data": {"approved_by": "test"}}, headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "succeeded"}
    assert "no-store" in r.headers["Cache-Control"]
    # The token is single-use.
    r = http.post(url, json={"outcome": "success"}, headers=auth, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_action"

    page = browser.get(stack.base_url + "/login")
    assert page.status_code == 200 and text_of(page, "done") == "You are signed in."
    r = browser.fill(page)
    assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
    assert ctl_json(stack, "flow.session_get", {"session": browser.session_cookie()})["session"]["sub"] == sub
    assert token not in stack.log_text("gateway")
