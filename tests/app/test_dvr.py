"""Dvr without a server: path templates and names, file names, metadata slots, the feature fed by hand."""
import errno
import logging
import os
import re
import tempfile
import time

import pytest

from srsish.app.hooks.http_hooks import HookContext
from srsish.app.origin import dvr as dvr_mod
from srsish.app.origin import dvr_files
from srsish.app.origin.hub import OriginContext, OriginHub
from srsish.core import paths
from srsish.kernel import flv
from srsish.kernel.message import MSG_AUDIO, MSG_DATA, MSG_VIDEO, SharedMessage
from srsish.protocol import amf0


# ----------------------------------------------------------------------------- the rules
def test_template_root_format_and_folder_form():
    p = dvr_mod.DvrPath("./objs/nginx/html/[app]/[stream].[timestamp].flv")
    assert (p.root, p.format) == ("./objs/nginx/html/", "flv")
    p = dvr_mod.DvrPath("/data/dvr-[vhost]/[stream].mp4")
    assert (p.root, p.format) == ("/data", "mp4")
    p = dvr_mod.DvrPath("./recordings/")                # a folder, as SRS: [stream].[timestamp].flv inside
    assert p.template == "./recordings/[stream].[timestamp].flv" and p.root == "./recordings/"
    assert dvr_mod.DvrPath("fixed.flv").root == "."


def test_template_variables_local_and_utc():
    p = dvr_mod.DvrPath("./d/[vhost]/[app]/[stream]/[2006]-[01]-[02]_[15][04][05].[999]-[timestamp].mp4")
    now = 1700000000.123
    lt = time.localtime(now)
    assert p.build("v", "live", "s", now) == "./d/v/live/s/%s_%s.123-1700000000123.mp4" % (
        time.strftime("%Y-%m-%d", lt), time.strftime("%H%M%S", lt))
    assert p.build("v", "live", "s", now, utc=True) == "./d/v/live/s/2023-11-14_221320.123-1700000000123.mp4"


def test_names_are_sanitised_and_never_expanded_twice():
    p = dvr_mod.DvrPath("./d/[app]/[stream].[timestamp].flv")
    build = lambda app, stream: p.build("v", app, stream, 0)  # noqa: E731
    assert build("live", "../../x") == "./d/live/.._.._x.0.flv"
    assert build("live", "..") == "./d/live/__.0.flv"
    assert build("../..", "s") == "./d/__/__/s.0.flv"
    assert build("live", "a\\..\\b\x00") == "./d/live/a_.._b_.0.flv"
    assert build("live", "[app][timestamp]") == "./d/live/[app][timestamp].0.flv"
    assert len(os.path.basename(build("live", "é" * 400)).encode()) <= 200


def test_a_path_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "live")
    p = dvr_mod.DvrPath(str(root) + "/[app]/[stream].flv")
    with pytest.raises(paths.OutsideRoot):
        p.build("v", "live", "s", 0)                   # its folder resolves out of the root
    path = p.build("v", "other", "s", 0)
    paths.make_dirs_under(p.root, os.path.dirname(path))
    assert os.path.isdir(root / "other")
    climbing = dvr_mod.DvrPath(str(root) + "/[app]/../../x.flv")
    with pytest.raises(paths.OutsideRoot):
        climbing.build("v", "live", "s", 0)            # as written, it leaves the root


def test_a_folder_turned_symlink_is_refused_before_anything_is_written(tmp_path):
    feature, hooks = _feature(tmp_path, "flv")
    os.symlink(tmp_path.parent, tmp_path / "live")
    with pytest.raises(paths.OutsideRoot):
        feature.on_publish()
    assert feature.file is None and hooks.calls == []


def test_existing_names_get_a_counter():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.1.flv")
        assert dvr_mod.unique_path(path) == path
        open(path, "w").close()
        open(os.path.join(d, "s.1.1.flv.tmp"), "w").close()
        assert dvr_mod.unique_path(path) == os.path.join(d, "s.1.2.flv")


