"""The web pages under objs/nginx/html in a real browser (headless Chromium): the shipped conf/srs.conf serving
them (ports moved by SRS_* env), ffmpeg publishing. The players page plays HTTP-FLV and HLS (the video's
currentTime advances and frames are decoded), lists the live stream and tells errors in words; the console
lists the stream and its client, and its kick button disconnects the client (the server log and the API
agree) with http_api.auth on; the index and the callback server's page open. No page loads anything from
outside the server (the browser's network log), and a screenshot of each page is saved under tmp_path."""
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from helpers import peers
from helpers.browser import NetworkLog, console_errors, start_chromium
from helpers.http_util import api_get, basic_auth
from helpers.server import REPO_ROOT, srsish_env
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e

PAGES = os.path.join(REPO_ROOT, "objs", "nginx", "html")


class Site:
    """srsish on conf/srs.conf in a fresh folder holding a copy of the pages, with one stream published."""

    def __init__(self, procs, tmp_path, clip, env_extra=None):
        self.rtmp, self.http, self.api = free_port(), free_port(), free_port()
        self.cwd = tmp_path / "site"
        shutil.copytree(PAGES, self.cwd / "objs" / "nginx" / "html")
        env = dict(srsish_env(), SRS_LISTEN=str(self.rtmp), SRS_HTTP_SERVER_LISTEN=str(self.http),
                   SRS_HTTP_API_LISTEN=str(self.api), SRS_VHOST_HLS_HLS_FRAGMENT="1",
                   SRS_VHOST_HLS_HLS_WINDOW="6", **(env_extra or {}))
        self.server = procs.spawn("srsish", [sys.executable, "-m", "srsish", "-c",
                                             os.path.join(REPO_ROOT, "conf", "srs.conf")], cwd=str(self.cwd), env=env)
        for port in (self.rtmp, self.http, self.api):
            wait_for(lambda: port_open("127.0.0.1", port) or not self.server.alive(), 15, message="port %d" % port)
        assert self.server.alive(), self.server.tail()
        self.publisher = peers.ffmpeg_publish(procs, "rtmp://127.0.0.1:%d/live/livestream" % self.rtmp, clip.path,
                                              loop=True)

    def page(self, path):
        sep = "&" if "?" in path else "?"
        return "http://127.0.0.1:%d%s%sapi=%s" % (self.http, path, sep,
                                                   urllib.parse.quote("http://127.0.0.1:%d" % self.api, safe=""))

    def url(self, ext):
        return "http://127.0.0.1:%d/live/livestream.%s" % (self.http, ext)

    def log(self):
        return self.server.output()


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(str(tmp_path))
    try:
        yield driver
    finally:
        driver.quit()


def video_state(driver):
    return driver.execute_script(
        "var v = document.querySelector('video'); var q = v.getVideoPlaybackQuality();"
        "return {t: v.currentTime, frames: q.totalVideoFrames, paused: v.paused, muted: v.muted,"
        " error: document.getElementById('error').textContent, latency: document.getElementById('latency').textContent,"
        " videos: document.querySelectorAll('video').length};")


def assert_plays(driver, seconds=3.0):
    """The video starts (currentTime > 0), then its currentTime and decoded frames go on for `seconds`."""
    first = wait_for(lambda: (lambda s: s if s["t"] > 0.2 else None)(video_state(driver)), 30, interval=0.25,
                     message="the video to start: %r" % (video_state(driver),))
    time.sleep(seconds)
    later = video_state(driver)
    assert later["t"] - first["t"] > seconds * 0.5, (first, later)
    assert later["frames"] > first["frames"] > 0, (first, later)
    assert later["muted"] and not later["paused"] and later["videos"] == 1, later
    assert later["error"] == "", later
    return first, later


def assert_local_only(net, site, extra_ports=()):
    outside = net.outside({site.http, site.api, *extra_ports})
    assert not outside, "pages loaded things from outside the server: %s" % outside


def test_player_plays_http_flv_from_the_url_query(procs, media, tmp_path, browser):
    site = Site(procs, tmp_path, media.clip)
    net = NetworkLog(browser)
    wait_for(lambda: api_get(site.api, "/api/v1/streams")["streams"], 15, interval=0.3, message="the stream")
    browser.get(site.page("/players/?url=" + urllib.parse.quote(site.url("flv"), safe="")))
    first, later = assert_plays(browser)
    latency = float(wait_for(lambda: browser.find_element(By.ID, "latency").text.rstrip(" s") or None, 5,
                             message="the latency"))
    assert 0 <= latency < 10, latency
    assert "mpegts.js 1.8.2" in browser.find_element(By.ID, "engine").text
    # The stream list comes from the API, with an HLS button since conf/srs.conf has HLS on.
    row = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-stream='/live/livestream']"), 10,
                   interval=0.3, message="the stream in the list")[0]
    assert row.find_elements(By.CSS_SELECTOR, "button.play-hls") and "H264 320x240" in row.text, row.text
    browser.save_screenshot(str(tmp_path / "players-flv.png"))
    assert_local_only(net, site)
    assert any(u.startswith(site.url("flv")) for u in net.urls), net.urls
    assert not console_errors(browser)


