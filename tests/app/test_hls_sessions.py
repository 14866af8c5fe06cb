"""HLS play sessions are Clients: listed with the others as `hls-play`, kicked through the same interface."""
from srsish.app.clients import ClientRegistry
from srsish.app.config import load_config
from srsish.app.hooks.events import HookVerdict
from srsish.app.http.hls_sessions import HlsPlayContexts
from srsish.app.http.types import HttpRequest
from srsish.app.live.source import SourceRegistry


class RecordingHooks:
    def __init__(self) -> None:
        self.stops = []

    def on_play(self, conf, ctx):
        return HookVerdict(True, "")

    def on_stop(self, conf, ctx):
        self.stops.append(ctx.client_id)


def _sessions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "html" / "live").mkdir(parents=True)
    (tmp_path / "html" / "live" / "cam.m3u8").write_text("#EXTM3U\n#EXTINF:1.0,\ncam-0.ts\n")
    (tmp_path / "x.conf").write_text("listen 1935;\nhttp_server { enabled on; dir ./html; }\n"
                                     "vhost __defaultVhost__ { hls { enabled on; } }\n")
    config = load_config("x.conf", {})
    clients, hooks = ClientRegistry(), RecordingHooks()
    return HlsPlayContexts(lambda: config, SourceRegistry(), clients, hooks), config, clients, hooks


def test_a_session_is_a_client_the_api_can_list_and_kick(tmp_path, monkeypatch):
    hls, config, clients, hooks = _sessions(tmp_path, monkeypatch)
    req = HttpRequest("GET", "/live/cam.m3u8", "token=t", {"referer": "http://page"}, ip="10.0.0.7", host="h")
    resp = hls.handle(req, config.vhost("__defaultVhost__"), "live", "cam.m3u8")
    assert resp.status == 200 and b"hls_ctx=" in resp.body
    (session,) = list(clients)
    assert clients.connections == 0 and len(clients) == 1        # a session holds no connection
    d = session.describe()
    assert (d["type"], d["ip"], d["url"], d["name"], d["pageUrl"], d["publish"]) == \
        ("hls-play", "10.0.0.7", "/live/cam", "cam", "http://page", False)
    session.kick("kicked by the HTTP API")
    assert hooks.stops == [session.id] and len(clients) == 0 and hls.sessions == {}
    session.kick("again")                                          # ending twice sends one on_stop
    hls.close_all()
    assert hooks.stops == [session.id]
