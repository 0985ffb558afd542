"""The admin console (docs/admin/console.md) in headless Chromium: an admin
signs in through Ostiary's own login page, creates a client, edits its
redirect URI, turns its PKCE requirement off and on, lowers the lockout
threshold and sees a login locked at the new threshold, unlocks the user,
rotates a signing key, and finds each action in the audit page, with the keyboard where a person
would use it. Every console page is photographed (desktop, and phone width
for some) into the run's folder, console-screenshots/; the current ones are
kept in docs/admin/screenshots/."""

import pytest

from browser import needs_browser, start_chromium, stop_chromium
from console_util import make_admin, register_console
from lockout_util import attempt, clear_address_counters, settings  # noqa: F401
from oidc import PASSWORD, ctl_json, make_client, make_user, unique

DESKTOP = (1280, 1000)
PHONE = (390, 844)

pytestmark = needs_browser


@pytest.fixture
def driver():
    d, profile = start_chromium("--hide-scrollbars", "--lang=en-US")
    d.set_window_size(*DESKTOP)
    yield d
    stop_chromium(d, profile)


class Shots:
    """Screenshots of the console's pages, into the run's folder."""

    def __init__(self, stack, driver):
        self.folder = stack.workdir / "console-screenshots"
        self.folder.mkdir(exist_ok=True)
        self.driver = driver

    def __call__(self, name, phone=False):
        path = self.folder / f"{name}.png"
        self.driver.save_screenshot(str(path))
        assert path.stat().st_size > 1000
        if phone:
            self.driver.set_window_size(*PHONE)
            try:
                path = self.folder / f"{name}-phone.png"
                self.driver.save_screenshot(str(path))
                # No sideways scrolling of the page at phone width: tables
                # scroll inside their own box.
                width = self.driver.execute_script("return document.documentElement.scrollWidth")
                assert width <= PHONE[0], (name, width)
            finally:
                self.driver.set_window_size(*DESKTOP)


