"""srsish.app.config: SRS syntax and its error rules, strict checking, defaults, legacy forms, env overrides."""
import logging
import os

import pytest

from srsish.app.config import Config, ConfigError, load_config
from srsish.core import errors

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CONFS = os.path.join(HERE, "confs")
MINIMAL = "listen 1935;\n"


@pytest.fixture
def conf(tmp_path, monkeypatch):
    """Write `text` to x.conf in a fresh cwd and load it; returns (load, path)."""
    monkeypatch.chdir(tmp_path)

    def load(text, env=None, name="x.conf"):
        (tmp_path / name).write_text(text)
        return load_config(name, env or {})
    return load


def error_of(load, text, env=None):
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return str(info.value)


def sample(name, env=None):
    return load_config(os.path.join(CONFS, name), env or {})


# ---- syntax ----------------------------------------------------------------------------------------

def test_config_error_is_the_core_error():
    assert ConfigError is errors.ConfigError


def test_quotes_comments_and_compact_blocks(conf):
    cfg = conf('listen 1935; # trailing comment\n'
               "pid   'objs/my srs.pid';\n"
               'vhost a.com{hls{hls_entry_prefix "http://x/#frag";}}\n'
               'vhost b.com { http_hooks { enabled on; on_play "http://h/p?a=1&b=2" http://h/q; } }\n')
    assert cfg.pid == "objs/my srs.pid"
    assert cfg.vhost("a.com")["hls"]["hls_entry_prefix"] == "http://x/#frag"
    assert cfg.vhost("b.com")["http_hooks"]["on_play"] == ["http://h/p?a=1&b=2", "http://h/q"]


def test_hash_inside_a_word_is_not_a_comment(conf):
    cfg = conf("listen 1935;\nvhost a { http_remux { mount /live#x/[stream].flv; } }\n")
    assert cfg.vhost("a")["http_remux"]["mount"] == "/live#x/[stream].flv"


def test_crlf_line_endings(conf):
    cfg = conf("listen 1936;\r\nvhost a {\r\n  enabled off;\r\n}\r\n")
    assert cfg.listen == [("0.0.0.0", 1936)]
    assert cfg.vhost("a")["enabled"] is False


@pytest.mark.parametrize("text, expected", [
    ("daemon off;\nlisten 1935\nvhost a {}\n",
     'x.conf:2: unexpected end of line, expecting ";" or "{" (directive "listen")'),
    ("listen\n  1935;\n", 'x.conf:1: unexpected end of line, expecting ";" or "{" (directive "listen")'),
    ("listen 1935;\nvhost a\n{\n}\n", 'x.conf:2: unexpected end of line, expecting ";" or "{" (directive "vhost")'),
    ("listen 1935;\nvhost a {\n  hls { enabled on }\n}\n",
     'x.conf:3: unexpected "}", expecting ";" (directive "enabled")'),
    ("listen 1935;\n}\n", 'x.conf:2: unexpected "}", no block is open'),
    ("listen 1935;\nvhost a {\n  hls {\n  }\n", 'x.conf:2: unexpected end of file, "vhost" block is not closed'),
    ("listen 1935;\npid \"objs/srs.pid;\n", 'x.conf:2: unterminated quote " (directive "pid")'),
    ("listen 1935;\npid 'objs/srs.pid;\n", "x.conf:2: unterminated quote ' (directive \"pid\")"),
    ("listen 1935;\npid \"a\"b;\n", 'x.conf:2: unexpected "b" after a quoted argument (directive "pid")'),
    ("listen 1935;\n  ;\n", 'x.conf:2: unexpected ";"'),
    ("listen 1935;\n{ }\n", 'x.conf:2: unexpected "{"'),
    ("# only a comment\n\n", "x.conf:1: the config is empty, it has no directive"),
    ("", "x.conf:1: the config is empty, it has no directive"),
])
def test_syntax_errors_name_file_line_and_directive(conf, text, expected):
    assert error_of(conf, text) == expected


def test_missing_file():
    with pytest.raises(ConfigError, match="nope/x.conf: no such config file"):
        load_config("nope/x.conf", {})


# ---- include -----------------------------------------------------------------------------------------

