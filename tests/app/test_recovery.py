"""Crash recovery without a server: DVR and HLS features fed by hand, "killed" (their unwritten buffers lost,
no on_unpublish), then recovery.recover() finishes, renames, lists and reports what they left."""
import dataclasses
import json
import logging
import os

from srsish.app.config import spec_defaults
from srsish.app.hooks.http_hooks import HookContext
from srsish.app.origin import dvr as dvr_mod
from srsish.app.origin import recovery
from srsish.app.origin.hls import Hls
from srsish.app.origin.hls_playlist import HlsStreams
from srsish.app.origin.hub import OriginContext
from srsish.kernel import flv
from srsish.kernel.message import MSG_AUDIO, MSG_DATA, MSG_VIDEO, SharedMessage
from srsish.protocol import amf0

AVC_SH = bytes.fromhex("17000000000164000dffe100176764000dacb40a0fd808800000030080000019078a155001"
                       "000468ef0fcbfdf8f800")
AAC_SH = bytes.fromhex("af00120856e500")
PUBLISHER = HookContext(client_id="abcd1234", ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream="s",
                        param="?k=v", tcUrl="rtmp://127.0.0.1/live", stream_url="/live/s", stream_id="vid-1")


class _Hooks:
    def __init__(self):
        self.calls = []

    def on_dvr(self, conf, ctx, recovered=False):
        self.calls.append(("on_dvr", conf, ctx, recovered))

    def on_hls(self, conf, ctx, recovered=False):
        self.calls.append(("on_hls", conf, ctx, recovered))

    def on_hls_notify(self, conf, ctx, uri, nb):
        pass


def _media(frames: int, start: int = 0):
    yield SharedMessage(MSG_VIDEO, start, AVC_SH)
    yield SharedMessage(MSG_AUDIO, start, AAC_SH)
    for i in range(frames):
        ts = start + i * 40
        key = i % 25 == 0
        yield SharedMessage(MSG_VIDEO, ts, (b"\x17" if key else b"\x27") + b"\x01\x00\x00\x00"
                            + (501).to_bytes(4, "big") + (b"\x65" if key else b"\x41") + bytes(500))
        yield SharedMessage(MSG_AUDIO, ts, b"\xaf\x01" + bytes(100))


def _kill(*files) -> None:
    """What SIGKILL does to a writer: what Python still buffers never reaches the file."""
    for f in files:
        if f is not None and not f.closed:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, f.fileno())      # the buffer goes nowhere when it is flushed later
            os.close(devnull)


def _vhosts(tmp_path, fmt="flv", hls=False):
    v = {"dvr": {**spec_defaults("vhost.dvr"), "enabled": True,
                 "dvr_path": str(tmp_path) + "/dvr/[app]/[stream].[timestamp]." + fmt},
         "hls": {**spec_defaults("vhost.hls"), "enabled": hls, "hls_path": str(tmp_path) + "/hls",
                 "hls_fragment": 30.0}}
    return {"__defaultVhost__": v}


def _context(tmp_path, vhost, hooks):
    return OriginContext(vhost=vhost, hook=dataclasses.replace(PUBLISHER), hooks=hooks, hooks_conf=lambda: {},
                         cwd=str(tmp_path), hls_streams=HlsStreams())


def _recover(tmp_path, vhosts):
    hooks = _Hooks()
    confs = {"__defaultVhost__": {"enabled": True, "marker": 1}}
    n = recovery.recover(vhosts, hooks, lambda name: confs.get(name), cwd=str(tmp_path))
    return n, hooks.calls


def _leftovers(tmp_path):
    return sorted(os.path.join(d, n) for d, _, names in os.walk(tmp_path) for n in names
                  if n.endswith((".tmp", ".json", ".idx", ".part", ".temp")))