def test_browser_admin_console_walkthrough(stack, driver, settings):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    register_console(stack)
    admin, _ = make_admin(stack)
    shot = Shots(stack, driver)
    wait = WebDriverWait(driver, 30)
    by_id = driver.find_element

    def notice():
        wait.until(ec.presence_of_element_located((By.ID, "console-notice")))

    def go(nav):
        by_id(By.ID, f"nav-{nav}").click()
        wait.until(lambda d: d.find_element(By.ID, f"nav-{nav}").get_attribute("aria-current") == "page")

    # Sign-in: /admin sends the admin to Ostiary's login page.
    driver.get(stack.base_url + "/admin")
    wait.until(ec.presence_of_element_located((By.ID, "password")))
    assert driver.current_url == stack.base_url + "/login"
    shot("console-sign-in")
    by_id(By.ID, "username").send_keys(admin)
    by_id(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.ID, "new-client")))
    assert driver.current_url == stack.base_url + "/admin/clients"
    assert admin in by_id(By.ID, "signed-in-as").text
    # The session cookie is not readable by scripts.
    assert "ostiary_console" not in driver.execute_script("return document.cookie")

    # Create a client: the secret is shown once.
    client_id = unique("browser")
    by_id(By.ID, "new-client").click()
    wait.until(ec.presence_of_element_located((By.ID, "client_id")))
    by_id(By.ID, "client_id").send_keys(client_id)
    by_id(By.ID, "name").send_keys("Made in Chromium")
    by_id(By.ID, "redirect_uris").send_keys("https://rp.example/first")
    shot("console-client-new")
    by_id(By.ID, "create").click()
    wait.until(ec.presence_of_element_located((By.ID, "client-secret")))
    assert len(by_id(By.ID, "client-secret").text) >= 32
    shot("console-client-secret")
    by_id(By.ID, "continue").click()
    wait.until(ec.presence_of_element_located((By.ID, "client-version")))

    # Edit its redirect URI.
    field = by_id(By.ID, "redirect_uris")
    field.clear()
    field.send_keys("https://rp.example/second")
    by_id(By.ID, "save").click()
    notice()
    stored = ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]
    assert stored["redirect_uris"] == ["https://rp.example/second"]

    # PKCE off, then on, for this client.
    Select(by_id(By.ID, "require_pkce")).select_by_value("off")
    by_id(By.ID, "save").click()
    notice()
    assert ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]["require_pkce"] is False
    Select(by_id(By.ID, "require_pkce")).select_by_value("on")
    by_id(By.ID, "save").click()
    notice()
    stored = ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]
    assert stored["require_pkce"] is True and stored["version"] == 4
    shot("console-client", phone=True)
    by_id(By.ID, "delete").click()
    wait.until(ec.presence_of_element_located((By.ID, "delete-warning")))
    assert "cannot be undone" in by_id(By.ID, "delete-warning").text
    shot("console-client-delete")
    by_id(By.ID, "cancel").click()
    wait.until(ec.presence_of_element_located((By.ID, "client-version")))
    go("clients")
    shot("console-clients", phone=True)

    # The lockout threshold down to 3: a login is locked at the third
    # failure (the default of 5 would have let the fourth attempt in).
    settings.set("lockout_threshold", 5)
    clear_address_counters(stack)
    go("settings")
    field = by_id(By.ID, "value-lockout_threshold")
    field.clear()
    field.send_keys("3" + Keys.ENTER)
    notice()
    assert settings.get("lockout_threshold") == 3
    shot("console-settings", phone=True)
    victim, _ = make_user(stack)
    client = make_client(stack)
    for _ in range(3):
        assert not attempt(stack, client, victim, "wrong password")[0]
    assert not attempt(stack, client, victim, PASSWORD)[0], "the account should be locked at 3 failures"

    # Unlock the user from the console; the right password works again.
    go("users")
    by_id(By.ID, "q").send_keys(victim + Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, victim)))
    shot("console-users", phone=True)
    by_id(By.LINK_TEXT, victim).click()
    wait.until(ec.presence_of_element_located((By.ID, "unlock")))
    by_id(By.ID, "unlock").click()
    notice()
    shot("console-user")
    assert attempt(stack, client, victim, PASSWORD)[0]

    # Rotate a key (planned: published now, signing later), once keys-svc
    # takes the admin envelope (until then the page says to use ostiaryctl).
    go("keys")
    shot("console-keys", phone=True)
    keys_served = bool(driver.find_elements(By.ID, "keys"))
    if keys_served:
        Select(by_id(By.ID, "alg")).select_by_value("ES256")
        by_id(By.ID, "rotate").click()
        wait.until(ec.presence_of_element_located((By.ID, "rotated")))
        rotated = driver.find_element(By.CSS_SELECTOR, "#rotated tr.rotated").text
        assert "ES256" in rotated and "next" in rotated, rotated
        new_kid = driver.find_elements(By.CSS_SELECTOR, "#rotated tr.rotated td")[1].text
        shot("console-keys-rotated")
        by_id(By.ID, "continue").click()
        wait.until(ec.presence_of_element_located((By.ID, "keys")))
        assert new_kid in by_id(By.ID, "keys").text

    # Each action in the audit page.
    go("audit")
    shot("console-audit", phone=True)

    def find(service, event, **filters):
        driver.get(stack.base_url + "/admin/audit")
        Select(by_id(By.ID, "service")).select_by_value(service)
        by_id(By.ID, "event").send_keys(event)
        for name, value in filters.items():
            by_id(By.ID, name).send_keys(value)
        by_id(By.ID, "filter").click()
        wait.until(lambda d: "event=" in d.current_url)
        return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#events tr.event")]

    assert any(client_id in row for row in find("token", "client_add", subject=client_id))
    updates = find("token", "client_update", client=client_id)
    assert len(updates) == 3, updates
    assert any("lockout_threshold" in row for row in find("flow", "settings_set", subject="lockout_threshold"))
    sub = ctl_json(stack, "flow.user_get", {"username": victim})["user"]["sub"]
    assert find("flow", "unlock", subject=sub), "the unlock is not in the audit page"
    if keys_served:
        # The rotation, by this admin, and the key it made.
        rows = find("keys", "key_rotate")
        assert any("ES256" in row and "admin:" in row for row in rows), rows
        assert find("keys", "key_generate", subject=new_kid), new_kid
        # Retire the pending key again (after its confirmation): the stack
        # is left with no key waiting to sign.
        go("keys")
        by_id(By.ID, f"retire-{new_kid}").click()
        wait.until(ec.presence_of_element_located((By.ID, "retire-warning")))
        by_id(By.ID, "confirm-retire").click()
        wait.until(ec.presence_of_element_located((By.ID, "retired-kid")))
        assert new_kid in by_id(By.ID, "retired-kid").text
    shot("console-audit-filtered")

    by_id(By.ID, "sign-out").click()
    wait.until(ec.presence_of_element_located((By.ID, "sign-in")))
    driver.get(stack.base_url + "/admin/clients")
    wait.until(ec.presence_of_element_located((By.ID, "sign-in")))