def test_metadata_gets_duration_and_filesize_slots():
    meta = amf0.EcmaArray(duration=0.0, width=320.0, filesize=7.0, encoder="Lavf")
    body, (dur_at, size_at) = dvr_files.metadata_with_placeholders(amf0.encode("onMetaData", meta))
    patched = bytearray(body)
    patched[dur_at:dur_at + 8] = dvr_files._DOUBLE.pack(6.5)
    patched[size_at:size_at + 8] = dvr_files._DOUBLE.pack(12345.0)
    name, values = amf0.decode_all(bytes(patched))
    assert name == "onMetaData" and list(values)[-2:] == ["duration", "filesize"]
    assert (values["duration"], values["filesize"], values["width"]) == (6.5, 12345.0, 320.0)


class _Hooks:
    def __init__(self):
        self.calls = []

    def on_dvr(self, conf, ctx):
        self.calls.append(ctx)


def _context(tmp_path, fmt: str, log=None, **conf):
    hooks = _Hooks()
    dvr = {"enabled": True, "dvr_apply": ["all"], "dvr_plan": "session",
           "dvr_path": str(tmp_path) + "/[app]/[stream].[timestamp]." + fmt, "dvr_duration": 30.0,
           "dvr_wait_keyframe": True, "time_jitter": "full"}
    dvr.update(conf)
    ctx = OriginContext(
        vhost={"dvr": dvr},
        hook=HookContext(client_id="abcd1234", ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream="s"),
        hooks=hooks, hooks_conf=lambda: {}, cwd=str(tmp_path), log=log)
    return ctx, hooks


def _feature(tmp_path, fmt: str, **conf):
    ctx, hooks = _context(tmp_path, fmt, **conf)
    return dvr_mod.Dvr.create(ctx), hooks


def test_dvr_apply_and_enabled(tmp_path):
    assert dvr_mod.applies(["all"], "live", "s") and dvr_mod.applies([], "live", "s")
    assert dvr_mod.applies(["live/a", "live/s"], "live", "s")
    assert not dvr_mod.applies(["live/a", "other/s"], "live", "s")
    assert _feature(tmp_path, "flv", dvr_apply=["live/other"])[0] is None
    assert _feature(tmp_path, "flv", enabled=False)[0] is None
    assert _feature(tmp_path, "flv", dvr_apply=["live/s"])[0] is not None


@pytest.mark.parametrize("fmt", ["flv", "mp4"])
def test_a_publish_without_media_still_gives_a_file(tmp_path, fmt):
    feature, hooks = _feature(tmp_path, fmt)
    feature.on_publish()
    feature.on_unpublish()
    [call] = hooks.calls
    data = open(call.file, "rb").read()
    if fmt == "flv":
        assert data == flv.file_header()
    else:
        assert [data[i + 4:i + 8] for i in (0, 32, 40)] == [b"ftyp", b"free", b"mdat"] and b"moov" in data


def test_an_mp4_codec_change_starts_a_new_file(tmp_path):
    feature, hooks = _feature(tmp_path, "mp4")
    feature.on_publish()
    for msg in _messages(30):
        feature.on_media(msg)
    other_sh = AVC_SH.replace(bytes.fromhex("6764000d"), bytes.fromhex("6764000e"))
    feature.on_media(SharedMessage(MSG_VIDEO, 1300, other_sh))
    for msg in list(_messages(30))[2:]:
        feature.on_media(SharedMessage(msg.type_id, msg.timestamp + 1340, msg.payload))
    feature.on_unpublish()
    assert len(hooks.calls) == 2
    first, second = (open(c.file, "rb").read() for c in hooks.calls)
    assert AVC_SH[5:] in first and other_sh[5:] not in first
    assert other_sh[5:] in second and AVC_SH[5:] not in second


AVC_SH = bytes.fromhex("17000000000164000dffe100176764000dacb40a0fd808800000030080000019078a155001"
                       "000468ef0fcbfdf8f800")


