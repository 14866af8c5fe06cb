"""The value checks SPEC names (onoff, int1, float1, choice1, str1, words, endpoints, endpoint, rules) as one Validator.

Booleans: `on` or `off`, case-insensitive, and nothing else. SRS silently reads any other word as
off (or as on, for directives that default to on); a typo such as `daemon of;` is a ConfigError here.
"""
import ipaddress
import math

from validate import ValidateError, Validator

__all__ = ["LIST_CHECKS", "VALIDATOR", "parse_endpoint"]

# The checks whose value is a list of every argument (the others take exactly one).
LIST_CHECKS = ("words", "endpoints", "rules")


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


VALIDATOR = Validator({
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
