"""Every SPEC directive either works or is reported: NOT_IMPLEMENTED cannot rot, and setting one warns with file:line."""
import os
import re
import subprocess
import sys

import pytest

from srsish.app.config import NOT_IMPLEMENTED, load_config, spec_defaults
from srsish.app.config.spec import IGNORED, SPEC_TREE, not_implemented_name

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(REPO, "srsish")
# These config modules name every directive without acting on any; the rest of srsish/ is what reads them.
NAMING_ONLY = {os.path.join(SRC, "app", "config", name) for name in ("spec.py", "parser.py", "loader.py", "checks.py")}


def _spec_keys(spec=SPEC_TREE, path: tuple = ()) -> list:
    """The dotted name of every SPEC directive and block (`vhost NAME {}` seen as `vhost`)."""
    out = [".".join(path + (k,)) for k in spec.scalars]
    for sec in spec.sections:
        inner = path if sec == "__many__" else path + (sec,)
        if sec != "__many__":
            out.append(".".join(inner))
        out.extend(_spec_keys(spec[sec], inner))
    return out


def _source_text() -> str:
    parts = []
    for folder, _, files in os.walk(SRC):
        for name in files:
            full = os.path.join(folder, name)
            if name.endswith(".py") and full not in NAMING_ONLY:
                with open(full, encoding="utf-8") as f:
                    parts.append(f.read())
    return "\n".join(parts)


def test_every_spec_key_is_read_or_listed_as_not_implemented():
    source = _source_text()
    unread = [k for k in _spec_keys()
              if not re.search(r"""["']%s["']""" % re.escape(k.split(".")[-1]), source) and not not_implemented_name(k)]
    assert unread == [], f"SPEC keys nothing in srsish/ reads: add them to NOT_IMPLEMENTED or implement them: {unread}"


def test_not_implemented_names_are_spec_keys_and_not_ignored():
    keys = set(_spec_keys())
    assert sorted(NOT_IMPLEMENTED - keys) == []
    assert NOT_IMPLEMENTED.isdisjoint(IGNORED)
    assert {"vhost.security", "vhost.refer"}.isdisjoint(NOT_IMPLEMENTED)


def test_the_scan_sees_a_directive_nobody_reads():
    # The rot check above is only worth something if it can tell read from unread.
    source = _source_text()
    assert re.search(r"""["']queue_length["']""", source)
    assert not re.search(r"""["']hls_dts_directly["']""", source)


@pytest.fixture
def load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()

    def load(text, env=None):
        (tmp_path / "conf" / "x.conf").write_text(text)
        return load_config("conf/x.conf", env or {})
    return load


def _message(where: str, name: str) -> str:
    return f'{where}: "{name}" is accepted but not implemented by srsish, ignored'


def test_unimplemented_directives_warn_with_file_and_line_and_security_refer_do_not(load):
    cfg = load("listen 1935;\n"
               "stats {\n  network 0;\n  disk sda;\n}\n"
               "vhost a {\n  security {\n    enabled on;\n    deny publish all;\n  }\n"
               "  refer { enabled on; all github.com; }\n  http_static { enabled on; }\n}\n")
    assert cfg.unimplemented == [_message("conf/x.conf:4", "stats.disk"),
                                 _message("conf/x.conf:12", "vhost.http_static")]
    assert cfg.warnings == []
    assert cfg.vhost("a")["security"]["rules"] == [("deny", "publish", "all")]


def test_each_unimplemented_directive_warns_once_and_implemented_ones_do_not(load):
    cfg = load("listen 1935;\nvhost a {\n  play { atc on; mix_correct on; gop_cache off; }\n"
               "  publish { firstpkt_timeout 1000; parse_sps off; }\n}\n")
    assert cfg.unimplemented == [_message("conf/x.conf:3", "vhost.play.atc"),
                                 _message("conf/x.conf:3", "vhost.play.mix_correct"),
                                 _message("conf/x.conf:4", "vhost.publish.parse_sps")]


def test_env_overrides_warn_too_and_legacy_refer_is_implemented(load):
    cfg = load("listen 1935;\nvhost a {\n  refer github.com;\n}\n", {"SRS_VHOST_PLAY_ATC": "on"})
    assert cfg.unimplemented == [_message("env SRS_VHOST_PLAY_ATC", "vhost.play.atc")]
    assert cfg.vhost("a")["refer"]["all"] == ["github.com"]


def test_a_conf_without_them_has_no_such_warning(load):
    assert load("listen 1935;\nvhost a { play { gop_cache off; } hls { enabled on; } }\n").unimplemented == []


def test_the_warning_is_logged_at_load(load, caplog):
    with caplog.at_level("WARNING", logger="srsish"):
        load("listen 1935;\nvhost a { http_static { enabled on; } }\n")
    assert _message("conf/x.conf:2", "vhost.http_static") in caplog.text


def test_check_mode_prints_the_unimplemented_warning_and_succeeds(tmp_path):
    (tmp_path / "x.conf").write_text("listen 1935;\nvhost __defaultVhost__ {\n"
                                     "    tcp_nodelay on;\n}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRS_")}
    env["PYTHONPATH"] = REPO
    done = subprocess.run([sys.executable, "-m", "srsish", "-t", "-c", "x.conf"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "srsish: warning: " + _message("x.conf:3", "vhost.tcp_nodelay") in done.stderr
    assert "test is successful" in done.stderr


def test_spec_defaults_gives_a_filled_block():
    hooks = spec_defaults("vhost.http_hooks")
    assert (hooks["enabled"], hooks["timeout"], hooks["tls_verify"], hooks["on_play"]) == (False, 30.0, True, [])
    assert spec_defaults("http_server")["dir"] == "./objs/nginx/html"
    hooks["enabled"] = True
    assert spec_defaults("vhost.http_hooks")["enabled"] is False  # a fresh copy each time
    with pytest.raises(KeyError):
        spec_defaults("vhost.play.gop_cache")