def test_include_is_relative_to_cwd_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "vhost.conf").write_text("vhost inc.com {\n  include inc/hooks.conf;\n}\n")
    (tmp_path / "inc" / "hooks.conf").write_text("http_hooks { enabled on; on_connect http://a; }\n")
    (tmp_path / "conf" / "main.conf").write_text("listen 1935;\ninclude inc/vhost.conf;\ndaemon off;\n")
    cfg = load_config("conf/main.conf", {})
    assert cfg.vhost_names == ["inc.com"]
    assert cfg.vhost("inc.com")["http_hooks"]["on_connect"] == ["http://a"]
    assert cfg.daemon is False


def test_include_relative_to_the_file_is_not_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "vhost.conf").write_text("vhost a {}\n")
    (tmp_path / "conf" / "main.conf").write_text("listen 1935;\n\ninclude vhost.conf;\n")
    with pytest.raises(ConfigError) as info:
        load_config("conf/main.conf", {})
    assert str(info.value) == 'conf/main.conf:3: include "vhost.conf": no such file'


def test_errors_inside_an_included_file_name_that_file(conf, tmp_path):
    (tmp_path / "bad.conf").write_text("vhost a {\n  play { gop_cache maybe; }\n}\n")
    message = error_of(conf, "listen 1935;\ninclude bad.conf;\n")
    assert message == 'bad.conf:2: invalid value for "vhost.play.gop_cache": "maybe" is not on or off'


def test_include_errors(conf, tmp_path):
    (tmp_path / "loop.conf").write_text("include loop.conf;\n")
    assert "include cycle" in error_of(conf, "listen 1935;\ninclude loop.conf;\n")
    assert error_of(conf, "listen 1935;\ninclude;\n") == 'x.conf:2: "include" needs a file name'
    assert error_of(conf, "listen 1935;\ninclude a.conf {}\n") == 'x.conf:2: unexpected "{" (directive "include")'


# ---- strict checking and ignored SRS directives --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("listen 1935;\nfoo on;\n", 'x.conf:2: illegal directive "foo"'),
    ("listen 1935;\nvhost a {\n  hls {\n    foo 1;\n  }\n}\n", 'x.conf:4: illegal directive "vhost.hls.foo"'),
    ("listen 1935;\nvhost a {\n  hook on;\n}\n", 'x.conf:3: illegal directive "vhost.hook"'),
    ("listen 1935;\nhttp_api { auth { user a; } }\n", 'x.conf:2: illegal directive "http_api.auth.user"'),
    ("listen 1935;\nvhost a { http_hooks { on_accept http://a; } }\n",
     'x.conf:2: illegal directive "vhost.http_hooks.on_accept"'),
    ("listen 1935;\nvhost a { security { permit play all; } }\n",
     'x.conf:2: illegal directive "vhost.security.permit"'),
    ("listen 1935;\nvhost a { mr { enabled on; delay 1; } }\n", 'x.conf:2: illegal directive "vhost.mr.delay"'),
    ("listen 1935;\nrtmp { listen 1935; port 1; }\n", 'x.conf:2: illegal directive "rtmp.port"'),
    ("listen 1935;\nvhost a { hls on; }\n", 'x.conf:2: "vhost.hls" must be a block: hls { ... }'),
    ("listen 1935;\nvhost a { enabled { } }\n", 'x.conf:2: "vhost.enabled" is not a block, expecting ";"'),
    ("listen 1935;\nvhost { }\n", 'x.conf:2: "vhost" takes exactly one name before "{", got 0'),
    ("listen 1935;\nhttp_api on { }\n", 'x.conf:2: "http_api" takes no arguments before "{", got 1'),
    ("listen 1935;\nvhost a { security { allow all; } }\n",
     'x.conf:2: "vhost.security.allow" expects: allow publish|play all|<ip>|<cidr>;'),
    ("listen 1935;\nis_full on;\n", "x.conf:2: \"is_full on\" marks SRS's full.conf, a reference, not a config to run"),
])
def test_strict_check(conf, text, expected):
    assert error_of(conf, text) == expected


