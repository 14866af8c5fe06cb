"""Random identifiers in SRS's style: client/context ids and stream ids."""
import random
import secrets

# SRS draws context ids from digits and lowercase letters, with the digits weighted up.
_ID_ALPHABET = "0123456789" * 3 + "abcdefghijklmnopqrstuvwxyz"
_SERVICE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_rng = random.SystemRandom()


def new_client_id() -> str:
    """An 8-character connection id, the one logs, hooks and the HTTP API share."""
    return "".join(_rng.choice(_ID_ALPHABET) for _ in range(8))


def new_service_id() -> str:
    """An 8-character id that is new on every process start."""
    return "".join(_rng.choice(_SERVICE_ALPHABET) for _ in range(8))


def new_vid() -> str:
    """A stream/vhost statistics id: `vid-` plus 7 characters."""
    return "vid-" + "".join(_rng.choice(_SERVICE_ALPHABET) for _ in range(7))


def new_event_id() -> str:
    """A hook event id: unique per event (80 random bits, 20 hex digits), the same on every retry and URL."""
    return secrets.token_hex(10)