def test_an_flv_left_by_a_crash_is_cut_patched_renamed_and_reported(tmp_path):
    vhosts = _vhosts(tmp_path)
    feature = dvr_mod.Dvr.create(_context(tmp_path, vhosts["__defaultVhost__"], _Hooks()))
    feature.on_publish()
    feature.on_metadata(SharedMessage(MSG_DATA, 0, amf0.encode("onMetaData", amf0.EcmaArray(width=320.0))))
    for msg in _media(100):                        # 0 .. 3960 ms; checkpoints at 1000, 2000, 3000
        feature.on_media(msg)
    f = feature.file
    _kill(f.f)
    assert os.path.exists(f.tmp + ".json") and not os.path.exists(f.path)

    n, calls = _recover(tmp_path, vhosts)
    assert n == 1
    [(action, conf, ctx, recovered)] = calls
    assert (action, conf["marker"], recovered) == ("on_dvr", 1, True)
    assert ctx == dataclasses.replace(PUBLISHER, cwd=str(tmp_path), file=f.path)
    data = open(f.path, "rb").read()
    tags = list(flv.read_tags(data))                # strict: every previous-tag size right to the end
    assert tags[-1].offset + 11 + len(tags[-1].body) + 4 == len(data)
    assert 3000 <= tags[-1].timestamp < 3960, "the last checkpoint (3 s) is in, the unflushed rest is not"
    meta = amf0.decode_all(tags[0].body)[1]
    assert (meta["duration"], meta["filesize"], meta["width"]) == (tags[-1].timestamp / 1000.0, len(data), 320.0)
    assert _leftovers(tmp_path) == []
    assert _recover(tmp_path, vhosts) == (0, [])    # done once, never again


def _stsz_counts(data: bytes) -> list:
    out, pos = [], data.find(b"stsz")
    while pos >= 0:
        out.append(int.from_bytes(data[pos + 12:pos + 16], "big"))
        pos = data.find(b"stsz", pos + 4)
    return out


def test_an_mp4_left_by_a_crash_gets_every_indexed_sample_and_a_moov(tmp_path):
    vhosts = _vhosts(tmp_path, "mp4")
    feature = dvr_mod.Dvr.create(_context(tmp_path, vhosts["__defaultVhost__"], _Hooks()))
    feature.on_publish()
    for msg in _media(100):
        feature.on_media(msg)
    f = feature.file
    _kill(f.f, f._index)
    assert os.path.getsize(f.tmp + ".idx") > 0

    n, calls = _recover(tmp_path, vhosts)
    assert n == 1 and calls[0][0] == "on_dvr" and calls[0][2].file == f.path and calls[0][3] is True
    data = open(f.path, "rb").read()
    assert [data[i + 4:i + 8] for i in (0, 32, 40)] == [b"ftyp", b"free", b"mdat"]
    mdat_end = 40 + int.from_bytes(data[40:44], "big")
    assert data[mdat_end + 4:mdat_end + 8] == b"moov" and mdat_end + int.from_bytes(data[mdat_end:mdat_end + 4],
                                                                                    "big") == len(data)
    # The last index append came after the video frame at 3000 ms: 76 video frames, 75 audio frames.
    assert _stsz_counts(data) == [76, 75]
    assert _leftovers(tmp_path) == []


def test_an_hls_segment_left_by_a_crash_is_cut_listed_and_reported(tmp_path):
    vhosts = _vhosts(tmp_path, hls=True)
    ctx = _context(tmp_path, vhosts["__defaultVhost__"], _Hooks())
    ctx.hook.cwd = str(tmp_path)
    feature = Hls.create(ctx)
    feature.on_publish()
    for msg in _media(100, start=7000):
        feature.on_media(msg)
    seg = feature.current
    _kill(seg.file)
    os.makedirs(tmp_path / "dvr", exist_ok=True)

    n, calls = _recover(tmp_path, vhosts)
    assert n == 1
    [(action, conf, hook, recovered)] = calls
    assert (action, recovered) == ("on_hls", True)
    final = tmp_path / "hls" / "live" / "s-0.ts"
    assert final.is_file() and final.stat().st_size % 188 == 0
    assert 2000 <= hook.duration * 1000 <= 3960
    assert dataclasses.replace(hook, duration=0.0) == dataclasses.replace(
        PUBLISHER, cwd=str(tmp_path), file=str(tmp_path) + "/hls/live/s-0.ts", url="live/s-0.ts",
        m3u8=str(tmp_path) + "/hls/live/s.m3u8", m3u8_url="live/s.m3u8", seq_no=0)
    playlist = (tmp_path / "hls" / "live" / "s.m3u8").read_text()
    assert "#EXTINF:%.3f, no desc\ns-0.ts\n" % hook.duration in playlist
    assert "#EXT-X-DISCONTINUITY" in playlist       # the first segment of a publish, as it would have been
    assert _leftovers(tmp_path) == []