def test_known_srs_directives_are_ignored_with_a_warning(conf, caplog):
    text = ("listen 1935;\nff_log_dir ./objs;\nrtc_server { enabled on; listen 8000; }\n"
            "vhost a {\n  rtc { enabled on; }\n  transcode { engine x { vcodec copy; } }\n"
            "  hls { hls_keys on; }\n}\nis_full off;\n")
    with caplog.at_level(logging.WARNING, logger="srsish"):
        cfg = conf(text)
    assert cfg.warnings == [
        'x.conf:2: "ff_log_dir" is not implemented by srsish, ignored',
        'x.conf:3: "rtc_server" is not implemented by srsish, ignored',
        'x.conf:5: "vhost.rtc" is not implemented by srsish, ignored',
        'x.conf:6: "vhost.transcode" is not implemented by srsish, ignored',
        'x.conf:7: "vhost.hls.hls_keys" is not implemented by srsish, ignored',
        'x.conf:9: "is_full" is not implemented by srsish, ignored',
    ]
    assert "rtc_server" not in cfg.root and "rtc" not in cfg.vhost("a")
    assert 'x.conf:5: "vhost.rtc" is not implemented by srsish, ignored' in caplog.text


def test_repeated_directives_first_wins_with_a_warning(conf):
    cfg = conf("listen 1935;\nmax_connections 10;\nmax_connections 20;\nvhost a { enabled off; }\n"
               "vhost a { enabled on; }\n")
    assert cfg.max_connections == 10
    assert cfg.vhost("a")["enabled"] is False
    assert cfg.warnings == ['x.conf:3: duplicate "max_connections" ignored, the first one wins',
                            'x.conf:5: duplicate "vhost a" ignored, the first one wins']


# ---- values and types ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("listen 1935;\ndaemon of;\n", 'x.conf:2: invalid value for "daemon": "of" is not on or off'),
    ("listen 1935;\nutc_time true;\n", 'x.conf:2: invalid value for "utc_time": "true" is not on or off'),
    ("listen 1935;\nvhost a {\n play { gop_cache 1; }\n}\n",
     'x.conf:3: invalid value for "vhost.play.gop_cache": "1" is not on or off'),
    ("listen 1935;\nvhost a { http_hooks { enabled yes; } }\n",
     'x.conf:2: invalid value for "vhost.http_hooks.enabled": "yes" is not on or off'),
    ("listen 1935;\nchunk_size 127;\n", 'x.conf:2: invalid value for "chunk_size": 127 is out of range [128, 65536]'),
    ("listen 1935;\nchunk_size 65537;\n",
     'x.conf:2: invalid value for "chunk_size": 65537 is out of range [128, 65536]'),
    ("listen 1935;\nvhost a {\n\n chunk_size 100;\n}\n",
     'x.conf:4: invalid value for "vhost.chunk_size": 100 is out of range [128, 65536]'),
    ("listen 1935;\nmax_connections many;\n",
     'x.conf:2: invalid value for "max_connections": "many" is not an integer'),
    ("listen 1935;\nmax_connections 0;\n", 'x.conf:2: invalid value for "max_connections": 0 must be >= 1'),
    ("listen 1935;\nvhost a { play { mw_msgs 129; } }\n",
     'x.conf:2: invalid value for "vhost.play.mw_msgs": 129 is out of range [0, 128]'),
    ("listen 1935;\nvhost a { play { time_jitter fast; } }\n",
     'x.conf:2: invalid value for "vhost.play.time_jitter": "fast" is not one of: full, zero, off'),
    ("listen 1935;\nvhost a { play { queue_length inf; } }\n",
     'x.conf:2: invalid value for "vhost.play.queue_length": "inf" is not a finite number'),
    ("listen 1935;\nvhost a { http_hooks { timeout 0; } }\n",
     'x.conf:2: invalid value for "vhost.http_hooks.timeout": 0 must be > 0'),
    ("listen 1935;\nvhost a { dvr { dvr_plan append; } }\n",
     'x.conf:2: invalid value for "vhost.dvr.dvr_plan": "append" is not one of: session, segment'),
    ("listen 1935;\npid a b;\n", 'x.conf:2: invalid value for "pid": takes exactly one argument, got 2'),
    ("listen 1935;\nsrs_log_tank syslog;\n",
     'x.conf:2: invalid value for "srs_log_tank": "syslog" is not one of: console, file'),
    ("listen abc;\n", 'x.conf:1: invalid value for "listen": "abc" is not [ip:]port'),
    ("listen 1935 70000;\n", 'x.conf:1: invalid value for "listen": "70000": port 70000 is out of range [1, 65535]'),
    ("listen 1.2.3:1935;\n", 'x.conf:1: invalid value for "listen": "1.2.3:1935" is not [ip:]port'),
    ("listen ::1:1935;\n", 'x.conf:1: invalid value for "listen": "::1:1935": write an IPv6 address as [addr]:port'),
    ("listen;\n", 'x.conf:1: invalid value for "listen": needs at least one [ip:]port'),
    ("listen 1935;\nhttp_api { listen localhost:1985; }\n",
     'x.conf:2: invalid value for "http_api.listen": "localhost:1985" is not [ip:]port'),
])
def test_bad_values(conf, text, expected):
    assert error_of(conf, text) == expected


