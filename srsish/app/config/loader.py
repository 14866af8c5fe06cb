"""Load an SRS-style (nginx-like) configuration file into a typed `Config` with SRS's defaults filled in.

How it works, in three stages:

1. `parse_file` tokenizes and parses the text into a tree of `Directive` (name, args, children,
   file, line), with SRS's syntax rules: a directive's arguments may not span lines, `}` may not
   follow pending arguments, braces must balance, quotes must close, `include FILE;` splices a file
   in (FILE is relative to the current directory, as in SRS). Legacy SRS 1/2 forms are then rewritten
   to the current ones (flat `gop_cache` moves into `play {}`, `refer a b;` into `refer { all }`, ...),
   and SRS 7's `rtmp { listen; chunk_size; }` is read as the root-level `listen` and `chunk_size`.
2. The tree is checked against `SPEC` (strictly, like SRS: an unknown directive is an error) and turned
   into nested dicts of argument lists. Directives SRS knows but srsish does not implement (`IGNORED`)
   are dropped with a warning. `SRS_*` environment variables then override the file, as in SRS 5.
3. configobj + validate type every value and fill every default from `SPEC`. Adding a directive is one
   line in `SPEC`. Units are SRS's: milliseconds (ints) for mw_latency, mr_latency and the publish
   timeouts; seconds (floats) for queue_length, hls_fragment, dvr_duration and http_hooks.timeout.

Booleans: `on` or `off`, case-insensitive, and nothing else. SRS silently reads any other word as
off (or as on, for directives that default to on); a typo such as `daemon of;` is a ConfigError here.

Choices made where SRS leaves room: a scalar directive takes exactly one argument; when a directive is
repeated the first one wins (as SRS's lookup does) and a warning is recorded; `http_api.listen` and
`http_server.listen` stay strings (`"1985"` or `"ip:port"`); `cfg.log_level` is `srs_log_level_v2`
when set, else `srs_log_level`; env-only mode (no file) listens on 1935 unless `SRS_LISTEN` says otherwise.
"""
import ipaddress
import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from configobj import ConfigObj, flatten_errors
from validate import ValidateError, Validator

from srsish.core.errors import ConfigError
from srsish.core.log import get_logger
from srsish.core.naming import DEFAULT_VHOST

__all__ = ["Config", "ConfigError", "Directive", "load_config", "parse_endpoint", "parse_file"]

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
    tencentcloud_apm tencentcloud_cls exporter stream_caster rtc_server srt_server rtsp_server rtmps
    vhost.ingest vhost.forward vhost.transcode vhost.bandcheck vhost.cluster vhost.dash vhost.hds
    vhost.exec vhost.rtc vhost.srt vhost.rtsp vhost.mode vhost.origin vhost.token_traverse vhost.vhost
    vhost.debug_srs_upnode vhost.nack vhost.twcc
    vhost.hls.hls_storage vhost.hls.hls_mount vhost.hls.hls_keys vhost.hls.hls_fragments_per_key
    vhost.hls.hls_key_file vhost.hls.hls_key_file_path vhost.hls.hls_key_url vhost.hls.hls_use_fmp4
    vhost.hls.hls_fmp4_file vhost.hls.hls_init_file vhost.hls.hls_recover
    vhost.hls.hls_master_m3u8_path_relative
