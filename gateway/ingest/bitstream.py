"""Reading the parameter sets of H.264 and H.265 bitstreams: ``BitReader`` reads one bit by bit
(fixed-width fields and Exp-Golomb codes, ITU-T H.264 9.1 and H.265 9.2, which are the same), from
its raw byte sequence payload, which ``rbsp`` recovers from a NAL unit's payload (the emulation
prevention bytes ``00 00 03`` taken out)."""

from __future__ import annotations

__all__ = ["BitReader", "rbsp"]

_EMULATION_PREVENTION = b"\x00\x00\x03"


def rbsp(payload: bytes) -> bytes:
    """A NAL unit's payload (past its header) with its emulation prevention bytes taken out."""
    return payload.replace(_EMULATION_PREVENTION, b"\x00\x00")


class BitReader:
    """A raw byte sequence payload read bit by bit, most significant first. ValueError when a read
    runs past its end: a parameter set cut short is one whose size cannot be known."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, count: int) -> int:
        if count > self._left:
            raise ValueError("the parameter set ends early")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def skip(self, count: int) -> None:
        self.bits(count)

    def unsigned(self) -> int:
        """An Exp-Golomb ue(v)."""
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def signed(self) -> int:
        """An Exp-Golomb se(v)."""
        code = self.unsigned()
        return (code + 1) // 2 if code % 2 else -(code // 2)