def test_every_bad_value_is_reported(conf):
    message = error_of(conf, "listen 1935;\ndaemon x;\nvhost a { play { atc y; } }\n")
    assert message.splitlines() == ['x.conf:2: invalid value for "daemon": "x" is not on or off',
                                    'x.conf:3: invalid value for "vhost.play.atc": "y" is not on or off']


def test_booleans_are_case_insensitive(conf):
    cfg = conf("listen 1935;\ndaemon ON;\nutc_time On;\nvhost a { play { gop_cache OFF; } }\n")
    assert cfg.daemon is True and cfg.utc_time is True
    assert cfg.vhost("a")["play"]["gop_cache"] is False


def test_listen_forms(conf):
    cfg = conf("listen 1935 127.0.0.1:19350 [::1]:1936;\n")
    assert cfg.listen == [("0.0.0.0", 1935), ("127.0.0.1", 19350), ("::1", 1936)]


def test_listen_is_required(conf):
    assert error_of(conf, "daemon off;\n") == 'x.conf: directive "listen" is required, e.g. "listen 1935;"'


# ---- defaults -------------------------------------------------------------------------------------------

def test_global_defaults(conf):
    cfg = conf(MINIMAL)
    assert isinstance(cfg, Config) and cfg.path == "x.conf"
    assert cfg.listen == [("0.0.0.0", 1935)]
    assert (cfg.max_connections, cfg.chunk_size, cfg.pid) == (1000, 60000, "./objs/srs.pid")
    assert (cfg.daemon, cfg.log_tank, cfg.log_file, cfg.log_level) == (True, "file", "./objs/srs.log", "trace")
    assert (cfg.server_id, cfg.work_dir, cfg.utc_time, cfg.root["pithy_print_ms"]) == (None, "./", False, 10000)
    assert cfg.warnings == []


def test_section_defaults(conf):
    cfg = conf(MINIMAL)
    api = cfg.section("http_api")
    assert (api["enabled"], api["listen"], api["crossdomain"]) == (False, "1985", True)
    assert api["auth"] == {"enabled": False, "username": "", "password": ""}
    assert api["raw_api"] == {"enabled": False, "allow_reload": False, "allow_query": False, "allow_update": False}
    assert (api["https"]["enabled"], api["https"]["listen"]) == (False, "1990")
    server = cfg.section("http_server")
    assert (server["enabled"], server["listen"], server["dir"], server["crossdomain"]) == \
        (False, "8080", "./objs/nginx/html", True)
    assert server["https"]["listen"] == "8088"
    assert cfg.section("heartbeat") == {"enabled": False, "interval": 10.0,
                                        "url": "http://127.0.0.1:8085/api/v1/servers",
                                        "device_id": "", "summaries": False, "ports": False, "secret": None}
    assert cfg.section("stats") == {"enabled": True, "network": 0, "disk": []}
    with pytest.raises(KeyError):
        cfg.section("vhost")
    with pytest.raises(KeyError):
        cfg.section("listen")


def test_no_vhost_means_none(conf):
    cfg = conf(MINIMAL)
    assert cfg.vhost("any.com") is None and cfg.vhost_names == []