""".split())

# Legacy flat vhost-level directives (SRS 1/2) and the block and name they live in now.
LEGACY_MOVES = {
    **{n: ("play", n) for n in ("gop_cache", "queue_length", "mw_latency", "time_jitter", "atc", "atc_auto",
                                "mix_correct", "send_min_interval", "reduce_sequence_header",
                                "gop_cache_max_frames")},
    "mr": ("publish", "mr"),
    "mr_latency": ("publish", "mr_latency"),
    "publish_1stpkt_timeout": ("publish", "firstpkt_timeout"),
    "publish_normal_timeout": ("publish", "normal_timeout"),
    "refer": ("refer", "all"),
    "refer_play": ("refer", "play"),
    "refer_publish": ("refer", "publish"),
}
_LIST_CHECKS = ("words", "endpoints", "rules")


@dataclass
class Directive:
    """One `name args...;` or `name args... { children }` with where it was written."""
    name: str
    args: list
    file: str
    line: int
    children: Optional[list] = None  # None for a simple directive, a list for a block

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


# ---- stage 1: tokenizer and parser ---------------------------------------------------------------

def _tokens(text: str):
    """Yield (kind, value, line): kind is word, ;, {, }, eol, or error (value is the reason)."""
    for lineno, line in enumerate(text.split("\n"), 1):
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c.isspace():
                i += 1
            elif c == "#":  # a comment only at the start of a token, so `#cccccc` inside a value stays
                break
            elif c in ";{}":
                yield c, c, lineno
                i += 1
            elif c in "\"'":
                end = line.find(c, i + 1)
                if end < 0:
                    yield "error", f"unterminated quote {c}", lineno
                    return
                yield "word", line[i + 1:end], lineno
                i = end + 1
                if i < n and not line[i].isspace() and line[i] not in ";{":
                    yield "error", f'unexpected "{line[i]}" after a quoted argument', lineno
                    return
            else:
                j = i
                while j < n and not line[j].isspace() and line[j] not in ";{":
                    j += 1
                yield "word", line[i:j], lineno
                i = j
        yield "eol", "", lineno


def parse_file(path: str, _including: tuple = ()) -> list:
    """Parse one file (and its includes) into a list of top-level `Directive`s."""
    real = os.path.realpath(path)
    if real in _including:
        raise ConfigError(f'{path}: include cycle, "{path}" includes itself')
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from None

    def fail(line: int, reason: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {reason}" + (f' (directive "{args[0]}")' if args else ""))

    root: list = []
    children, stack, args, start = root, [], [], 0
    for kind, value, line in _tokens(text):
        if kind == "error":
            raise fail(line, value)
        if kind == "word":
            start = start if args else line
            args.append(value)
        elif kind == "eol":
            if args:
                raise fail(line, 'unexpected end of line, expecting ";" or "{"')
        elif kind == ";":
            if not args:
                raise fail(line, 'unexpected ";"')
            d = Directive(args[0], args[1:], path, start)
            children.extend(_include(d, _including + (real,)) if d.name == "include" else [d])
            args = []
        elif kind == "{":
            if not args or args[0] == "include":
                raise fail(line, 'unexpected "{"')
            d = Directive(args[0], args[1:], path, start, [])
            children.append(d)
            stack.append(d)
            children, args = d.children, []
        elif args:  # "}" right after arguments: the ";" is missing
            raise fail(line, 'unexpected "}", expecting ";"')
        elif not stack:
            raise fail(line, 'unexpected "}", no block is open')
        else:
            stack.pop()
            children = stack[-1].children if stack else root
    if stack:
        raise ConfigError(f'{stack[-1].where}: unexpected end of file, "{stack[-1].name}" block is not closed')
    return root


def _include(d: Directive, including: tuple) -> list:
    if not d.args:
        raise ConfigError(f'{d.where}: "include" needs a file name')
    out = []
    for name in d.args:  # relative to the current directory, not to this file (as SRS does)
        if not os.path.isfile(name):
            raise ConfigError(f'{d.where}: include "{name}": no such file')
        out.extend(parse_file(name, including))
    return out


def _rewrite_legacy(root: list, warnings: list) -> None:
    """Rewrite SRS 1/2/7 spellings to the SRS 3-6 forms that SPEC describes."""
    for d in list(root):
        if d.name == "http_stream":
            d.name = "http_server"
            warnings.append(f'{d.where}: legacy "http_stream" read as "http_server"')
        if d.name == "rtmp" and d.children is not None:  # SRS 7 moved listen/chunk_size into rtmp {}
            root.remove(d)
            for c in d.children:
                _check_known(c, ("rtmp",), ("listen", "chunk_size"))
                if not any(x.name == c.name for x in root):  # as SRS 7, a root-level one wins
                    root.append(c)
        if d.name == "vhost" and d.children is not None:
            for c in list(d.children):
                _rewrite_vhost_child(d, c, warnings)


def _rewrite_vhost_child(vhost: Directive, c: Directive, warnings: list) -> None:
    name = c.name
    if name == "http":
        c.name = "http_static"
        warnings.append(f'{c.where}: legacy "vhost.http" read as "vhost.http_static"')
    elif name == "http_remux" and c.children:
        c.children[:] = [x for x in c.children if x.name != "hstrs"]  # SRS 3 made hstrs always on
    elif name in LEGACY_MOVES and c.children is None:
        block, new = LEGACY_MOVES[name]
        vhost.children.remove(c)
        target = _block(vhost, block, c)
        if block == "refer":
            _set(target.children, Directive("enabled", ["on"], c.file, c.line))
        _set(target.children, Directive(new, c.args, c.file, c.line))
        warnings.append(f'{c.where}: legacy "vhost.{name}" read as "vhost.{block}.{new}"')
    elif name == "mr" and c.children is not None:  # SRS 2: mr { enabled; latency; }
        vhost.children.remove(c)
        target = _block(vhost, "publish", c)
        for x in c.children:
            _check_known(x, ("vhost", "mr"), ("enabled", "latency"))
            new = "mr" if x.name == "enabled" else "mr_latency"
            _set(target.children, Directive(new, x.args, x.file, x.line))
        warnings.append(f'{c.where}: legacy "vhost.mr" block read as "vhost.publish.mr/mr_latency"')


def _check_known(d: Directive, path: tuple, names: tuple) -> None:
    if d.name not in names:
        raise ConfigError(f'{d.where}: illegal directive "{".".join(path + (d.name,))}"')


def _block(parent: Directive, name: str, near: Directive) -> Directive:
    """The first `name {}` block under `parent`, created at the end when there is none."""
    for c in parent.children:
        if c.name == name and c.children is not None:
            return c
    block = Directive(name, [], near.file, near.line, [])
    parent.children.append(block)
    return block


def _set(children: list, d: Directive) -> None:
    """Replace the first directive of the same name (legacy forms win, as in SRS), else append."""
    for i, c in enumerate(children):
        if c.name == d.name:
            children[i] = d
            return
    children.append(d)


# ---- stage 2: strict check against SPEC, then env overrides --------------------------------------

class _Tree:
    """Turns directives into nested dicts of argument lists, remembering where each value came from."""

    def __init__(self):
        self.where: dict = {}  # key path -> "file:line" (or "env NAME")
        self.warnings: list = []

    def convert(self, dirs: list, spec, out: dict, keys: tuple = (), names: tuple = ()) -> None:
        for d in dirs:
            dotted = ".".join(names + (d.name,))
            if d.name in spec.sections:
                self._section(d, spec[d.name], out, keys, names + (d.name,))
            elif d.name in spec.scalars:
                if d.children is not None:
                    raise ConfigError(f'{d.where}: "{dotted}" is not a block, expecting ";"')
                self._scalar(d, out, keys + (d.name,))
            elif dotted in ("vhost.security.allow", "vhost.security.deny"):
                self._rule(d, out, keys)
            elif dotted == "is_full" and d.args[:1] == ["on"]:
                raise ConfigError(f'{d.where}: "is_full on" marks SRS\'s full.conf, a reference, not a config to run')
            elif dotted in IGNORED:
                self.warnings.append(f'{d.where}: "{dotted}" is not implemented by srsish, ignored')
            else:
                raise ConfigError(f'{d.where}: illegal directive "{dotted}"')

    def _section(self, d: Directive, spec, out: dict, keys: tuple, names: tuple) -> None:
        dotted = ".".join(names)
        if d.children is None:
            raise ConfigError(f'{d.where}: "{dotted}" must be a block: {d.name} {{ ... }}')
        many = "__many__" in spec.sections
        if len(d.args) != (1 if many else 0):
            need = "exactly one name" if many else "no arguments"
            raise ConfigError(f'{d.where}: "{dotted}" takes {need} before "{{", got {len(d.args)}')
        if many:
            out, key, spec = out.setdefault(d.name, {}), d.args[0], spec["__many__"]
            keys = keys + (d.name,)
        else:
            key = d.name
        if key in out:
            self.warnings.append(f'{d.where}: duplicate "{dotted} {" ".join(d.args)}" ignored, the first one wins')
            return
        out[key] = {}
        self.convert(d.children, spec, out[key], keys + (key,), names)

    def _scalar(self, d: Directive, out: dict, keys: tuple) -> None:
        if keys[-1] in out:
            self.warnings.append(f'{d.where}: duplicate "{d.name}" ignored, the first one wins')
            return
        out[keys[-1]] = list(d.args)
        self.where[keys] = d.where

    def _rule(self, d: Directive, out: dict, keys: tuple) -> None:
        if len(d.args) != 2 or d.args[0] not in ("publish", "play"):
            raise ConfigError(f'{d.where}: "vhost.security.{d.name}" expects: {d.name} publish|play all|<ip>|<cidr>;')
        out.setdefault("rules", []).append(" ".join([d.name] + d.args))
        self.where.setdefault(keys + ("rules",), d.where)

    def apply_env(self, out: dict, env: Mapping) -> None:
        """SRS 5 env overrides: SRS_ + the dotted path upper-cased; SRS_VHOST_* hits every vhost."""
        for name, path, is_list in _ENV_NAMES:
            value = env.get(name, "")
            if not value:  # SRS treats an empty variable as unset
                continue
            args = value.split() if is_list else [value]
            targets = [(out, ())]
            if path[0] == "vhost":
                vhosts = out.get("vhost", {})
                targets = [(v, ("vhost", n)) for n, v in vhosts.items()]
                path = path[1:]
            for node, prefix in targets:
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = args
                self.where[prefix + path] = f"env {name}"


def _env_names(spec, path: tuple = ()) -> list:
    """(variable, key path, takes a list) for every typed directive; srs_log_* also as SRS_LOG_*."""
    out = []
    for key in spec.scalars:
        check = spec[key].split("(")[0]
        if check == "rules":  # SRS has no env form for allow/deny lists
            continue
        full, is_list = path + (key,), check in _LIST_CHECKS
        if not path and key.startswith("srs_"):  # the alias first, so SRS_SRS_LOG_* wins when both are set
            out.append(("SRS_" + key[4:].upper(), full, is_list))
        out.append(("SRS_" + "_".join(full).upper(), full, is_list))
    for sec in spec.sections:
        if sec == "__many__":
            out.extend(_env_names(spec[sec], path))
        else:
            out.extend(_env_names(spec[sec], path + (sec,)))
    return out


# ---- stage 3: types and defaults (configobj + validate) ------------------------------------------

class _Invalid(ValidateError, ValueError):
    """A value a directive does not accept; the message says why."""


def _one(value) -> str:
    if isinstance(value, list):
        if len(value) != 1:
            raise _Invalid(f"takes exactly one argument, got {len(value)}")
        return value[0]
    return value


def _onoff(value) -> bool:
    v = _one(value)
    if v.lower() not in ("on", "off"):
        raise _Invalid(f'"{v}" is not on or off')
    return v.lower() == "on"


def _number(value, kind, min=None, max=None, gt=None):
    v = _one(value)
    try:
        n = kind(v)
    except ValueError:
        raise _Invalid(f'"{v}" is not {"an integer" if kind is int else "a number"}') from None
    if not math.isfinite(n):
        raise _Invalid(f'"{v}" is not a finite number')
    if min is not None and max is not None and not kind(min) <= n <= kind(max):
        raise _Invalid(f"{v} is out of range [{min}, {max}]")
    if min is not None and n < kind(min) or max is not None and n > kind(max):
        raise _Invalid(f"{v} must be {'>= ' + min if min is not None else '<= ' + max}")
    if gt is not None and n <= kind(gt):
        raise _Invalid(f"{v} must be > {gt}")
    return n


def _choice(value, *choices) -> str:
    v = _one(value)
    for c in choices:
        if v.lower() == c.lower():
            return c
    raise _Invalid(f'"{v}" is not one of: {", ".join(choices)}')


def parse_endpoint(text: str) -> tuple:
    """`port`, `ip:port` or `[ipv6]:port` -> (ip, port), the ip defaulting to 0.0.0.0; else ValueError."""
    if text.startswith("["):
        ip, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif ":" in text:
        ip, _, port = text.rpartition(":")
        if ":" in ip:
            raise _Invalid(f'"{text}": write an IPv6 address as [addr]:port')
    else:
        ip, port = "0.0.0.0", text
    try:
        ipaddress.ip_address(ip)
        number = int(port)
    except ValueError:
        raise _Invalid(f'"{text}" is not [ip:]port') from None
    if not 0 < number < 65536:
        raise _Invalid(f'"{text}": port {number} is out of range [1, 65535]')
    return ip, number


def _endpoints(value) -> list:
    if not value:
        raise _Invalid("needs at least one [ip:]port")
    return [parse_endpoint(v) for v in value]


def _endpoint(value) -> str:
    v = _one(value)
    parse_endpoint(v)
    return v


_VALIDATOR = Validator({
    "onoff": _onoff,
    "int1": lambda v, *a, **k: _number(v, int, *a, **k),
    "float1": lambda v, *a, **k: _number(v, float, *a, **k),
    "choice1": _choice,
    "str1": _one,
    "words": list,
    "endpoints": _endpoints,
    "endpoint": _endpoint,
    "rules": lambda v: [tuple(r.split(" ", 2)) for r in v],
})
_SPEC = ConfigObj(SPEC.splitlines(), list_values=False, _inspec=True, interpolation=False)
_ENV_NAMES = _env_names(_SPEC)


def _typed(raw: dict, tree: _Tree) -> dict:
    conf = ConfigObj(raw, configspec=_SPEC, interpolation=False)
    results = conf.validate(_VALIDATOR, preserve_errors=True)
    problems = []
    for sections, key, error in flatten_errors(conf, results):
        if key is None or not isinstance(error, ValidateError):
            continue
        keys = tuple(sections) + (key,)
        names = keys[:1] + keys[2:] if keys[0] == "vhost" else keys
        where = tree.where.get(keys, "default")
        problems.append(f'{where}: invalid value for "{".".join(names)}": {error}')
    if problems:
        raise ConfigError("\n".join(problems))
    return conf.dict()


def _resolve_vhost(name: str, v: dict, root: dict) -> None:
    """Fill what SRS derives from elsewhere: the name, chunk_size from the global, mw_msgs from min_latency."""
    v["name"] = name
    if v["chunk_size"] is None:
        v["chunk_size"] = root["chunk_size"]
    if v["play"]["mw_msgs"] is None:
        v["play"]["mw_msgs"] = 0 if v["min_latency"] else 8


# ---- the public face -----------------------------------------------------------------------------

class Config:
    """A loaded configuration: typed globals, sections and vhosts, every SRS default filled in."""

    def __init__(self, path: Optional[str], root: dict, warnings: list):
        self.path = path
        self.root = root  # the whole typed tree, plain dicts; root["vhost"][name] are the resolved vhosts
        self.warnings = warnings
        self.listen: list = root["listen"]
        self.max_connections: int = root["max_connections"]
        self.chunk_size: int = root["chunk_size"]
        self.pid: str = root["pid"]
        self.daemon: bool = root["daemon"]
        self.log_tank: str = root["srs_log_tank"]
        self.log_file: str = root["srs_log_file"]
        self.log_level: str = root["srs_log_level_v2"] or root["srs_log_level"]
        self.server_id: Optional[str] = root["server_id"]
        self.work_dir: str = root["work_dir"]
        self.utc_time: bool = root["utc_time"]
        self.pithy_print_ms: int = root["pithy_print_ms"]

    def section(self, name: str) -> dict:
        """A global section (http_api, http_server, heartbeat, stats) with defaults filled."""
        if name == "vhost" or not isinstance(self.root.get(name), dict):
            raise KeyError(f"no global section {name!r}")
        return self.root[name]

    def vhost(self, name: str) -> Optional[dict]:
        """The vhost `name` if configured (even when disabled: check "enabled"), else __defaultVhost__, else None."""
        vhosts = self.root["vhost"]
        return vhosts.get(name) or vhosts.get(DEFAULT_VHOST)

    @property
    def vhost_names(self) -> list:
        return list(self.root["vhost"])


def load_config(path: Optional[str], env: Optional[Mapping[str, str]] = None) -> Config:
    """Parse, check and type the config at `path` (None, or SRS_ENV_ONLY set: from `env` only)."""
    env = os.environ if env is None else env
    path = env.get("SRS_CONFIG_FILE") or path
    env_only = path is None or bool(env.get("SRS_ENV_ONLY"))
    tree = _Tree()
    raw: dict = {}
    if env_only:
        path = None
        # As SRS in env-only mode: foreground, logs to the console, a default vhost, port 1935.
        raw = {"daemon": ["off"], "srs_log_tank": ["console"], "listen": ["1935"], "vhost": {DEFAULT_VHOST: {}}}
    else:
        directives = parse_file(path)
        if not directives:
            raise ConfigError(f"{path}:1: the config is empty, it has no directive")
        _rewrite_legacy(directives, tree.warnings)
        tree.convert(directives, _SPEC, raw)
    tree.apply_env(raw, env)
    root = _typed(raw, tree)
    if root["listen"] is None:
        raise ConfigError(f'{path}: directive "listen" is required, e.g. "listen 1935;"')
    for name, v in root["vhost"].items():
        _resolve_vhost(name, v, root)
    log = get_logger()
    for w in tree.warnings:
        log.warning("config: %s", w)
    return Config(path, root, tree.warnings)
