"""Config's getters for values several rooms derive: hooks_conf and http_server_dir."""
from srsish.app.config import load_config


def _load(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.conf").write_text(text)
    return load_config("x.conf", {})


def test_hooks_conf_is_the_named_vhost_else_the_default_vhost(tmp_path, monkeypatch):
    cfg = _load(tmp_path, monkeypatch, "listen 1935;\nvhost a { http_hooks { enabled on; on_play http://h/a; } }\n"
                                       "vhost __defaultVhost__ { http_hooks { on_play http://h/d; } }\n")
    assert cfg.hooks_conf("a")["on_play"] == ["http://h/a"] and cfg.hooks_conf("a")["enabled"] is True
    fallback = cfg.hooks_conf("other")
    assert fallback["on_play"] == ["http://h/d"] and fallback["enabled"] is False and fallback["timeout"] == 30.0


def test_hooks_conf_is_none_without_a_matching_vhost(tmp_path, monkeypatch):
    assert _load(tmp_path, monkeypatch, "listen 1935;\nvhost a { }\n").hooks_conf("b") is None


def test_http_server_dir_default_and_set(tmp_path, monkeypatch):
    assert _load(tmp_path, monkeypatch, "listen 1935;\n").http_server_dir == "./objs/nginx/html"
    assert _load(tmp_path, monkeypatch, "listen 1935;\nhttp_server { dir /srv/www; }\n").http_server_dir == "/srv/www"
