"""The frame rate a sequence parameter set's video usability information gives, read past the fields
an encoder writes that ffmpeg's libx264 and libx265 (tests/integration/ingest/test_raw_stream_rate.py)
do not: sub-layers, scaling lists, PCM, reference picture sets (predicted ones among them),
long-term pictures, an extended sample aspect ratio, colour description and a display window, as
cameras' encoders write them. The parameter sets are written bit by bit as ITU-T H.264 7.3.2.1.1
and H.265 7.3.2.2.1 lay them out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.ingest import elementary, h264, h265


class BitWriter:
    """Bits written most significant first, and Exp-Golomb codes (H.264 9.1, H.265 9.2)."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def bits(self, count: int, value: int) -> BitWriter:
        self._bits.extend((value >> shift) & 1 for shift in range(count - 1, -1, -1))
        return self

    def flag(self, value: bool) -> BitWriter:
        return self.bits(1, int(value))

    def unsigned(self, value: int) -> BitWriter:
        code = value + 1
        return self.bits(code.bit_length() - 1, 0).bits(code.bit_length(), code)

    def signed(self, value: int) -> BitWriter:
        return self.unsigned(2 * value - 1 if value > 0 else -2 * value)

    def payload(self) -> bytes:
        """The bits with a stop bit and byte alignment (the trailing bits), emulation prevented."""
        bits = [*self._bits, 1]
        bits += [0] * (-len(bits) % 8)
        raw = bytes(int("".join(map(str, bits[index : index + 8])), 2) for index in range(0, len(bits), 8))
        escaped, zeros = bytearray(), 0
        for byte in raw:
            if zeros >= 2 and byte <= 3:
                escaped.append(3)
                zeros = 0
            escaped.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(escaped)


def usability_head(writer: BitWriter) -> None:
    """The fields both codecs' video usability information opens with, each present."""
    writer.flag(True).bits(8, 255).bits(16, 64).bits(16, 45)  # an extended sample aspect ratio
    writer.flag(True).flag(False)  # overscan
    writer.flag(True).bits(3, 5).flag(False).flag(True).bits(24, 0x010101)  # video signal, colour
    writer.flag(True).unsigned(1).unsigned(1)  # chroma location


def h264_set(units: int, scale: int, *, timing: bool = True) -> bytes:
    writer = BitWriter().bits(8, 100).bits(16, 0x0028).unsigned(0)  # High profile, level 4, id 0
    writer.unsigned(1).unsigned(0).unsigned(0).flag(False).flag(False)  # 4:2:0, 8 bits, no matrices
    writer.unsigned(4).unsigned(0).unsigned(4)  # frame numbers, picture order type 0 and its bits
    writer.unsigned(1).flag(False).unsigned(119).unsigned(67)  # one reference, 1920x1088 blocks
    writer.flag(True).flag(True).flag(True).unsigned(0).unsigned(0).unsigned(0).unsigned(4)  # cropped
    writer.flag(True)
    usability_head(writer)
    writer.flag(timing)
    if timing:
        writer.bits(32, units).bits(32, scale).flag(True)
    return writer.payload()


