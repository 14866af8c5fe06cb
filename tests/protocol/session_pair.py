"""SessionPair: a client-role and a server-role RTMP session joined in memory (h11's ConnectionPair idea)."""
from typing import List

from srsish.protocol import amf0
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.chunk import ChunkDecoder, RawMessage
from srsish.protocol.rtmp.session.client import ClientSession
from srsish.protocol.rtmp.session.server import ServerSession

HANDSHAKE_BYTES = 1 + 1536 + 1536   # S0+S1+S2, before the server's first chunk


class WireTap:
    """Decodes what the server sends, keeping chunk stream ids, as a player would see it."""

    def __init__(self) -> None:
        self.decoder = ChunkDecoder()
        self.skip = HANDSHAKE_BYTES
        self.messages: List[RawMessage] = []

    def feed(self, data: bytes) -> None:
        if self.skip:
            cut = min(self.skip, len(data))
            self.skip -= cut
            data = data[cut:]
        self.decoder.feed(data)
        while (m := self.decoder.next_message()) is not None:
            if m.type_id == rc.MSG_SET_CHUNK_SIZE:
                self.decoder.set_chunk_size(int.from_bytes(m.payload, "big"))
            self.messages.append(m)

    def take(self) -> List[RawMessage]:
        out, self.messages = self.messages, []
        return out


def describe(m: RawMessage):
    """(csid, type, stream id, first values): enough to compare a message with SRS's sequence."""
    if m.type_id == rc.MSG_AMF0_COMMAND:
        values = amf0.decode_command(m.payload)
        return m.csid, m.type_id, m.stream_id, values[0], values[1], values[2:]
    if m.type_id == rc.MSG_AMF0_DATA:
        return m.csid, m.type_id, m.stream_id, amf0.decode_all(m.payload)
    return m.csid, m.type_id, m.stream_id, m.payload


class SessionPair:
    def __init__(self, complex_handshake: bool = True, client_id: str = "abcd1234") -> None:
        self.client = ClientSession(complex_handshake=complex_handshake)
        self.server = ServerSession(client_id)
        self.tap = WireTap()
        self.pump()

    def pump(self) -> bool:
        """Move bytes both ways until the link is quiet; True if any moved."""
        any_moved = False
        for _ in range(20):
            moved = False
            data = self.client.data_to_send()
            if data:
                self.server.receive_data(data)
                moved = True
            data = self.server.data_to_send()
            if data:
                self.client.receive_data(data)
                self.tap.feed(data)
                moved = True
            if not moved:
                return any_moved
            any_moved = True
        raise AssertionError("link did not settle in 20 rounds")

    @staticmethod
    def events(session) -> list:
        out = []
        while (ev := session.next_event()) is not rc.NEED_DATA:
            out.append(ev)
        return out

    def exchange(self):
        """Move bytes until both sides are quiet; the events each side saw, server's first."""
        server_events, client_events = [], []
        for _ in range(20):
            moved = self.pump()
            s, c = self.events(self.server), self.events(self.client)
            if not moved and not s and not c:
                return server_events, client_events
            server_events += s
            client_events += c
        raise AssertionError("sessions did not settle")
