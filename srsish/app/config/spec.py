"""Which directives srsish knows: SPEC types each one and gives its default; IGNORED and NOT_IMPLEMENTED say what is only accepted."""
from typing import Optional

from configobj import ConfigObj

from srsish.core.naming import DEFAULT_VHOST

__all__ = ["DEFAULT_VHOST", "IGNORED", "NOT_IMPLEMENTED", "SPEC", "SPEC_TREE", "not_implemented_name"]

# The typed layer, in configobj's configspec syntax, one line per directive. The checks: onoff (on/off ->
# bool), int1 and float1 (one number; min, max, gt), choice1 (one of the listed words), str1 (one string),
# words (every argument, a list), endpoints (`[ip:]port ...` -> [(ip, port)]), endpoint (one `[ip:]port`,
# kept as the string), rules (security allow/deny lines, in order). default=None means "not set".
# `[vhost] [[__many__]]` is any `vhost NAME { }`.
SPEC = """
listen = endpoints(default=None)
max_connections = int1(min=1, default=1000)
chunk_size = int1(128, 65536, default=60000)
pid = str1(default="./objs/srs.pid")
daemon = onoff(default=on)
srs_log_tank = choice1(console, file, default=file)
srs_log_file = str1(default="./objs/srs.log")
srs_log_level = choice1(verbose, info, trace, warn, error, default=trace)
srs_log_level_v2 = choice1(trace, debug, info, warn, error, default=None)
server_id = str1(default=None)
work_dir = str1(default="./")
utc_time = onoff(default=off)
pithy_print_ms = int1(min=1, default=10000)
hook_outbox = str1(default=None)
[http_api]
enabled = onoff(default=off)
listen = endpoint(default="1985")
crossdomain = onoff(default=on)
[[auth]]
enabled = onoff(default=off)
username = str1(default="")
password = str1(default="")
[[raw_api]]
enabled = onoff(default=off)
allow_reload = onoff(default=off)
allow_query = onoff(default=off)
allow_update = onoff(default=off)
[[https]]
enabled = onoff(default=off)
listen = endpoint(default="1990")
key = str1(default="./conf/server.key")
cert = str1(default="./conf/server.crt")
[http_server]
enabled = onoff(default=off)
listen = endpoint(default="8080")
dir = str1(default="./objs/nginx/html")
crossdomain = onoff(default=on)
[[https]]
enabled = onoff(default=off)
listen = endpoint(default="8088")
key = str1(default="./conf/server.key")
cert = str1(default="./conf/server.crt")
[heartbeat]
enabled = onoff(default=off)
interval = float1(min=1, default=10)
url = str1(default="http://127.0.0.1:8085/api/v1/servers")
device_id = str1(default="")
summaries = onoff(default=off)
ports = onoff(default=off)
secret = str1(default=None)
[lal_http_notify]
enabled = onoff(default=off)
update_interval_sec = float1(min=1, default=5)
on_server_start = words(default=list())
on_update = words(default=list())
on_pub_start = words(default=list())
on_pub_stop = words(default=list())
on_sub_start = words(default=list())
on_sub_stop = words(default=list())
on_rtmp_connect = words(default=list())
on_hls_make_ts = words(default=list())
timeout = float1(gt=0, default=30)
tls_verify = onoff(default=on)
secret = str1(default=None)
retry_max_delay = float1(gt=0, default=60)
retry_window = float1(gt=0, default=86400)
[xiu_httpnotify]
enabled = onoff(default=off)
on_publish = words(default=list())
on_unpublish = words(default=list())
on_play = words(default=list())
on_stop = words(default=list())
timeout = float1(gt=0, default=30)
tls_verify = onoff(default=on)
secret = str1(default=None)
retry_max_delay = float1(gt=0, default=60)
retry_window = float1(gt=0, default=86400)
[exporter]
enabled = onoff(default=off)
listen = endpoint(default="9972")
label = str1(default="")
tag = str1(default="")
[stats]
enabled = onoff(default=on)
network = int1(min=0, default=0)
disk = words(default=list())
[vhost]
[[__many__]]
enabled = onoff(default=on)
chunk_size = int1(128, 65536, default=None)
tcp_nodelay = onoff(default=off)
min_latency = onoff(default=off)
in_ack_size = int1(min=0, default=0)
out_ack_size = int1(min=0, default=2500000)
[[[play]]]
gop_cache = onoff(default=on)
gop_cache_max_frames = int1(min=0, default=2500)
queue_length = float1(min=0, default=30)
time_jitter = choice1(full, zero, off, default=full)
mix_correct = onoff(default=off)
atc = onoff(default=off)
atc_auto = onoff(default=off)
mw_latency = int1(min=0, default=350)
mw_msgs = int1(0, 128, default=None)
send_min_interval = float1(min=0, default=0)
reduce_sequence_header = onoff(default=off)
[[[publish]]]
mr = onoff(default=off)
mr_latency = int1(min=0, default=350)
firstpkt_timeout = int1(min=0, default=20000)
normal_timeout = int1(min=0, default=5000)
parse_sps = onoff(default=on)
try_annexb_first = onoff(default=on)
kickoff_for_idle = float1(min=0, default=0)
[[[http_hooks]]]
enabled = onoff(default=off)
on_connect = words(default=list())
on_close = words(default=list())
on_publish = words(default=list())
on_unpublish = words(default=list())
on_play = words(default=list())
on_stop = words(default=list())
on_dvr = words(default=list())
on_hls = words(default=list())
on_hls_notify = words(default=list())
timeout = float1(gt=0, default=30)
tls_verify = onoff(default=on)
secret = str1(default=None)
retry_max_delay = float1(gt=0, default=60)
retry_window = float1(gt=0, default=86400)
[[[huawei_notify]]]
enabled = onoff(default=off)
url = words(default=list())
key = str1(default=None)
timeout = float1(gt=0, default=30)
tls_verify = onoff(default=on)
secret = str1(default=None)
retry_max_delay = float1(gt=0, default=60)
retry_window = float1(gt=0, default=86400)
[[[http_remux]]]
enabled = onoff(default=off)
mount = str1(default="[vhost]/[app]/[stream].flv")
fast_cache = float1(min=0, default=0)
drop_if_not_match = onoff(default=on)
has_audio = onoff(default=on)
has_video = onoff(default=on)
guess_has_av = onoff(default=on)
[[[http_static]]]
enabled = onoff(default=off)
mount = str1(default="[vhost]/")
dir = str1(default="./objs/nginx/html")
[[[dvr]]]
enabled = onoff(default=off)
dvr_apply = words(default=list("all"))
dvr_plan = choice1(session, segment, default=session)
dvr_path = str1(default="./objs/nginx/html/[app]/[stream].[timestamp].flv")
dvr_duration = float1(gt=0, default=30)
dvr_wait_keyframe = onoff(default=on)
time_jitter = choice1(full, zero, off, default=full)
[[[hls]]]
enabled = onoff(default=off)
hls_fragment = float1(gt=0, default=10)
hls_td_ratio = float1(gt=0, default=1.0)
hls_aof_ratio = float1(gt=0, default=2.1)
hls_window = float1(gt=0, default=60)
hls_on_error = choice1(continue, ignore, disconnect, default=continue)
hls_path = str1(default="./objs/nginx/html")
hls_m3u8_file = str1(default="[app]/[stream].m3u8")
hls_ts_file = str1(default="[app]/[stream]-[seq].ts")
hls_ts_floor = onoff(default=off)
hls_entry_prefix = str1(default=None)
hls_acodec = str1(default="aac")
hls_vcodec = str1(default="h264")
hls_cleanup = onoff(default=on)
hls_dispose = float1(min=0, default=120)
hls_wait_keyframe = onoff(default=on)
hls_nb_notify = int1(min=0, default=64)
hls_ctx = onoff(default=on)
hls_ts_ctx = onoff(default=on)
hls_dts_directly = onoff(default=on)
[[[cluster]]]
mode = choice1(local, remote, default=local)
origin = words(default=list())
token_traverse = onoff(default=off)
vhost = str1(default=None)
debug_srs_upnode = onoff(default=on)
origin_cluster = onoff(default=off)
coworkers = words(default=list())
protocol = choice1(rtmp, flv, flvs, default=rtmp)
follow_client = onoff(default=off)
[[[forward]]]
enabled = onoff(default=off)
destination = words(default=list())
backend = str1(default=None)
[[[security]]]
enabled = onoff(default=off)
rules = rules(default=list())
[[[refer]]]
enabled = onoff(default=off)
all = words(default=list())
publish = words(default=list())
play = words(default=list())
"""