def h265_set(units: int, scale: int, *, timing: bool = True) -> bytes:
    writer = BitWriter().bits(4, 0).bits(3, 1).flag(True)  # one sub-layer beyond the first
    writer.bits(88, 1 << 80).bits(8, 120)  # Main profile, level 4
    writer.flag(True).flag(True).bits(14, 0).bits(88, 1 << 80).bits(8, 120)  # the sub-layer's
    writer.unsigned(0).unsigned(1).unsigned(1920).unsigned(1088)  # id, 4:2:0, its size
    writer.flag(True).unsigned(0).unsigned(0).unsigned(0).unsigned(4)  # cropped to 1080 lines
    writer.unsigned(0).unsigned(0).unsigned(4)  # bit depths, 8 bits of picture order
    writer.flag(True)
    for _ in range(2):  # each sub-layer's buffering
        writer.unsigned(4).unsigned(2).unsigned(0)
    for value in (0, 3, 0, 3, 1, 1):
        writer.unsigned(value)
    writer.flag(True).flag(True)  # scaling lists, given here
    for size in range(4):
        for matrix in range(0, 6, 3 if size == 3 else 1):
            writer.flag(matrix % 2 == 0)
            if matrix % 2:
                writer.unsigned(1)
                continue
            if size > 1:
                writer.signed(8)
            for index in range(min(64, 1 << (4 + 2 * size))):
                writer.signed(1 if index % 3 else -2)
    writer.flag(True).flag(True)  # asymmetric partitions, sample adaptive offset
    writer.flag(True).bits(8, 0x77).unsigned(0).unsigned(1).flag(False)  # PCM
    writer.unsigned(3)  # reference picture sets
    writer.unsigned(2).unsigned(1)  # the first: two pictures before, one after
    for _ in range(3):
        writer.unsigned(0).flag(True)
    writer.flag(True).flag(False).unsigned(0)  # the second, predicted from the first
    for used, kept in [(True, True), (False, False), (False, True), (True, True)]:
        writer.flag(used)
        if not used:
            writer.flag(kept)
    writer.flag(True).flag(True).unsigned(1)  # the third, predicted from the second's three
    for _ in range(4):
        writer.flag(True)
    writer.flag(True).unsigned(2).bits(8, 16).flag(True).bits(8, 32).flag(False)  # long-term
    writer.flag(True).flag(True)  # temporal motion vectors, strong intra smoothing
    writer.flag(True)
    usability_head(writer)
    writer.flag(False).flag(False).flag(False)
    writer.flag(True).unsigned(0).unsigned(0).unsigned(0).unsigned(4)  # a display window
    writer.flag(timing)
    if timing:
        writer.bits(32, units).bits(32, scale).flag(False)
    return writer.payload()


def test_an_h264_parameter_set_gives_its_size_and_rate() -> None:
    assert h264.sps_size(h264_set(1001, 60000)) == (1920, 1080)
    assert h264.sps_rate(h264_set(1001, 60000)) == pytest.approx(30000 / 1001)


def test_an_h265_parameter_set_gives_its_size_and_rate_past_every_optional_field() -> None:
    assert h265.sps_size(h265_set(1001, 30000)) == (1920, 1080)
    assert h265.sps_rate(h265_set(1001, 30000)) == pytest.approx(30000 / 1001)


@pytest.mark.parametrize(
    ("written", "read"), [(h264_set, h264.sps_rate), (h265_set, h265.sps_rate)], ids=["h264", "h265"]
)
def test_a_set_without_timing_or_with_a_clock_for_a_rate_gives_none(
    written: Callable[..., bytes], read: Callable[[bytes], float | None]
) -> None:
    assert read(written(1, 25, timing=False)) is None
    assert read(written(0, 25)) is None  # no tick
    assert read(written(1, 0)) is None  # no clock
    assert read(written(1, 90000)) is None  # a 90 kHz time base, not a frame rate
    assert read(written(1001, 30000)[:20]) is None  # cut short


def test_a_damaged_parameter_set_is_read_no_further_than_4_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a 64 KiB sequence parameter set with no start code after it (each field read costs a
    # pass over what is read: the whole of it took 9 s)
    read: list[int] = []

    def recorded(payload: bytes) -> float | None:
        read.append(len(payload))
        return None

    monkeypatch.setattr(
        elementary, "stream_codec", lambda data: dataclasses.replace(elementary.H264, sps_rate=recorded)
    )
    path = tmp_path / "camera.h264"
    path.write_bytes(b"\x00\x00\x00\x01\x67" + bytes([0xFF]) * (64 << 10))
    # When
    assert elementary.stream_rate(path) is None
    # Then
    assert read == [4 << 10]
