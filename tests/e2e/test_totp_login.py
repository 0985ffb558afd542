"""TOTP through the pages: enrollment at /account/totp after a
password login shows the otpauth URI as a QR code and as text with the
base32 secret, checks a first code and shows recovery codes once; then a new
/authorize asks for a code after the password and ends in a code whose ID
token says both factors were used (RFC 8176 amr). Codes are computed here
with RFC 6238, independently of our C code."""

import base64
import re
import time
from urllib.parse import parse_qs, urlsplit

from flowweb import alert, h1, inputs, text_of, totp
from oidc import (assert_page_headers, auth_params, exchange, make_user, pkce, response_params,
                  verify_jwt)


def test_totp_generator_matches_rfc_6238_vectors():
    # RFC 6238 Appendix B, SHA-1 key "12345678901234567890", 8 digits.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, at=59, digits=8) == "94287082"
    assert totp(secret, at=1111111109, digits=8) == "07081804"
    assert totp(secret, at=2000000000, digits=8) == "69279037"


def authorize(browser, client, **extra):
    client_id, _, redirect_uri = client
    verifier, challenge = pkce()
    params = auth_params(client_id, redirect_uri, code_challenge=challenge, code_challenge_method="S256",
                         **extra)
    params["code_verifier"] = verifier
    return params, browser.authorize({k: v for k, v in params.items() if k != "code_verifier"})


def code_field(page):
    names = [n for n, a in inputs(page).items() if a.get("type") != "hidden"]
    assert names, page.text[:800]
    return names[0]


def enroll(stack, browser, client, username):
    """Password login, then /account/totp to the end; returns (secret, recovery codes)."""
    _, r = authorize(browser, client)
    r = browser.login(r, username)
    assert r.status_code == 303 and browser.session_cookie(), r.text[:500]

    page = browser.start("/account/totp")
    assert_page_headers(page)
    assert h1(page) == "Set up two-step verification"
    secret = text_of(page, "totp-secret")
    uri = text_of(page, "otpauth-uri")
    assert secret and re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    assert uri.startswith("otpauth://totp/"), uri
    assert parse_qs(urlsplit(uri).query)["secret"] == [secret]
    assert re.search(r'<svg class="qr"[^>]*viewBox="0 0 \d+ \d+"', page.text)
    assert inputs(page)[code_field(page)]["autocomplete"] == "one-time-code"

    # A wrong first code keeps the step, with the fixed message.
    wrong = f"{(int(totp(secret)) + 1) % 1000000:06d}"
    r = browser.fill(page, **{code_field(page): wrong})
    assert r.status_code == 200 and h1(r) == "Set up two-step verification"
    assert alert(r) == "That code is not correct. Check it and try again."

    r = browser.fill(r, **{code_field(r): totp(secret)})
    assert r.status_code == 200, r.text[:500]
    assert h1(r) == "Save your recovery codes"
    codes = re.findall(r"<li><code>([^<]+)</code></li>", r.text)
    assert len(codes) >= 5 and len(set(codes)) == len(codes), codes
    r = browser.fill(r)
    assert r.status_code == 200 and text_of(r, "done").startswith("Two-step verification is on"), r.text[:500]
    return secret, codes


def test_login_with_totp_through_authorize(stack, browser, client):
    username, sub = make_user(stack)
    secret, _ = enroll(stack, browser, client, username)

    # A new authorization with prompt=login: password, then the code.
    params, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    assert r.status_code == 200, (r.status_code, r.headers.get("Location"))
    assert h1(r) == "Two-step verification"
    assert_page_headers(r)
    assert "ostiary_session" not in str(r.headers.get("Set-Cookie", ""))

    # The enrollment used the current time step: the next one is within the
    # verifier's window and was never used (RFC 6238 §5.2).
    r = browser.fill(r, **{code_field(r): totp(secret, at=time.time() + 30)})
    assert r.status_code == 303, (r.status_code, r.text[:800])
    client_id, client_secret, redirect_uri = client
    assert r.headers["Location"].startswith(redirect_uri)
    got = response_params(r.headers["Location"])
    assert got["state"] == params["state"]
    t = exchange(stack, got["code"], params, client_id, client_secret)
    assert t.status_code == 200, t.text
    _, claims = verify_jwt(stack, t.json()["id_token"])
    assert claims["sub"] == sub
    # RFC 8176 §2: pwd and otp were both used.
    assert {"pwd", "otp"} <= set(claims.get("amr", [])), claims


def code_page(stack, browser, client):
    """A new user who enrolled TOTP, then a new authorization with
    prompt=login past the password: (secret, recovery codes, the code page)."""
    username, _ = make_user(stack)
    secret, codes = enroll(stack, browser, client, username)
    _, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    assert h1(r) == "Two-step verification"
    return secret, codes, r


def test_wrong_totp_code_is_refused_with_one_message(stack, browser, client):
    secret, _, r = code_page(stack, browser, client)
    wrong = f"{(int(totp(secret, at=time.time() + 30)) + 7) % 1000000:06d}"
    r = browser.fill(r, **{code_field(r): wrong})
    assert r.status_code == 200 and h1(r) == "Two-step verification"
    assert alert(r) == "That code is not correct. Check it and try again."
    assert "Location" not in r.headers


def test_recovery_code_signs_in_instead_of_a_totp_code(stack, browser, client):
    _, codes, r = code_page(stack, browser, client)
    fields = [n for n, a in inputs(r).items() if a.get("type") != "hidden"]
    name = "recovery_code" if "recovery_code" in fields else fields[0]
    r = browser.fill(r, **{name: codes[0]})
    assert r.status_code == 303, (r.status_code, r.text[:800])
    assert r.headers["Location"].startswith(client[2])


def test_totp_enrollment_page_reload_shows_the_same_step(stack, browser, client):
    username, _ = make_user(stack)
    _, r = authorize(browser, client)
    assert browser.login(r, username).status_code == 303
    page = browser.start("/account/totp")
    again = browser.get(stack.base_url + "/flow")
    assert again.status_code == 200 and h1(again) == h1(page)
    assert inputs(again)["node"]["value"] == inputs(page)["node"]["value"]