def test_vhost_defaults(conf):
    v = conf(MINIMAL + "vhost __defaultVhost__ {}\n").vhost("whatever.com")
    assert v["name"] == "__defaultVhost__"
    assert (v["enabled"], v["chunk_size"], v["tcp_nodelay"], v["min_latency"]) == (True, 60000, False, False)
    assert (v["in_ack_size"], v["out_ack_size"]) == (0, 2500000)
    assert v["play"] == {"gop_cache": True, "gop_cache_max_frames": 2500, "queue_length": 30.0, "time_jitter": "full",
                         "mix_correct": False, "atc": False, "atc_auto": False, "mw_latency": 350, "mw_msgs": 8,
                         "send_min_interval": 0.0, "reduce_sequence_header": False}
    assert v["publish"] == {"mr": False, "mr_latency": 350, "firstpkt_timeout": 20000, "normal_timeout": 5000,
                            "parse_sps": True, "try_annexb_first": True, "kickoff_for_idle": 0.0}
    hooks = v["http_hooks"]
    assert (hooks["enabled"], hooks["timeout"], hooks["tls_verify"]) == (False, 30.0, True)
    for event in ("on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop", "on_dvr", "on_hls",
                  "on_hls_notify"):
        assert hooks[event] == []
    assert v["http_remux"] == {"enabled": False, "mount": "[vhost]/[app]/[stream].flv", "fast_cache": 0.0,
                               "drop_if_not_match": True, "has_audio": True, "has_video": True, "guess_has_av": True}
    assert v["dvr"] == {"enabled": False, "dvr_apply": ["all"], "dvr_plan": "session",
                        "dvr_path": "./objs/nginx/html/[app]/[stream].[timestamp].flv", "dvr_duration": 30.0,
                        "dvr_wait_keyframe": True, "time_jitter": "full"}
    hls = v["hls"]
    assert (hls["enabled"], hls["hls_fragment"], hls["hls_td_ratio"], hls["hls_aof_ratio"], hls["hls_window"]) == \
        (False, 10.0, 1.0, 2.1, 60.0)
    assert (hls["hls_path"], hls["hls_m3u8_file"], hls["hls_ts_file"]) == \
        ("./objs/nginx/html", "[app]/[stream].m3u8", "[app]/[stream]-[seq].ts")
    assert (hls["hls_on_error"], hls["hls_entry_prefix"], hls["hls_acodec"], hls["hls_vcodec"]) == \
        ("continue", None, "aac", "h264")
    assert (hls["hls_ts_floor"], hls["hls_cleanup"], hls["hls_dispose"], hls["hls_wait_keyframe"]) == \
        (False, True, 120.0, True)
    assert (hls["hls_nb_notify"], hls["hls_ctx"], hls["hls_ts_ctx"], hls["hls_dts_directly"]) == (64, True, True, True)
    assert v["security"] == {"enabled": False, "rules": []}
    assert v["refer"] == {"enabled": False, "all": [], "publish": [], "play": []}
    assert v["http_static"] == {"enabled": False, "mount": "[vhost]/", "dir": "./objs/nginx/html"}


def test_vhost_lookup_and_resolution(conf):
    cfg = conf("listen 1935;\nchunk_size 4096;\nvhost __defaultVhost__ {}\n"
               "vhost fast.com {\n  min_latency on;\n  chunk_size 128;\n}\n"
               "vhost set.com { min_latency on; play { mw_msgs 16; } }\n")
    assert cfg.vhost_names == ["__defaultVhost__", "fast.com", "set.com"]
    assert cfg.vhost("fast.com")["name"] == "fast.com"
    assert cfg.vhost("other.com")["name"] == "__defaultVhost__"
    assert cfg.vhost("other.com")["chunk_size"] == 4096
    assert cfg.vhost("fast.com")["chunk_size"] == 128
    assert cfg.vhost("fast.com")["play"]["mw_msgs"] == 0
    assert cfg.vhost("set.com")["play"]["mw_msgs"] == 16
    assert cfg.root["vhost"]["fast.com"] is cfg.vhost("fast.com")


def test_units_and_types(conf):
    v = conf("listen 1935;\nvhost a {\n play { queue_length 2.5; mw_latency 100; }\n"
             " publish { firstpkt_timeout 3000; }\n hls { hls_fragment 1.5; }\n"
             " http_hooks { timeout 2.5; tls_verify off; }\n}\n").vhost("a")
    assert v["play"]["queue_length"] == 2.5 and v["play"]["mw_latency"] == 100
    assert isinstance(v["publish"]["firstpkt_timeout"], int) and v["publish"]["firstpkt_timeout"] == 3000
    assert v["hls"]["hls_fragment"] == 1.5
    assert (v["http_hooks"]["timeout"], v["http_hooks"]["tls_verify"]) == (2.5, False)


