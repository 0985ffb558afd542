"""The pages' copy and ways onward: the consent page names the client before
the list; registration reports every field's error at once, once each, and
ends with a link onward (back to the application whose sign-in page offered
it, else the account page); an unknown path or method answers an HTML page to
browsers and the JSON error to API clients, and so does a form body too
large (413), too slow (408) or incomplete (400), in the browser's language."""

import html
import re
import secrets

from flowweb import FlowBrowser, code_in, h1, inputs, text_of, wait_message
from oidc import Browser, assert_page_headers, auth_params, make_client, make_user, pkce, unfinished_form_post

PASSWORD = "a long enough registration passphrase"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DEFAULT_MAX_BODY = 65536


def link(page, element_id):
    m = re.search(r'<a [^>]*id="%s"[^>]*href="([^"]*)"|<a [^>]*href="([^"]*)"[^>]*id="%s"'
                  % (re.escape(element_id), re.escape(element_id)), page.text)
    return m and html.unescape(m.group(1) or m.group(2))


def test_consent_names_the_client_before_the_list(stack):
    name = "Rabbit Hole Reader " + secrets.token_hex(3)
    client_id, _, redirect_uri = make_client(stack, first_party=False, name=name)
    username, _ = make_user(stack)
    b = Browser(stack)
    try:
        r = b.login(b.authorize(auth_params(client_id, redirect_uri)), username)
        assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/consent", r.text[:500]
        page = b.get(r.headers["Location"])
        assert page.status_code == 200
        text = page.text
        assert f"<strong>{name}</strong> wants to:" in text, text
        assert "This application wants to" not in text
        assert text.index("wants to:") < text.index('<ul class="scopes">')
    finally:
        b.close()


def register_page(browser):
    page = browser.start("/register")
    assert h1(page) == "Create an account"
    return page


def test_registration_reports_a_weak_password_and_a_mismatch_together_once_each(stack, browser):
    page = register_page(browser)
    username = "reg-" + secrets.token_hex(4)
    r = browser.fill(page, username=username, email=f"{username}@example.org", password="short",
                     password_confirm="a different one 8")
    assert r.status_code == 200 and h1(r) == "Create an account", r.text[:500]
    assert r.text.count("That password is too weak") == 1, r.text
    assert r.text.count("The two passwords do not match.") == 1, r.text
    assert "Attempts left" not in r.text
    fields = inputs(r)
    assert fields["password"].get("aria-invalid") == "true"
    assert fields["password_confirm"].get("aria-invalid") == "true"
    assert fields["username"].get("value") == username


def test_registration_with_every_field_wrong_reports_each(stack, browser):
    page = register_page(browser)
    r = browser.fill(page, username="   ", email="not an address", password="short",
                     password_confirm="a different one 8")
    assert r.status_code == 200 and h1(r) == "Create an account"
    for field in ("username", "email", "password", "password_confirm"):
        assert f'id="{field}-error"' in r.text, (field, r.text)
    assert 'role="alert"' not in r.text or r.text.count('class="error"') == 0
    assert "Attempts left" not in r.text


def register(stack, browser, page):
    username = "reg-" + secrets.token_hex(4)
    address = f"{username}@example.org"
    r = browser.fill(page, username=username, email=address, password=PASSWORD)
    assert r.status_code == 200 and h1(r) == "Check your email", r.text[:500]
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: code_in(wait_message(stack, address))})
    assert r.status_code == 200 and text_of(r, "done"), r.text[:500]
    return username, r


def test_registration_ends_with_a_link_to_the_account_page(stack, browser):
    _, done = register(stack, browser, register_page(browser))
    assert link(done, "onward") == stack.base_url + "/account/sessions", done.text


def test_registration_offered_by_a_sign_in_page_continues_to_the_application(stack):
    client_id, _, redirect_uri = make_client(stack, first_party=True)
    b = FlowBrowser(stack)
    try:
        verifier, challenge = pkce()
        login = b.login_page(b.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge)))
        m = re.search(r'href="([^"]*/register\?request=[^"]*)"', login.text)
        assert m, login.text
        r = b.get(html.unescape(m.group(1)))
        assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/flow"
        username, done = register(stack, b, b.get(r.headers["Location"]))
        onward = link(done, "onward")
        assert onward == stack.base_url + "/register/continue", done.text
        # Back to the application's sign-in, where the new account signs in.
        r = b.get(onward)
        r = b.login(r, username, PASSWORD)
        assert r.status_code in (302, 303) and r.headers["Location"].startswith(redirect_uri), r.text[:500]
        assert "code=" in r.headers["Location"]
        # The way back is used once.
        assert b.get(onward).status_code == 400
    finally:
        b.close()


