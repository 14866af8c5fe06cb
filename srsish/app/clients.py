"""Clients: the one interface every kind of client offers (RTMP, HTTP-FLV, HLS session) and the registry of live ones."""
from typing import Any, Dict, Iterator, List, Optional, Protocol


class Client(Protocol):
    """What the API, the stats sampler and shutdown need of any client, whatever its protocol."""
    id: str
    ip: str
    created: float          # wall-clock time it arrived
    source: Any             # the LiveSource it publishes or plays, or None

    @property
    def send_bytes(self) -> int: ...

    @property
    def recv_bytes(self) -> int: ...

    def describe(self) -> dict:
        """SRS's API fields (vhost name, stream id, ip, pageUrl, swfUrl, tcUrl, url, name, type, publish)."""

    def kick(self, reason: str) -> None:
        """End the client from another greenlet; its stop/close hooks still run."""


class ClientRegistry:
    """The live clients by id: RTMP connections, HTTP-FLV viewers and HLS play sessions."""

    def __init__(self) -> None:
        self._clients: Dict[str, Client] = {}
        self._sessions: set = set()       # ids of clients that hold no connection (HLS play sessions)
        self.total = 0                    # clients ever added (the exporter's srs_clients_total)
        self.errors = 0                   # clients removed that ended in an error (srs_clients_errs_total)

    def add(self, client: Client, connection: bool = True) -> None:
        """Register `client`; `connection=False` for one that holds no socket of its own (an HLS session)."""
        self._clients[client.id] = client
        self.total += 1
        if not connection:
            self._sessions.add(client.id)

    def remove(self, client: Client, failed: bool = False) -> None:
        """Forget `client` (only that object: an id reused meanwhile stays); `failed`: it ended in an error."""
        if self._clients.get(client.id) is client:
            del self._clients[client.id]
            self._sessions.discard(client.id)
            self.errors += failed

    @property
    def connections(self) -> int:
        """Clients that hold a connection (what max_connections limits)."""
        return len(self._clients) - len(self._sessions)

    def get(self, client_id: str) -> Optional[Client]:
        return self._clients.get(client_id)

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[Client]:
        """A snapshot, so callers may switch greenlets while they walk it."""
        return iter(list(self._clients.values()))

    def players_by_source(self) -> Dict[Any, List[Client]]:
        """Every player grouped by the source it plays, in one pass (a source's publisher is not a player)."""
        groups: Dict[Any, List[Client]] = {}
        for c in list(self._clients.values()):
            src = c.source
            if src is not None and src.publisher is not c:
                groups.setdefault(src, []).append(c)
        return groups
