"""Request identity and signing: the X-Srsish-* headers every hook request carries, HMAC-SHA256 over timestamp and body.

A backend verifies a request by computing `HMAC-SHA256(secret, TIMESTAMP + "." + BODY)` over the exact body
bytes and the `X-Srsish-Timestamp` header, comparing it in constant time with `X-Srsish-Signature`
(`sha256=` + lowercase hex), and refusing timestamps more than a few minutes old (replays).
"""
import hashlib
import hmac
from typing import Dict, Optional

EVENT_ID = "X-Srsish-Event-Id"
ATTEMPT = "X-Srsish-Attempt"
TIMESTAMP = "X-Srsish-Timestamp"
SIGNATURE = "X-Srsish-Signature"
RECOVERED = "X-Srsish-Recovered"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` + the lowercase hex HMAC-SHA256 under `secret` of `TIMESTAMP.BODY`."""
    mac = hmac.new(secret.encode("utf-8"), str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float, max_age: float = 300.0) -> bool:
    """What a backend does: the signature matches and the timestamp is at most `max_age` seconds away from now."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - ts) > max_age:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


def request_headers(event_id: str, attempt: int, now: float, body: bytes, secret: Optional[str],
                    recovered: bool = False) -> Dict[str, str]:
    """The identity headers of one attempt (and the signature when a secret is set); bodies stay SRS's."""
    ts = int(now)
    headers = {EVENT_ID: event_id, ATTEMPT: str(attempt), TIMESTAMP: str(ts)}
    if recovered:
        headers[RECOVERED] = "1"
    if secret:
        headers[SIGNATURE] = sign(secret, ts, body)
    return headers