def test_security_rules_keep_their_order(conf):
    v = conf("listen 1935;\nvhost a {\n security {\n  enabled on;\n  deny publish 10.0.0.0/8;\n"
             "  allow play all;\n  allow publish 127.0.0.1;\n }\n}\n").vhost("a")
    assert v["security"] == {"enabled": True, "rules": [("deny", "publish", "10.0.0.0/8"), ("allow", "play", "all"),
                                                        ("allow", "publish", "127.0.0.1")]}


def test_log_level_v2_wins(conf):
    assert conf("listen 1935;\nsrs_log_level warn;\n").log_level == "warn"
    assert conf("listen 1935;\nsrs_log_level warn;\nsrs_log_level_v2 DEBUG;\n").log_level == "debug"


# ---- legacy forms ---------------------------------------------------------------------------------------

def test_legacy_forms_are_rewritten():
    cfg = sample("legacy.conf")
    v = cfg.vhost("__defaultVhost__")
    assert v["play"] == {"gop_cache": False, "queue_length": 10.0, "time_jitter": "zero", "mw_latency": 100,
                         "atc": True, "atc_auto": True, "mix_correct": True, "send_min_interval": 10.0,
                         "reduce_sequence_header": True, "gop_cache_max_frames": 100, "mw_msgs": 8}
    p = v["publish"]
    assert (p["mr"], p["mr_latency"], p["firstpkt_timeout"], p["normal_timeout"]) == (True, 500, 3000, 7000)
    assert v["refer"] == {"enabled": True, "all": ["a.com", "b.com"], "play": ["c.com"], "publish": ["d.com"]}
    assert v["http_static"] == {"enabled": True, "mount": "[vhost]/hls", "dir": "./objs/nginx/html/hls"}
    assert cfg.section("http_server")["enabled"] is True
    assert 'legacy.conf:8: legacy "vhost.gop_cache" read as "vhost.play.gop_cache"' in "\n".join(cfg.warnings)
    assert v["forward"] == {"enabled": True, "destination": ["127.0.0.1:19350"], "backend": None}
    assert (v["cluster"]["mode"], v["cluster"]["origin"]) == ("remote", ["127.0.0.1:1935"])


def test_legacy_flat_form_wins_over_the_block_and_errors_keep_its_line(conf):
    v = conf("listen 1935;\nvhost a {\n play { gop_cache on; queue_length 5; }\n gop_cache off;\n}\n").vhost("a")
    assert (v["play"]["gop_cache"], v["play"]["queue_length"]) == (False, 5.0)
    message = error_of(conf, "listen 1935;\nvhost a {\n mr on;\n publish_normal_timeout soon;\n}\n")
    assert message == 'x.conf:4: invalid value for "vhost.publish.normal_timeout": "soon" is not an integer'


def test_hstrs_is_dropped():
    assert sample("http.flv.live.conf").vhost("x")["http_remux"]["enabled"] is True


# ---- environment overrides --------------------------------------------------------------------------------

def test_env_overrides_win_over_the_file(conf):
    cfg = conf("listen 1935;\nmax_connections 10;\ndaemon on;\nhttp_api { enabled off; }\n"
               "vhost a { play { gop_cache on; } }\nvhost b {}\n",
               {"SRS_LISTEN": "1936 127.0.0.1:1937", "SRS_MAX_CONNECTIONS": "20", "SRS_DAEMON": "off",
                "SRS_PID": "/tmp/x.pid", "SRS_HTTP_API_ENABLED": "on", "SRS_HTTP_API_LISTEN": "11985",
                "SRS_HTTP_SERVER_DIR": "/srv/html", "SRS_VHOST_PLAY_GOP_CACHE": "off",
                "SRS_VHOST_HTTP_HOOKS_ENABLED": "on", "SRS_VHOST_HTTP_HOOKS_ON_PUBLISH": "http://a http://b",
                "SRS_VHOST_HLS_HLS_FRAGMENT": "2.5", "SRS_HTTP_API_AUTH_USERNAME": "admin",
                "SRS_MAX_CONNECTIONS_TYPO": "1", "SRS_CONFIG_FILE": ""})
    assert cfg.listen == [("0.0.0.0", 1936), ("127.0.0.1", 1937)]
    assert (cfg.max_connections, cfg.daemon, cfg.pid) == (20, False, "/tmp/x.pid")
    assert (cfg.section("http_api")["enabled"], cfg.section("http_api")["listen"]) == (True, "11985")
    assert cfg.section("http_api")["auth"]["username"] == "admin"
    assert cfg.section("http_server")["dir"] == "/srv/html"
    for name in ("a", "b"):
        v = cfg.vhost(name)
        assert v["play"]["gop_cache"] is False
        assert v["http_hooks"]["enabled"] is True
        assert v["http_hooks"]["on_publish"] == ["http://a", "http://b"]
        assert v["hls"]["hls_fragment"] == 2.5