# Directives SRS accepts that srsish does not implement: loaded with a warning, contents unchecked.
IGNORED = frozenset("""
    ff_log_dir ff_log_level asprocess grace_start_wait grace_final_wait force_grace_quit empty_ip_ok
    disable_daemon_for_docker inotify_auto_reload auto_reload_for_docker tcmalloc_release_rate
    query_latest_version first_wait_for_qlv threads circuit_breaker is_full in_docker
    tencentcloud_apm tencentcloud_cls stream_caster rtc_server srt_server rtsp_server rtmps
    vhost.ingest vhost.transcode vhost.bandcheck vhost.dash vhost.hds
    vhost.exec vhost.rtc vhost.srt vhost.rtsp vhost.vhost vhost.nack vhost.twcc
    vhost.hls.hls_storage vhost.hls.hls_mount vhost.hls.hls_keys vhost.hls.hls_fragments_per_key
    vhost.hls.hls_key_file vhost.hls.hls_key_file_path vhost.hls.hls_key_url vhost.hls.hls_use_fmp4
    vhost.hls.hls_fmp4_file vhost.hls.hls_init_file vhost.hls.hls_recover
    vhost.hls.hls_master_m3u8_path_relative
""".split())

# Directives srsish type-checks (so a conf stays valid for SRS too) but does not act on: a conf that sets
# one, or anything inside such a block, loads with a warning per directive. tests/app/test_config_spec.py
# fails when a SPEC key is neither read in srsish/ nor listed here.
NOT_IMPLEMENTED = frozenset("""
    pithy_print_ms stats.enabled stats.disk
    http_api.raw_api.allow_query http_api.raw_api.allow_update
    vhost.tcp_nodelay vhost.in_ack_size
    vhost.play.mix_correct vhost.play.atc vhost.play.atc_auto vhost.play.send_min_interval
    vhost.play.reduce_sequence_header
    vhost.publish.mr vhost.publish.mr_latency vhost.publish.parse_sps vhost.publish.try_annexb_first
    vhost.publish.kickoff_for_idle
    vhost.http_remux.fast_cache vhost.http_remux.drop_if_not_match vhost.http_remux.has_audio
    vhost.http_remux.has_video vhost.http_remux.guess_has_av
    vhost.http_static
    vhost.hls.hls_on_error vhost.hls.hls_dts_directly
    vhost.cluster.debug_srs_upnode vhost.cluster.origin_cluster vhost.cluster.coworkers
    vhost.cluster.follow_client
""".split())

SPEC_TREE = ConfigObj(SPEC.splitlines(), list_values=False, _inspec=True, interpolation=False)


def not_implemented_name(dotted: str) -> Optional[str]:
    """The NOT_IMPLEMENTED name that covers `dotted` (itself or an enclosing block), else None."""
    parts = dotted.split(".")
    for n in range(1, len(parts) + 1):
        name = ".".join(parts[:n])
        if name in NOT_IMPLEMENTED:
            return name
    return None
