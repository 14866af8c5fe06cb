"""Cluster pure parts: origin/destination items, backend URLs, the forward backend's reply rules."""
import pytest

from srsish.app.cluster.upstream import Target, parse_host_port
from srsish.app.origin.forward import forward_urls


def test_host_port_items_default_to_1935():
    assert parse_host_port("127.0.0.1:19350") == ("127.0.0.1", 19350)
    assert parse_host_port("origin.example") == ("origin.example", 1935)
    with pytest.raises(ValueError):
        parse_host_port("h:0")


def test_target_from_backend_url_keeps_app_stream_and_query():
    t = Target.from_url("rtmp://10.0.0.5:1936/live/sub/s1?token=x")
    assert (t.host, t.port, t.app, t.stream_name, t.tc_url) == ("10.0.0.5", 1936, "live/sub", "s1?token=x",
                                                               "rtmp://10.0.0.5:1936/live/sub")
    with pytest.raises(ValueError):
        Target.from_url("http://h/live/s")


def test_target_names_a_non_default_vhost_in_the_tcurl():
    assert Target("h", 1935, "live", "s", vhost="v.com").tc_url == "rtmp://h:1935/live?vhost=v.com"


def test_forward_backend_reply_rules():
    assert forward_urls(200, b'{"code":0,"data":{"urls":["rtmp://h/a/b"]}}') == ["rtmp://h/a/b"]
    assert forward_urls(200, b'{"code":0,"data":null}') == []
    assert forward_urls(200, b"0") == []
    for status, body in ((500, b'{"code":0}'), (200, b'{"code":1}'), (200, b'{"code":0,"data":{"urls":"x"}}')):
        with pytest.raises(ValueError):
            forward_urls(status, body)
