"""Headless Chromium for page tests: Debian's chromium + chromedriver driven by selenium, with its network log."""
import json
import os
import shutil
from typing import List
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def start_chromium(log_dir: str) -> webdriver.Chrome:
    """A headless Chromium that autoplays media and records every request it makes (see `requested_urls`).

    Both binaries are given by path, so selenium never tries to download a driver.
    """
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), \
        "chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver, see README)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1100,900",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--mute-audio"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=os.path.join(log_dir, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(20)
    return driver


class NetworkLog:
    """Every URL the browser requested, read from chromedriver's performance log as it is drained."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.urls: List[str] = []

    def drain(self) -> List[str]:
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                self.urls.append(msg["params"]["request"]["url"])
        return self.urls

    def outside(self, allowed_ports: set) -> List[str]:
        """Requests that went anywhere but 127.0.0.1 on the allowed ports (data: and blob: URLs are local)."""
        bad = []
        for url in self.drain():
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1" or parts.port not in allowed_ports:
                bad.append(url)
        return bad


def console_errors(driver: webdriver.Chrome) -> List[str]:
    """The page's console messages at SEVERE level (uncaught exceptions, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