def test_recovered_segment_goes_after_the_segments_already_listed(tmp_path):
    root = tmp_path / "hls" / "live"
    root.mkdir(parents=True)
    (root / "s.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-TARGETDURATION:10\n"
                                 "#EXTINF:10.000, no desc\ns-4.ts\n#EXTINF:9.960, no desc\ns-5.ts\n")
    from srsish.kernel.m3u8 import PlaylistEntry
    assert recovery.add_to_playlist(str(tmp_path / "hls"), str(root / "s.m3u8"), PlaylistEntry("s-6.ts", 3020, False, 6),
                                    10000.0)
    entries = recovery.parse_playlist((root / "s.m3u8").read_text())
    assert [(e.uri, e.duration_ms, e.sequence_no, e.discontinuity) for e in entries] == [
        ("s-4.ts", 10000, 4, False), ("s-5.ts", 9960, 5, False), ("s-6.ts", 3020, 6, False)]
    assert not recovery.add_to_playlist(str(tmp_path / "hls"), str(root / "s.m3u8"),
                                        PlaylistEntry("s-6.ts", 3020, False, 6), 10000.0)


def test_a_normal_close_leaves_no_sidecar(tmp_path):
    for fmt in ("flv", "mp4"):
        vhosts = _vhosts(tmp_path, fmt, hls=True)
        ctx = _context(tmp_path, vhosts["__defaultVhost__"], _Hooks())
        features = [dvr_mod.Dvr.create(ctx), Hls.create(ctx)]
        for feature in features:
            feature.on_publish()
        for msg in _media(100):
            for feature in features:
                feature.on_media(msg)
        for feature in features:
            feature.on_unpublish()
            if isinstance(feature, Hls):
                feature.stream.cancel_dispose()
    assert _leftovers(tmp_path) == []


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_broken_and_outside_sidecars_are_logged_and_skipped(tmp_path):
    vhosts = _vhosts(tmp_path)
    feature = dvr_mod.Dvr.create(_context(tmp_path, vhosts["__defaultVhost__"], _Hooks()))
    feature.on_publish()
    for msg in _media(50):
        feature.on_media(msg)
    good = feature.file
    _kill(good.f)
    folder = tmp_path / "dvr" / "live"
    (folder / "junk.flv.tmp.json").write_text("{not json")
    (folder / "old.flv.tmp.json").write_text(json.dumps({"version": 99}))
    (folder / "gone.flv.tmp.json").write_text(json.dumps({"version": 1, "kind": "dvr", "format": "flv",
                                                          "vhost": "v", "hook": dataclasses.asdict(PUBLISHER)}))
    # an HLS sidecar claiming a root the conf does not give: nothing is written there
    (folder / "s-1.ts.tmp").write_bytes(b"\x47" + bytes(187))
    (folder / "s-1.ts.tmp.json").write_text(json.dumps({
        "version": 1, "kind": "hls", "vhost": "v", "hook": dataclasses.asdict(PUBLISHER), "seq": 1, "values": {},
        "discontinuity": False, "hls_path": "/", "hls_ts_file": "etc/x.ts", "m3u8_rel": "etc/x.m3u8",
        "entry_prefix": "", "max_td_ms": 1.0}))
    log = logging.getLogger("test_recovery_broken")
    lines = _Lines()
    log.addHandler(lines)
    hooks = _Hooks()
    assert recovery.recover(vhosts, hooks, lambda name: {}, cwd=str(tmp_path), log=log) == 1
    assert [c[2].file for c in hooks.calls] == [good.path]
    text = "\n".join(lines.lines)
    assert "junk.flv.tmp.json" in text and "old.flv.tmp.json" in text and "is not one the conf gives" in text
    assert "gone.flv.tmp is gone" in text and not (folder / "gone.flv.tmp.json").exists()
    assert (folder / "s-1.ts.tmp").exists() and (folder / "s-1.ts.tmp.json").exists()


def test_a_root_the_conf_no_longer_gives_is_not_searched(tmp_path):
    vhosts = _vhosts(tmp_path)
    feature = dvr_mod.Dvr.create(_context(tmp_path, vhosts["__defaultVhost__"], _Hooks()))
    feature.on_publish()
    for msg in _media(30):
        feature.on_media(msg)
    _kill(feature.file.f)
    vhosts["__defaultVhost__"]["dvr"]["enabled"] = False
    assert _recover(tmp_path, vhosts) == (0, [])
    assert os.path.exists(feature.file.tmp + ".json")
    vhosts["__defaultVhost__"]["dvr"]["enabled"] = True
    assert _recover(tmp_path, vhosts)[0] == 1