def test_unknown_path_is_an_html_page_for_browsers(stack, http):
    r = http.get(stack.base_url + "/no-such-page", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert r.status_code == 404
    assert_page_headers(r)
    assert h1(r) == "Page not found"
    assert "{" not in r.text.split("<body", 1)[-1].split("</h1>", 1)[0]


def test_unknown_path_is_json_for_api_clients(stack, http):
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        r = http.get(stack.base_url + "/no-such-page", headers={"Accept": accept} if accept else {}, timeout=10)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json"), accept
        assert r.json()["error"] == "not_found"


def test_missing_theme_file_is_an_html_page_for_browsers_and_json_for_api_clients(stack, http):
    # The stack runs without OSTIARY_THEME_DIR: neither file exists.
    for path in ("/theme/logo", "/theme/style.css"):
        r = http.get(stack.base_url + path, headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "fr"}, timeout=10)
        assert r.status_code == 404, (path, r.status_code)
        assert_page_headers(r)
        assert '<html lang="fr">' in r.text and h1(r) == "Page introuvable", r.text[:300]
        r = http.get(stack.base_url + path, timeout=10)
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_too_many_headers_is_an_html_page_for_browsers_and_json_for_api_clients(stack, http):
    many = {f"X-H{i}": "v" for i in range(70)}
    # civetweb keeps the first headers: a browser's Accept and
    # Accept-Language come before those an extension adds.
    r = http.get(stack.base_url + "/login", headers=dict({"Accept": BROWSER_ACCEPT, "Accept-Language": "fr"}, **many),
                 timeout=10)
    assert r.status_code == 431, r.status_code
    assert_page_headers(r)
    assert '<html lang="fr">' in r.text and h1(r) == "Trop d’en-têtes de requête", r.text[:300]
    r = http.get(stack.base_url + "/login", headers=many, timeout=10)
    assert r.status_code == 431 and r.json()["error"] == "invalid_request"


def test_wrong_method_is_an_html_page_for_browsers_and_json_for_api_clients(stack, http):
    r = http.post(stack.base_url + "/jwks", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("text/html")
    assert "GET" in r.headers["Allow"]
    r = http.post(stack.base_url + "/jwks", timeout=10)
    assert r.status_code == 405 and r.json()["error"] == "invalid_request"
    assert "GET" in r.headers["Allow"]


def max_body(stack):
    return int(stack.env.get("OSTIARY_HTTP_MAX_BODY", DEFAULT_MAX_BODY))


def test_too_large_form_is_an_html_page_for_browsers_in_their_language(stack, http):
    too_large = b"a=" + b"x" * max_body(stack)
    # Declared too large (refused before any route), and chunked (counted
    # as the page's form is read).
    for chunked in (False, True):
        for lang, title in (("en", "Request too large"), ("fr", "Requête trop volumineuse")):
            data = iter([too_large[:4096], too_large[4096:]]) if chunked else too_large
            r = http.post(stack.base_url + "/authorize", data=data,
                          headers={"Accept": BROWSER_ACCEPT, "Accept-Language": lang,
                                   "Content-Type": "application/x-www-form-urlencoded"}, timeout=20)
            assert r.status_code == 413, (chunked, lang, r.status_code, r.text[:200])
            assert_page_headers(r)
            assert f'<html lang="{lang}">' in r.text and h1(r) == title, r.text[:300]
            assert r.headers.get("Connection", "").lower() == "close"


def test_too_large_form_is_json_for_api_clients(stack, http):
    too_large = b"a=" + b"x" * max_body(stack)
    for accept in (None, "*/*", "application/json"):
        for chunked in (False, True):
            r = http.post(stack.base_url + "/authorize", data=iter([too_large]) if chunked else too_large,
                          headers=dict({"Content-Type": "application/x-www-form-urlencoded"},
                                       **({"Accept": accept} if accept else {})), timeout=20)
            assert r.status_code == 413 and r.headers["Content-Type"].startswith("application/json"), accept
            assert r.json()["error"] == "invalid_request"


def test_slow_or_incomplete_form_is_an_html_page_for_browsers_and_json_for_api_clients(stack):
    browser = {"Accept": BROWSER_ACCEPT, "Accept-Language": "fr"}
    r = unfinished_form_post(stack.base_url, "/authorize", browser, drip=True)
    assert r.status_code == 408, (r.status_code, r.text[:200])
    assert_page_headers(r)
    assert '<html lang="fr">' in r.text and h1(r) == "Délai de requête dépassé", r.text[:300]
    r = unfinished_form_post(stack.base_url, "/authorize", {"Accept": "application/json"}, drip=True)
    assert r.status_code == 408 and r.json()["error"] == "invalid_request"
    r = unfinished_form_post(stack.base_url, "/authorize", browser, drip=False)
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert_page_headers(r)
    assert '<html lang="fr">' in r.text and h1(r) == "Requête incorrecte", r.text[:300]
    r = unfinished_form_post(stack.base_url, "/authorize", {}, drip=False)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
