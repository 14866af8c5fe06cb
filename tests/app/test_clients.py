"""ClientRegistry: every kind of client behind one interface, grouped by the source it plays."""
from types import SimpleNamespace

from srsish.app.clients import ClientRegistry


class _Source:
    publisher = None


def _client(cid, source=None):
    return SimpleNamespace(id=cid, source=source, send_bytes=0, recv_bytes=0)


def test_players_by_source_leaves_out_publishers_and_idle_clients():
    reg = ClientRegistry()
    src = _Source()
    pub, p1, p2, idle = _client("pub", src), _client("p1", src), _client("p2", src), _client("idle")
    src.publisher = pub
    for c in (pub, p1, p2, idle):
        reg.add(c)
    assert reg.players_by_source() == {src: [p1, p2]}
    assert len(reg) == 4 and reg.get("p1") is p1 and reg.get("nope") is None


def test_remove_forgets_only_that_object():
    reg = ClientRegistry()
    old, new = _client("same"), _client("same")
    reg.add(old)
    reg.add(new)          # an id taken over (never happens with random ids, but must not lose `new`)
    reg.remove(old)
    assert reg.get("same") is new
    reg.remove(new)
    assert len(reg) == 0 and list(reg) == []
