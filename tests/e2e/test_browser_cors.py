"""A single-page application in a real browser: headless Chromium loads a page
served by a small HTTP server of this test on another origin than the
gateway, signs in with the PKCE code flow through the real login page, and
calls /token and /userinfo with fetch(), which the browser allows only
because of the gateway's CORS answers (preflight included: the userinfo call
sends an Authorization header). The same page from an origin the client did
not register cannot read /userinfo."""

import base64
import hashlib
import http.server
import json
import secrets
import threading

import pytest
import requests

from browser import start_chromium, stop_chromium
from conftest import free_port
from oidc import PASSWORD, make_client, make_user, wait_for


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>spa</title></head><body>
<pre id="out"></pre>
<script>
const cfg = %(cfg)s;
function show(result) {
  const el = document.createElement("pre");
  el.id = "result";
  el.textContent = JSON.stringify(result);
  document.body.appendChild(el);
}
async function run() {
  const here = new URL(location.href);
  if (here.pathname === "/start") {
    const q = new URLSearchParams({response_type: "code", client_id: cfg.client_id,
      redirect_uri: cfg.redirect_uri, scope: "openid profile", state: cfg.state,
      code_challenge: cfg.challenge, code_challenge_method: "S256"});
    location.href = cfg.issuer + "/authorize?" + q.toString();
    return;
  }
  if (here.pathname === "/cb") {
    const result = {};
    try {
      const body = new URLSearchParams({grant_type: "authorization_code", code: here.searchParams.get("code"),
        redirect_uri: cfg.redirect_uri, client_id: cfg.client_id, code_verifier: cfg.verifier});
      const t = await fetch(cfg.issuer + "/token", {method: "POST", body: body});
      result.token_status = t.status;
      const tokens = await t.json();
      result.token_type = tokens.token_type;
      const u = await fetch(cfg.issuer + "/userinfo", {headers: {Authorization: "Bearer " + tokens.access_token}});
      result.userinfo_status = u.status;
      result.userinfo = await u.json();
    } catch (e) {
      result.error = String(e);
    }
    show(result);
    return;
  }
  if (here.pathname === "/probe") {
    // From an origin the client did not register: the browser must refuse.
    const result = {};
    try {
      const u = await fetch(cfg.issuer + "/userinfo", {headers: {Authorization: "Bearer x.y.z"}});
      result.userinfo_status = u.status;
    } catch (e) {
      result.error = String(e);
    }
    show(result);
  }
}
run();
</script></body></html>
"""


@pytest.fixture(scope="module")
def spa_server():
    """An HTTP server on 127.0.0.1 (and reachable as localhost, another
    origin) serving PAGE with the configuration set on it."""
    port = free_port()
    config = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (PAGE % {"cfg": json.dumps(config)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port, config
    server.shutdown()
    server.server_close()


@pytest.fixture
def driver():
    d, profile = start_chromium()
    try:
        yield d
    finally:
        stop_chromium(d, profile)


def result_of(driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "result")))
    return json.loads(driver.find_element(By.ID, "result").text)


def test_spa_on_another_origin_signs_in_and_reads_userinfo_with_fetch(stack, spa_server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    port, config = spa_server
    origin = f"http://127.0.0.1:{port}"
    client_id, _, redirect_uri = make_client(stack, type="public", redirect_uris=[origin + "/cb"],
                                             scopes=["openid", "profile"], allowed_web_origins=[origin])
    username, sub = make_user(stack, name="Alice Liddell")
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    config.update(issuer=stack.base_url, client_id=client_id, redirect_uri=redirect_uri,
                  state=secrets.token_urlsafe(8), verifier=verifier, challenge=challenge)
    # The gateway caches the registered origins (OSTIARY_CORS_CACHE_TTL).
    with requests.Session() as s:
        s.trust_env = False
        wait_for("the gateway to know the page's origin", lambda: s.options(
            stack.base_url + "/userinfo", headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            timeout=10).headers.get("Access-Control-Allow-Origin") == origin, timeout=20, step=0.2)

    driver.get(origin + "/start")
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "password")))
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    result = result_of(driver)
    assert driver.current_url.startswith(origin + "/cb?"), driver.current_url
    assert "error" not in result, result
    assert result["token_status"] == 200 and result["token_type"] == "Bearer", result
    assert result["userinfo_status"] == 200, result
    assert result["userinfo"]["sub"] == sub and result["userinfo"]["name"] == "Alice Liddell"

    # The same page from localhost, an origin nobody registered: the
    # browser withholds the answer (fetch fails).
    driver.get(f"http://localhost:{port}/probe")
    result = result_of(driver)
    assert "error" in result and "userinfo_status" not in result, result
