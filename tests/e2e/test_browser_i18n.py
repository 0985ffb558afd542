"""A real browser (headless Chromium through Selenium) on pages in the
second language, chosen by ui_locales and by the browser's own
Accept-Language; and the operator's theme (OSTIARY_THEME_DIR): its
stylesheet applies under the pages' CSP, its logo and name show; the
screenshot of the branded page is docs/branding.png."""

import json
import re
from pathlib import Path

import pytest
import requests

from browser import needs_browser, start_chromium, stop_chromium
from conftest import free_port
from oidc import auth_params, make_client, pkce

REPO = Path(__file__).resolve().parents[2]
THEME = REPO / "docs" / "theme-example"
FR = json.loads((REPO / "locales" / "fr.json").read_text())

def chromium(lang=None):
    return start_chromium("--window-size=900,760", lang=lang)


def authorize_url(stack, client, **extra):
    client_id, _, redirect_uri = client
    _, challenge = pkce()
    q = requests.Request("GET", stack.base_url + "/authorize",
                         params=auth_params(client_id, redirect_uri, code_challenge=challenge, **extra)).prepare()
    return q.url


def sign_in_page_is_french(driver):
    from selenium.webdriver.common.by import By
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert driver.find_element(By.TAG_NAME, "h1").text == FR["step.password.title"]
    assert driver.find_element(By.ID, "sign-in").text == FR["step.password.button"]
    assert driver.find_element(By.CSS_SELECTOR, "label[for=password]").text == FR["field.password"]


@needs_browser
def test_browser_sign_in_page_in_french_by_ui_locales(stack, client):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    driver, profile = chromium()
    try:
        driver.get(authorize_url(stack, client, ui_locales="fr-CA en"))
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "password")))
        sign_in_page_is_french(driver)
    finally:
        stop_chromium(driver, profile)


@needs_browser
def test_browser_sign_in_page_in_french_by_accept_language(stack, client):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    driver, profile = chromium("fr")
    try:
        driver.get(authorize_url(stack, client))
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "password")))
        sign_in_page_is_french(driver)
    finally:
        stop_chromium(driver, profile)


@pytest.fixture
def themed(stack):
    """The gateway restarted with docs/theme-example as its theme."""
    stack.stop_all("gateway")
    stack.start("gateway", {"OSTIARY_THEME_DIR": str(THEME)})
    stack.wait_ready(30)
    yield
    stack.stop_all("gateway")
    stack.ensure("gateway")
    stack.wait_ready(30)


def test_theme_stylesheet_logo_and_name_under_the_same_csp(stack, client, themed, http):
    r = http.get(authorize_url(stack, client), allow_redirects=False, timeout=10)
    page = http.get(r.headers["Location"], allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert f'<link rel="stylesheet" href="{stack.base_url}/theme/style.css">' in page.text
    assert f'<img class="logo" alt="" src="{stack.base_url}/theme/logo">Example ID</p>' in page.text
    assert re.search(r"<title>[^<]* · Example ID</title>", page.text)
    assert "Ostiary" not in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "style-src 'self';" in csp and "img-src 'self';" in csp and "unsafe-inline" not in csp
    assert "<style" not in page.text and " style=" not in page.text
    css = http.get(stack.base_url + "/theme/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.text == (THEME / "style.css").read_text()
    logo = http.get(stack.base_url + "/theme/logo", timeout=10)
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/svg+xml"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"


def test_theme_footer_in_the_language_of_the_page(stack, client, themed, http):
    """footer.html for every language, footer.fr.html for French, placed as
    they are in a footer after the page's content; the CSP unchanged."""
    for lang, footer in (("en", "footer.html"), ("fr", "footer.fr.html")):
        r = http.get(authorize_url(stack, client, ui_locales=lang), allow_redirects=False, timeout=10)
        page = http.get(r.headers["Location"], allow_redirects=False, timeout=10)
        assert page.status_code == 200
        assert f'<html lang="{lang}">' in page.text
        expected = '<footer class="theme">' + (THEME / footer).read_text() + "</footer>"
        assert expected in page.text, page.text[-600:]
        assert page.text.index("</main>") < page.text.index('<footer class="theme">')
        assert page.text.count('class="theme"') == 1  # no header.html in the example
        csp = page.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'none';") and "script-src" not in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("name,content", [("header.html", '<p>Hi</p><SCRIPT src="/x.js"></SCRIPT>'),
                                          ("footer.fr.html", "x" * (16 * 1024 + 1)),
                                          ("header.html", "<p>a\0b</p>")])
def test_a_theme_fragment_with_script_or_too_large_stops_the_gateway(stack, tmp_path, name, content):
    """The gateway refuses to start on a header or footer it would not
    serve, naming the file, rather than serving pages without it."""
    (tmp_path / name).write_text(content)
    http_port = free_port()
    inst = stack.start("gateway", {"OSTIARY_THEME_DIR": str(tmp_path),
                                   "OSTIARY_HTTP_LISTEN": f"127.0.0.1:{http_port}",
                                   "OSTIARY_ISSUER": f"http://127.0.0.1:{http_port}",
                                   "OSTIARY_BUS_ENDPOINT": f"tcp://127.0.0.1:{free_port()}"})
    try:
        assert inst.wait(30) != 0
    finally:
        if inst.alive():
            inst.kill()
    assert f"theme: {tmp_path}/{name} must be HTML of at most 16384 bytes" in inst.log_path.read_text()


def test_no_theme_serves_no_theme_files(stack, http):
    for path in ("/theme/style.css", "/theme/logo"):
        assert http.get(stack.base_url + path, timeout=10).status_code == 404


@needs_browser
def test_browser_branded_page_screenshot(stack, client, themed):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    driver, profile = chromium()
    try:
        driver.get(authorize_url(stack, client, ui_locales="fr"))
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "password")))
        # The theme's rules apply: the CSP let its stylesheet and logo load.
        bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(236, 253, 245)", bg
        assert driver.find_element(By.CSS_SELECTOR, ".brand").text == "Example ID"
        assert driver.execute_script("return document.querySelector('.brand img').naturalWidth") > 0
        shot = stack.workdir / "branding.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 1000
    finally:
        stop_chromium(driver, profile)
