"""Debian's Chromium, headless, driven by python3-selenium: the one setup of
every browser test (a throwaway profile, nothing fetched from outside)."""

import shutil
import tempfile

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = "Debian's chromium and chromium-driver are not installed (scripts/deps.sh install)"
needs_browser = pytest.mark.skipif(not CHROMIUM or not CHROMEDRIVER, reason=MISSING)


def start_chromium(*args, lang=None):
    """A headless Chromium with a fresh profile and the extra command-line
    args; lang sets the browser's language (what it sends as
    Accept-Language). Returns (driver, profile) for stop_chromium."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip(MISSING)
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="python3-selenium is not installed (scripts/deps.sh install)")
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--no-proxy-server", *args, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    if lang:
        options.add_argument(f"--lang={lang}")
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    return driver, profile


def stop_chromium(driver, profile):
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
