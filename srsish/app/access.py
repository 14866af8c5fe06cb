"""Who may publish or play: SRS's `security` allow/deny rules and `refer` page checks, as pure decisions (no I/O).

`security_refusal` follows SRS's evaluation exactly: with the rules enabled, a client is refused if a deny rule
of its action matches; otherwise it is refused if the block has allow rules (of any action) and none of its
action matches, or has no rules at all. Addresses match exactly, or by CIDR, IPv4 and IPv6 alike (SRS knows
only IPv4 ranges); an IPv4 client seen as `::ffff:a.b.c.d` matches its IPv4 rules.

`refer_refusal` checks a client's page URL against SRS's domain lists, by whole domain labels: `example.com`
admits `example.com` and `www.example.com`, never `evilexample.com` (SRS compares a plain suffix).
"""
import ipaddress
from typing import Iterable, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

__all__ = ["PLAY", "PUBLISH", "refer_refusal", "security_refusal", "page_domain", "rule_matches"]

PUBLISH = "publish"
PLAY = "play"

_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _address(ip: str) -> Optional[_Address]:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def rule_matches(target: str, ip: str) -> bool:
    """Whether a rule's target (`all`, an address, or a CIDR range) covers the client address `ip`."""
    if target == "all" or target == ip:
        return True
    addr = _address(ip)
    if addr is None:
        return False
    try:
        if "/" in target:
            return addr in ipaddress.ip_network(target, strict=False)
        return addr == _address(target)
    except (ValueError, TypeError):   # a malformed target, or an IPv4 range against an IPv6 client
        return False


def security_refusal(security: dict, action: str, ip: str) -> Optional[str]:
    """Why `ip` may not `action` (publish or play) under a vhost's `security` block, or None when it may."""
    if not security["enabled"]:
        return None
    rules: Sequence[Tuple[str, str, str]] = security["rules"]
    for verb, what, target in rules:
        if verb == "deny" and what == action and rule_matches(target, ip):
            return f"security: {action} from {ip} denied by rule \"deny {what} {target}\""
    allows = [(what, target) for verb, what, target in rules if verb == "allow"]
    for what, target in allows:
        if what == action and rule_matches(target, ip):
            return None
    if allows:
        return f"security: {action} from {ip} not allowed by any of the {len(allows)} allow rules"
    if not rules:
        return f"security: {action} from {ip} denied: security is enabled with no rules (SRS denies all)"
    return None


def page_domain(page_url: str) -> str:
    """The host of a page URL (`http://www.example.com:8080/x` -> `www.example.com`), lower-cased."""
    text = page_url.strip()
    if "://" not in text:
        text = "//" + text
    try:
        return (urlsplit(text).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def _domain_listed(domain: str, domains: Iterable[str]) -> bool:
    for d in domains:
        d = d.strip().strip(".").lower()
        if d and (domain == d or domain.endswith("." + d)):
            return True
    return False


def refer_refusal(refer: dict, action: str, page_url: str) -> Optional[str]:
    """Why a client with this pageUrl may not `action` under a vhost's `refer` block, or None when it may.

    As SRS, `all` and the action's own list are both checked; a list that is not set admits everyone,
    and a client without a page URL is refused by any list that is set.
    """
    if not refer["enabled"]:
        return None
    domain = page_domain(page_url)
    for key in ("all", action):
        domains = refer[key]
        if domains and not _domain_listed(domain, domains):
            return f"refer: {action} from page \"{page_url}\" denied, its domain is not in refer.{key}"
    return None