def test_env_log_file_aliases(conf):
    assert conf(MINIMAL, {"SRS_LOG_FILE": "a.log"}).log_file == "a.log"
    assert conf(MINIMAL, {"SRS_LOG_FILE": "a.log", "SRS_SRS_LOG_FILE": "b.log"}).log_file == "b.log"
    assert conf(MINIMAL, {"SRS_LOG_TANK": "console"}).log_tank == "console"


def test_empty_env_var_is_unset(conf):
    assert conf("listen 1935;\ndaemon off;\n", {"SRS_DAEMON": ""}).daemon is False


def test_env_values_are_checked_and_named(conf):
    assert error_of(conf, MINIMAL, {"SRS_DAEMON": "false"}) == \
        'env SRS_DAEMON: invalid value for "daemon": "false" is not on or off'
    assert error_of(conf, MINIMAL + "vhost a {}\n", {"SRS_VHOST_CHUNK_SIZE": "64"}) == \
        'env SRS_VHOST_CHUNK_SIZE: invalid value for "vhost.chunk_size": 64 is out of range [128, 65536]'


def test_env_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config("does-not-exist.conf", {"SRS_ENV_ONLY": "1", "SRS_VHOST_HTTP_HOOKS_ENABLED": "on",
                                              "SRS_HTTP_SERVER_ENABLED": "on"})
    assert cfg.path is None
    assert cfg.vhost_names == ["__defaultVhost__"]
    assert cfg.vhost("any")["http_hooks"]["enabled"] is True
    assert cfg.section("http_server")["enabled"] is True
    assert (cfg.listen, cfg.daemon, cfg.log_tank) == ([("0.0.0.0", 1935)], False, "console")
    cfg = load_config(None, {"SRS_LISTEN": "1999", "SRS_DAEMON": "on", "SRS_LOG_TANK": "file"})
    assert (cfg.path, cfg.listen, cfg.daemon, cfg.log_tank) == (None, [("0.0.0.0", 1999)], True, "file")


def test_env_config_file_replaces_the_path(conf, tmp_path):
    (tmp_path / "other.conf").write_text("listen 2000;\n")
    cfg = conf(MINIMAL, {"SRS_CONFIG_FILE": "other.conf"})
    assert (cfg.path, cfg.listen) == ("other.conf", [("0.0.0.0", 2000)])


def test_default_env_is_os_environ(conf, monkeypatch):
    for name in ("SRS_ENV_ONLY", "SRS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SRS_MAX_CONNECTIONS", "33")
    conf(MINIMAL)
    assert load_config("x.conf").max_connections == 33
    assert load_config("x.conf", {}).max_connections == 1000


# ---- shipped and SRS-shaped confs ---------------------------------------------------------------------------

