"""Hls without a server: names that spell variables stay literal, and each server has its own playlists."""
import os

from srsish.app.config import load_config
from srsish.app.hooks.http_hooks import HookContext
from srsish.app.origin.hls import Hls
from srsish.app.origin.hls_playlist import HlsStreams
from srsish.app.origin.hub import OriginContext
from srsish.kernel.message import MSG_AUDIO, MSG_VIDEO, SharedMessage

AVC_SH = bytes.fromhex("17000000000164000dffe100176764000dacb40a0fd808800000030080000019078a155001"
                       "000468ef0fcbfdf8f800")
IDR = b"\x17\x01\x00\x00\x00" + (5).to_bytes(4, "big") + b"\x65\x88\x84\x00\x10"
AAC_SH = bytes.fromhex("af001208")
AAC = b"\xaf\x01" + bytes(20)


def _context(tmp_path, streams: HlsStreams, app: str, stream: str) -> OriginContext:
    conf = tmp_path / "hls.conf"
    conf.write_text("listen 1935;\nvhost __defaultVhost__ {\n    hls {\n        enabled on;\n        hls_path %s;\n"
                    "        hls_ts_file [app]/[stream]-[2006]-[seq]-[duration].ts;\n        hls_dispose 0;\n"
                    "    }\n}\n" % (tmp_path / "html"))
    vhost = load_config(str(conf)).vhost("__defaultVhost__")
    hook = HookContext(client_id="abcd1234", ip="127.0.0.1", vhost="__defaultVhost__", app=app, stream=stream)
    return OriginContext(vhost=vhost, hook=hook, hooks=None, hooks_conf=lambda: {}, cwd=str(tmp_path),
                         hls_streams=streams)


def _publish_one_segment(ctx: OriginContext) -> Hls:
    hls = Hls.create(ctx)
    hls.on_publish()
    hls.on_media(SharedMessage(MSG_VIDEO, 0, AVC_SH))
    hls.on_media(SharedMessage(MSG_AUDIO, 0, AAC_SH))
    for ts in range(0, 1000, 40):
        hls.on_media(SharedMessage(MSG_VIDEO, ts, IDR))
        hls.on_media(SharedMessage(MSG_AUDIO, ts, AAC))
    hls.on_unpublish()
    return hls


def test_names_that_spell_variables_are_kept_as_written(tmp_path):
    hls = _publish_one_segment(_context(tmp_path, HlsStreams(), "[stream]", "[2006]"))
    [seg] = hls.stream.window
    html = os.path.realpath(tmp_path / "html")
    assert hls.stream.m3u8_path == os.path.join(html, "[stream]", "[2006].m3u8")
    year = seg.path.rsplit("-", 3)[1]
    assert seg.path == os.path.join(html, "[stream]", "[2006]-%s-0-%d.ts" % (year, seg.duration_ms))
    assert year.isdigit() and os.path.isfile(seg.path) and os.path.isfile(hls.stream.m3u8_path)


def test_each_server_has_its_own_playlists(tmp_path):
    first, second = HlsStreams(), HlsStreams()
    a = _publish_one_segment(_context(tmp_path, first, "live", "s"))
    b = _publish_one_segment(_context(tmp_path, second, "live", "s"))
    assert a.stream is not b.stream and a.stream.m3u8_path == b.stream.m3u8_path
    assert list(first.by_path.values()) == [a.stream] and list(second.by_path.values()) == [b.stream]
    again = _publish_one_segment(_context(tmp_path, first, "live", "s"))
    assert again.stream is a.stream and [s.seq for s in a.stream.window] == [0, 1]
