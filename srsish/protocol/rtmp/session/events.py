"""The events RTMP sessions surface, above the connection's own (Command, Media, Data, ...)."""
from dataclasses import dataclass, field
from typing import Any, Dict, List

from srsish.protocol.request import StreamRequest


# ---- server role: what the client asked ------------------------------------------------

@dataclass
class ConnectRequested:
    """`connect`: the app checks the vhost, then calls accept_connect or reject."""
    transaction_id: float
    request: StreamRequest
    swf_url: str
    flash_ver: str = ""


@dataclass
class CommandIgnored:
    """A command that means nothing in this state (e.g. before connect)."""
    name: str


@dataclass
class PublishRequested:
    """`publish`: `request` now holds the stream name; the app gates, then start_publish or reject."""
    request: StreamRequest
    stream_id: int
    transaction_id: float
    fc_publish: bool      # FMLE-style (FCPublish came first): start_publish adds onFCPublish


@dataclass
class PlayRequested:
    """`play`: `request` now holds the stream name; the app gates, then start_play or reject."""
    request: StreamRequest
    stream_id: int
    transaction_id: float
    duration_ms: float = -1.0   # play's duration argument: > 0 ends the play after that much stream time


@dataclass
class Metadata:
    """@setDataFrame(onMetaData, ...) or onMetaData from the publisher; `values` follow the name."""
    values: List[Any]
    timestamp: int


@dataclass
class Unpublished:
    """FCUnpublish: its three replies are queued; the session is back to identify."""


@dataclass
class StreamClosed:
    """closeStream or deleteStream: the publish or play ended; the session is back to identify."""
    name: str


@dataclass
class PauseChanged:
    """pause(true/false) from a player: its onStatus and user control are queued."""
    paused: bool


# ---- client role: what the server answered ---------------------------------------------

@dataclass
class Connected:
    """`_result` for connect."""
    properties: Any
    info: Any


@dataclass
class ConnectRejected:
    """`_error` for connect."""
    info: Any


@dataclass
class StreamCreated:
    """`_result` for createStream; publish or play has been sent on this stream."""
    stream_id: int


@dataclass
class Status:
    """onStatus, onFCPublish or onFCUnpublish from the server."""
    name: str
    code: str
    level: str
    description: str
    info: Dict[str, Any] = field(default_factory=dict)


@dataclass
class CallResult:
    """`_result` for any other call of ours."""
    transaction_id: float
    args: List[Any]


@dataclass
class CallFailed:
    """`_error` for any other call of ours."""
    transaction_id: float
    info: Any
