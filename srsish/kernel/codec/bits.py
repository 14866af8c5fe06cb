"""Big-endian bit reading and writing for codec headers, and the error every codec parser raises."""
from srsish.core.errors import MediaError


class CodecError(MediaError):
    """A codec configuration or FLV tag body that is truncated or malformed."""


class BitReader:
    """Reads fields MSB first, with the Exp-Golomb codes of H.264/HEVC parameter sets."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    @property
    def bits_left(self) -> int:
        return len(self.data) * 8 - self.pos

    def u(self, n: int) -> int:
        """An n-bit unsigned field."""
        if n > self.bits_left:
            raise CodecError(f"bitstream ended early: {n} bits wanted, {self.bits_left} left")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise CodecError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


class BitWriter:
    """Writes fields MSB first; `to_bytes()` pads the last byte with zero bits."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def u(self, n: int, value: int) -> None:
        if not 0 <= value < 1 << n:
            raise CodecError(f"{value} does not fit in {n} bits")
        self.value = (self.value << n) | value
        self.count += n

    def to_bytes(self) -> bytes:
        pad = -self.count % 8
        return (self.value << pad).to_bytes((self.count + pad) // 8, "big")
