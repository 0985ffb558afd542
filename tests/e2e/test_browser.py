"""The demo relying party (development mode only) and a real browser: headless
Chromium driven by Selenium from /demo through the real login and consent
pages to the page of verified claims. The gateway is restarted with the demo
client's settings for these tests, then restored."""

import json
import re
import secrets

import pytest
import requests

from browser import needs_browser, start_chromium, stop_chromium
from oidc import PASSWORD, ctl_json, make_user



@pytest.fixture(scope="module")
def demo(stack):
    """The gateway restarted with a demo client configured."""
    out = ctl_json(stack, "token.client_add", {
        "name": "Ostiary demo", "type": "confidential",
        "redirect_uris": [stack.base_url + "/demo/callback"],
        "grant_types": ["authorization_code"], "response_types": ["code"],
        "scopes": ["openid", "profile", "email", "address", "phone"],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "RS256", "first_party": False})
    env = {"OSTIARY_DEMO_CLIENT_ID": out["client"]["client_id"],
           "OSTIARY_DEMO_CLIENT_SECRET": out["client_secret"]}
    stack.stop_all("gateway")
    stack.start("gateway", env)
    stack.wait_ready(30)
    yield env
    stack.stop_all("gateway")
    stack.ensure("gateway")
    stack.wait_ready(30)


def test_demo_is_404_in_production_mode(stack):
    stack.stop_all("gateway")
    try:
        # Production wants an https issuer; the listener stays plain http.
        issuer = "https://" + stack.base_url.split("://", 1)[1]
        stack.start("gateway", {"OSTIARY_MODE": "production", "OSTIARY_ISSUER": issuer})
        stack.wait_ready(30)
        with requests.Session() as s:
            s.trust_env = False
            for path in ("/demo", "/demo/login", "/demo/callback"):
                r = s.get(stack.base_url + path, allow_redirects=False, timeout=10)
                assert r.status_code == 404 and r.json()["error"] == "not_found"
    finally:
        stack.stop_all("gateway")
        stack.ensure("gateway")
        stack.wait_ready(30)


def test_demo_callback_refuses_a_forged_state(stack, demo):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/demo/login", allow_redirects=False, timeout=10)
        assert r.status_code == 302 and "/authorize?" in r.headers["Location"]
        r = s.get(stack.base_url + "/demo/callback",
                  params={"code": "x", "state": "forged", "iss": stack.base_url}, timeout=10)
        assert r.status_code == 400 and "state" in r.text


@needs_browser
def test_browser_logs_in_through_the_demo_relying_party(stack, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    username, sub = make_user(stack, name="Alice Liddell")
    driver, profile = start_chromium()
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(stack.base_url + "/demo")
        driver.find_element(By.ID, "login").click()
        wait.until(ec.presence_of_element_located((By.ID, "password")))
        assert driver.current_url == stack.base_url + "/login"
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        # The demo client is third-party: the consent page comes first.
        wait.until(ec.presence_of_element_located((By.ID, "allow")))
        assert "profile" in driver.page_source
        driver.find_element(By.ID, "allow").click()
        wait.until(ec.presence_of_element_located((By.ID, "id-token-claims")))
        assert driver.current_url.startswith(stack.base_url + "/demo/callback")
        id_claims = json.loads(driver.find_element(By.CSS_SELECTOR, "#id-token-claims pre").text)
        info = json.loads(driver.find_element(By.CSS_SELECTOR, "#userinfo pre").text)
        assert id_claims["sub"] == sub and id_claims["iss"] == stack.base_url
        assert id_claims["aud"] == demo["OSTIARY_DEMO_CLIENT_ID"] or demo["OSTIARY_DEMO_CLIENT_ID"] in id_claims["aud"]
        assert info["sub"] == sub and info["name"] == "Alice Liddell"
        assert re.search(r"Welcome, Alice Liddell", driver.find_element(By.ID, "welcome").text)
        # The session cookie is not readable by scripts.
        assert "ostiary_session" not in driver.execute_script("return document.cookie")
        # RP-initiated logout from the demo (its ID token as hint, tied to this
        # session): signed out at once, the application listed; the next
        # login asks for the password again.
        driver.find_element(By.ID, "sign-out").click()
        wait.until(ec.presence_of_element_located((By.ID, "signed-out-clients")))
        assert driver.current_url.startswith(stack.base_url + "/logout?")
        assert demo["OSTIARY_DEMO_CLIENT_ID"] in driver.page_source
        driver.get(stack.base_url + "/demo")
        driver.find_element(By.ID, "login").click()
        wait.until(ec.presence_of_element_located((By.ID, "password")))
        assert driver.current_url == stack.base_url + "/login"
    finally:
        stop_chromium(driver, profile)


@needs_browser
def test_browser_registration_reports_every_field_at_once_and_links_onward(stack):
    """Registration in headless Chromium: a weak password and a mismatched
    confirmation are reported together, once each, with no attempt count;
    the finished registration links onward to the account page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from flowweb import code_in, wait_message

    username = "reg-" + secrets.token_hex(4)
    address = f"{username}@example.org"
    password = "a long enough registration passphrase"
    driver, profile = start_chromium()
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(stack.base_url + "/register")
        wait.until(ec.presence_of_element_located((By.ID, "password_confirm")))
        assert driver.find_element(By.TAG_NAME, "h1").text == "Create an account"
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "email").send_keys(address)
        driver.find_element(By.ID, "password").send_keys("short")
        driver.find_element(By.ID, "password_confirm").send_keys("different")
        driver.find_element(By.ID, "submit").click()
        wait.until(ec.presence_of_element_located((By.ID, "password_confirm-error")))
        page = driver.find_element(By.TAG_NAME, "main").text
        assert page.count("That password is too weak") == 1, page
        assert page.count("The two passwords do not match.") == 1, page
        assert "Attempts left" not in page
        assert driver.find_element(By.ID, "password-error").is_displayed()
        # What was typed stays, the passwords excepted.
        assert driver.find_element(By.ID, "username").get_attribute("value") == username
        assert driver.find_element(By.ID, "password").get_attribute("value") == ""
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "password_confirm").send_keys(password)
        driver.find_element(By.ID, "submit").click()
        wait.until(ec.presence_of_element_located((By.ID, "email-hint")))
        code_field = driver.find_element(By.CSS_SELECTOR, "form input:not([type=hidden])")
        code_field.send_keys(code_in(wait_message(stack, address)))
        driver.find_element(By.ID, "submit").click()
        wait.until(ec.presence_of_element_located((By.ID, "onward")))
        assert driver.find_element(By.ID, "done").text == "Your account is ready. You can now sign in with it."
        onward = driver.find_element(By.ID, "onward")
        assert onward.get_attribute("href") == stack.base_url + "/account/sessions"
        onward.click()
        wait.until(lambda d: d.current_url == stack.base_url + "/account/sessions")
    finally:
        stop_chromium(driver, profile)