def test_shipped_srs_conf_runs_as_is(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config("conf/srs.conf", {})
    assert cfg.warnings == []
    assert cfg.listen == [("0.0.0.0", 1935)] and cfg.max_connections == 1000
    assert (cfg.daemon, cfg.log_tank) == (False, "console")
    # as SRS's default conf: the API on 1985, files, HTTP-FLV and HLS on 8080
    assert (cfg.section("http_api")["enabled"], cfg.section("http_api")["listen"]) == (True, "1985")
    assert (cfg.section("http_server")["enabled"], cfg.section("http_server")["listen"]) == (True, "8080")
    v = cfg.vhost("live.example.com")
    assert (v["play"]["gop_cache"], v["http_remux"]["enabled"], v["hls"]["enabled"]) == (True, True, True)


def test_shipped_rtmp_conf_runs_as_is(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config("conf/rtmp.conf", {})
    assert cfg.warnings == []
    assert (cfg.listen, cfg.daemon, cfg.log_tank, cfg.vhost_names) == \
        ([("0.0.0.0", 1935)], False, "console", ["__defaultVhost__"])


def test_srs5_main_conf_shape():
    cfg = sample("srs5.conf")
    v = cfg.vhost("x")
    assert (cfg.daemon, cfg.section("http_api")["enabled"], cfg.section("http_server")["enabled"]) == (True, True, True)
    assert (v["hls"]["enabled"], v["http_remux"]["enabled"], v["play"]["gop_cache_max_frames"]) == (True, True, 2500)
    assert [w.split(": ", 1)[1] for w in cfg.warnings] == ['"rtc_server" is not implemented by srsish, ignored',
                                                          '"vhost.rtc" is not implemented by srsish, ignored']


def test_srs7_rtmp_block_shape():
    cfg = sample("console7.conf")
    assert (cfg.listen, cfg.chunk_size) == ([("0.0.0.0", 19350)], 4096)
    assert "rtmp" not in cfg.root


def test_hooks_sample_shape():
    hooks = sample("http.hooks.callback.conf").vhost("x")["http_hooks"]
    assert hooks["enabled"] is True
    assert hooks["on_publish"] == ["http://127.0.0.1:8085/api/v1/streams", "http://localhost:8085/api/v1/streams"]
    assert hooks["on_hls_notify"] == ["http://127.0.0.1:8085/api/v1/hls/[app]/[stream]/[ts_url][param]"]


def test_hls_and_dvr_sample_shapes():
    assert sample("hls.conf").vhost("x")["hls"]["enabled"] is True
    assert sample("dvr.session.conf").vhost("x")["dvr"]["dvr_plan"] == "session"
    dvr = sample("dvr.segment.conf").vhost("x")["dvr"]
    assert (dvr["enabled"], dvr["dvr_plan"], dvr["dvr_duration"]) == (True, "segment", 30.0)


def test_api_sample_shape():
    cfg = sample("http.api.raw.conf")
    api = cfg.section("http_api")
    assert api["raw_api"] == {"enabled": True, "allow_reload": True, "allow_query": True, "allow_update": True}
    assert (api["auth"]["enabled"], api["auth"]["username"], api["auth"]["password"]) == (True, "admin", "admin")
    assert cfg.section("stats")["disk"] == ["sda", "sdb", "xvda", "xvdb"]
    assert (cfg.section("heartbeat")["interval"], cfg.section("heartbeat")["device_id"]) == (9.3, "my-srs-device")


def test_many_vhosts_sample_shape():
    cfg = sample("many.vhosts.conf")
    assert len(cfg.vhost_names) == 10
    assert cfg.vhost("security.srs.com")["security"]["rules"][0] == ("deny", "publish", "10.0.0.0/8")
    assert cfg.vhost("refer.anti_suck.com")["refer"]["all"] == ["github.com", "github.io"]
    fast = cfg.vhost("min.delay.com")
    assert (fast["min_latency"], fast["tcp_nodelay"], fast["play"]["mw_msgs"], fast["play"]["gop_cache"]) == \
        (True, True, 0, False)
    assert cfg.vhost("chunksize.srs.com")["chunk_size"] == 128
    hls = cfg.vhost("with-hls.srs.com")["hls"]
    assert (hls["hls_fragment"], hls["hls_td_ratio"], hls["hls_on_error"], hls["hls_entry_prefix"]) == \
        (2.5, 1.5, "ignore", "http://your-server")
    ignored = {w.split('"')[1] for w in cfg.warnings}
    assert ignored == {"ff_log_dir", "grace_start_wait", "grace_final_wait", "force_grace_quit", "inotify_auto_reload",
                       "stream_caster", "srt_server", "vhost.ingest", "vhost.transcode",
                       "vhost.hls.hls_storage", "vhost.hls.hls_keys"}