def _messages(n):
    yield SharedMessage(MSG_VIDEO, 0, AVC_SH)
    yield SharedMessage(MSG_AUDIO, 0, bytes.fromhex("af001208"))
    for i in range(n):
        yield SharedMessage(MSG_VIDEO, i * 40, (b"\x17" if i % 25 == 0 else b"\x27") + b"\x01\x00\x00\x00" + bytes(500))
        yield SharedMessage(MSG_AUDIO, i * 40, b"\xaf\x01" + bytes(100))


@pytest.mark.parametrize("fmt", ["flv", "mp4"])
def test_a_disk_error_ends_the_recording_but_keeps_the_file(tmp_path, fmt, monkeypatch):
    """ENOSPC while writing: the feature raises (the hub logs it and stops it), then on_unpublish
    (what the hub calls next) closes and renames what was written and reports it."""
    feature, hooks = _feature(tmp_path, fmt)
    feature.on_publish()
    written = {"n": 0}
    real_write = dvr_files.DvrFile.write

    def failing_write(self, *parts):
        written["n"] += 1
        if written["n"] > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, *parts)

    monkeypatch.setattr(dvr_files.DvrFile, "write", failing_write)
    with pytest.raises(OSError):
        for msg in _messages(100):
            feature.on_media(msg)
    feature.on_unpublish()
    [call] = hooks.calls
    assert re.search(r"/live/s\.\d{13}\.%s$" % fmt, call.file) and call.cwd == str(tmp_path)
    assert os.path.isfile(call.file) and not os.path.exists(call.file + ".tmp")
    if fmt == "flv":
        tags = list(flv.read_tags(open(call.file, "rb").read()))
        assert 10 < len(tags) < 200


def test_session_file_from_synthetic_messages_starts_at_zero(tmp_path):
    feature, hooks = _feature(tmp_path, "flv")
    feature.on_publish()
    feature.on_metadata(SharedMessage(MSG_DATA, 0, amf0.encode("onMetaData", amf0.EcmaArray(width=320.0))))
    for msg in _messages(50):
        feature.on_media(SharedMessage(msg.type_id, msg.timestamp + 5000, msg.payload))
    feature.on_unpublish()
    [call] = hooks.calls
    tags = list(flv.read_tags(open(call.file, "rb").read()))
    assert [t.type_id for t in tags[:3]] == [18, 9, 8] and tags[0].timestamp == 0
    assert tags[1].timestamp == 0 and tags[-1].timestamp == 49 * 40
    assert amf0.decode_all(tags[0].body)[1]["duration"] == 49 * 40 / 1000.0


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _logger(name):
    log = logging.getLogger("test_dvr." + name)
    handler = _Lines()
    log.addHandler(handler)
    log.propagate = False
    return log, handler.lines


def test_a_close_that_fails_is_logged(tmp_path):
    log, lines = _logger("close")
    f = dvr_files.FlvFile(str(tmp_path / "s.flv"), "full", True, log)
    f.start()

    class FailingClose:
        def __init__(self, inner):
            self.inner = inner

        def close(self):
            self.inner.close()
            raise OSError(errno.EIO, "Input/output error")

    f.f = FailingClose(f.f)
    f.close_quietly()
    assert len(lines) == 1 and "s.flv.tmp" in lines[0] and "Input/output error" in lines[0], lines


def test_the_hub_logs_a_feature_that_cannot_even_close(tmp_path, monkeypatch):
    """A write error stops the feature; the hub then calls its on_unpublish, which fails too (the
    rename is refused): both causes are logged, and the publish goes on."""
    log, lines = _logger("hub")
    ctx, hooks = _context(tmp_path, "flv", log=log)
    hub = OriginHub.start(ctx)
    [feature] = hub.features

    def no_space(self, *parts):
        raise OSError(errno.ENOSPC, "No space left on device")

    def no_rename(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(dvr_files.DvrFile, "write", no_space)
    monkeypatch.setattr(dvr_files.os, "rename", no_rename)
    hub.on_media(SharedMessage(MSG_VIDEO, 0, AVC_SH))
    assert hub.features == [] and feature.file is None and hooks.calls == []
    assert any("on_media failed" in line and "No space left" in line for line in lines), lines
    assert any("on_unpublish after that failed too" in line and "Read-only" in line for line in lines), lines