def test_player_plays_hls_chosen_from_the_list(procs, media, tmp_path, browser):
    site = Site(procs, tmp_path, media.clip)
    net = NetworkLog(browser)
    browser.get(site.page("/players/"))
    # Wait until a few segments exist, so hls.js starts on a playlist with room behind the live edge.
    wait_for(lambda: (site.cwd / "objs/nginx/html/live/livestream-2.ts").exists(), 30, interval=0.3,
             message="three HLS segments")
    button = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "button.play-hls"), 10, interval=0.3,
                      message="the HLS button")[0]
    button.click()
    assert_plays(browser)
    assert "hls.js 1.7.4" in browser.find_element(By.ID, "engine").text
    assert browser.find_element(By.ID, "url").get_attribute("value") == site.url("m3u8")
    browser.save_screenshot(str(tmp_path / "players-hls.png"))
    assert_local_only(net, site)
    assert any(".ts" in u for u in net.urls), net.urls
    # The HLS viewer is a client of the API (hls-play), as SRS counts it.
    types = [c["type"] for c in api_get(site.api, "/api/v1/clients")["clients"]]
    assert "hls-play" in types, types


def test_player_tells_errors_in_words(procs, media, tmp_path, browser):
    site = Site(procs, tmp_path, media.clip)
    browser.get(site.page("/players/?url=" + urllib.parse.quote(site.url("flv").replace("livestream", "nobody"))))
    text = wait_for(lambda: browser.find_element(By.ID, "error").text, 15, interval=0.3, message="an error")
    assert "404" in text and "not there" in text, text
    browser.find_element(By.ID, "url").clear()
    browser.find_element(By.ID, "url").send_keys("http://127.0.0.1:%d/live/livestream.mp4" % site.http)
    browser.find_element(By.ID, "play").click()
    assert ".flv" in browser.find_element(By.ID, "error").text


def test_console_lists_and_kicks_with_auth_on(procs, media, tmp_path, browser):
    site = Site(procs, tmp_path, media.clip, env_extra={
        "SRS_HTTP_API_AUTH_ENABLED": "on", "SRS_HTTP_API_AUTH_USERNAME": "admin", "SRS_HTTP_API_AUTH_PASSWORD": "s3cret"})
    auth = basic_auth("admin", "s3cret")
    player = procs.spawn("ffmpeg-player", ["ffmpeg", "-nostdin", "-loglevel", "error", "-i",
                                           "rtmp://127.0.0.1:%d/live/livestream" % site.rtmp, "-f", "null", "-"])
    client = wait_for(lambda: [c for c in api_get(site.api, "/api/v1/clients", auth=auth)["clients"]
                               if c["type"] == "rtmp-play"], 15, interval=0.3, message="the RTMP player")[0]
    net = NetworkLog(browser)
    browser.get(site.page("/console/"))
    wait_for(lambda: browser.find_element(By.ID, "login").is_displayed(), 10, interval=0.2, message="the login form")
    assert "user name and password" in browser.find_element(By.ID, "error").text
    browser.find_element(By.ID, "user").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("s3cret")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    row = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#streams tr[data-stream='/live/livestream']"), 10,
                   interval=0.3, message="the stream in the console")[0]
    assert "H264" in row.text and "AAC" in row.text and "320x240" in row.text, row.text
    kick = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-client='%s'] button.kick" % client["id"]),
                    10, interval=0.3, message="the client's kick button")[0]
    assert "hook outbox" in browser.find_element(By.TAG_NAME, "body").text.lower()
    assert browser.find_element(By.ID, "hooks").text.startswith("pending")
    browser.save_screenshot(str(tmp_path / "console.png"))
    kick.click()
    player.wait(10)   # ffmpeg ends when its connection is cut
    wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, "tr[data-client='%s']" % client["id"]), 10,
             interval=0.3, message="the kicked client to leave the console")
    ids = [c["id"] for c in api_get(site.api, "/api/v1/clients", auth=auth)["clients"]]
    assert client["id"] not in ids
    wait_for(lambda: any(client["id"] in line and "kicked by the HTTP API" in line for line in site.log().splitlines()),
             5, interval=0.2, message="the kick in the server log:\n" + site.log()[-3000:])
    assert browser.find_element(By.ID, "error").text == ""
    assert_local_only(net, site)


def test_index_links_the_pages(procs, media, tmp_path, browser):
    site = Site(procs, tmp_path, media.clip)
    net = NetworkLog(browser)
    browser.get(site.page("/"))
    links = {a.get_attribute("pathname") for a in browser.find_elements(By.CSS_SELECTOR, "main a")}
    assert {"/players/", "/console/"} <= links, links
    browser.save_screenshot(str(tmp_path / "index.png"))
    browser.find_element(By.CSS_SELECTOR, "main a[href^='/players/']").click()
    # The link kept ?api=, so the players page lists the stream from this server's API.
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-stream='/live/livestream']"), 10,
             interval=0.3, message="the stream on the players page")
    assert_local_only(net, site)


def test_callback_server_page(procs, tmp_path, browser):
    port = free_port()
    procs.spawn("api-server", [sys.executable, os.path.join(REPO_ROOT, "research", "api-server", "server.py"),
                               str(port)])
    wait_for(lambda: port_open("127.0.0.1", port), 10, message="the callback server")
    body = (b'{"server_id":"vid-test","service_id":"abcd1234","action":"on_connect","client_id":"c0ffee01",'
            b'"ip":"127.0.0.1","vhost":"__defaultVhost__","app":"live","tcUrl":"rtmp://127.0.0.1/live",'
            b'"pageUrl":"","stream_url":"/live/livestream","stream_id":"vid-x"}')
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/api/v1/clients" % port, body,
                                                  {"Content-Type": "application/json"}), timeout=5).read()
    net = NetworkLog(browser)
    browser.get("http://127.0.0.1:%d/" % port)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "on_connect" in text and "c0ffee01" in text, text
    browser.save_screenshot(str(tmp_path / "callback-server.png"))
    curl = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/" % port], capture_output=True, text=True, timeout=10)
    assert "on_connect" in curl.stdout
    outside = net.outside({port})
    assert not outside, outside
