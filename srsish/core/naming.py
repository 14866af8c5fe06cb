"""SRS's naming rules: the default vhost, stream_url, path templates and how publisher names become path parts."""
import re
from datetime import datetime, timezone
from typing import Dict, Mapping

DEFAULT_VHOST = "__defaultVhost__"

# A name part (between two `/`) is cut to this many UTF-8 bytes: it leaves room for what a template adds
# around it (".<ms>.flv.tmp", "-<seq>.ts.tmp") under the usual 255-byte NAME_MAX.
MAX_PART_BYTES = 150

# `[name]` in a template; only names given a value are replaced, the others stay as written.
VARIABLE = re.compile(r"\[([0-9A-Za-z_]+)\]")

# The variables SRS's templates know for the publisher's names and for the clock (Go's reference time).
STREAM_VARIABLES = ("vhost", "app", "stream")
TIME_VARIABLES = ("2006", "01", "02", "15", "04", "05", "999", "timestamp")


def stream_url(vhost: str, app: str, stream: str) -> str:
    """SRS's stream key: `/app/stream` on the default vhost, `vhost/app/stream` otherwise."""
    prefix = "" if vhost == DEFAULT_VHOST else vhost
    return f"{prefix}/{app}/{stream}"


def expand(template: str, values: Mapping[str, str]) -> str:
    """Every `[name]` that has a value replaced, in one pass: a value that spells a variable stays as it is."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def time_values(now: float, utc: bool) -> Dict[str, str]:
    """The time variables for `now` (seconds since the epoch), local time unless `utc`; [timestamp] is in ms."""
    ms = int(now * 1000)
    t = datetime.fromtimestamp(ms // 1000, timezone.utc if utc else None)
    return {"2006": "%04d" % t.year, "01": "%02d" % t.month, "02": "%02d" % t.day, "15": "%02d" % t.hour,
            "04": "%02d" % t.minute, "05": "%02d" % t.second, "999": "%03d" % (ms % 1000), "timestamp": str(ms)}


def clean_name(value: str, keep_slashes: bool = False) -> str:
    """A publisher-chosen name made safe as a relative path, the one rule for DVR and HLS.

    `\\` and every unprintable character become `_`; so does `/`, unless `keep_slashes` (an app
    name), where `/` separates parts and empty parts are dropped. Each part is cut to
    MAX_PART_BYTES, and a part made only of dots (`.`, `..`) has each dot replaced by `_`.
    The result is never empty, never absolute and never climbs (`_` at least).
    """
    if not keep_slashes:
        return _clean_part(value.replace("/", "_"))
    return "/".join(_clean_part(p) for p in value.split("/") if p) or "_"


def stream_values(vhost: str, app: str, stream: str) -> Dict[str, str]:
    """[vhost] [app] [stream] for a template, each name cleaned (an app keeps its `/`)."""
    return {"vhost": clean_name(vhost), "app": clean_name(app, keep_slashes=True), "stream": clean_name(stream)}


def _clean_part(part: str) -> str:
    part = "".join(c if c.isprintable() and c != "\\" else "_" for c in part)
    raw = part.encode("utf-8")       # no surrogate is left: they are unprintable
    if len(raw) > MAX_PART_BYTES:
        part = raw[:MAX_PART_BYTES].decode("utf-8", "ignore")
    if part.strip(".") == "":
        part = part.replace(".", "_") or "_"
    return part
