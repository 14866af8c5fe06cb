"""FLV framing: golden bytes for the file header and tags, and reading them back."""
import pytest

from srsish.kernel import flv


def test_file_header_golden_bytes():
    assert flv.file_header() == bytes.fromhex("464c5601 05 00000009 00000000")
    assert flv.file_header(has_audio=False) == bytes.fromhex("464c5601 01 00000009 00000000")
    assert flv.file_header(has_video=False) == bytes.fromhex("464c5601 04 00000009 00000000")


def test_tag_header_golden_bytes():
    # type 9, size 0x010203, timestamp 0x0A0B0C0D: low 24 bits first, then the high byte
    assert flv.tag_header(9, 0x0A0B0C0D, 0x010203) == bytes.fromhex("09 010203 0b0c0d 0a 000000")
    assert flv.tag_header(8, 40, 5) == bytes.fromhex("08 000005 000028 00 000000")


def test_timestamp_wraps_to_32_bits():
    assert flv.tag_header(18, (1 << 32) + 7, 0)[4:8] == bytes.fromhex("000007 00")


def test_whole_tag_and_previous_tag_size():
    body = b"\xaf\x01abc"
    t = flv.tag(8, 1000, body)
    assert t == bytes.fromhex("08 000005 0003e8 00 000000") + body + bytes.fromhex("00000010")
    assert flv.previous_tag_size(len(body)) == (11 + 5).to_bytes(4, "big")


def test_oversized_tag_is_refused():
    with pytest.raises(flv.FlvError):
        flv.tag_header(9, 0, 1 << 24)


def test_read_back_tags_with_offsets():
    tags = [(18, 0, b"\x02\x00\x0aonMetaData"), (9, 0, b"\x17\x00" + bytes(30)), (8, 23, b"\xaf\x01xyz"),
            (9, 0x01000000, b"\x27\x01\x00\x00\x00zz")]
    data = flv.file_header() + b"".join(flv.tag(*t) for t in tags)
    read = list(flv.read_tags(data))
    assert [(t.type_id, t.timestamp, t.body) for t in read] == tags
    assert read[0].offset == 13
    assert read[1].offset == 13 + 11 + len(tags[0][2]) + 4


def test_reader_stops_at_a_truncated_last_tag():
    data = flv.file_header() + flv.tag(9, 0, b"\x17\x01abc") + flv.tag(8, 10, b"\xaf\x01abcdef")[:-6]
    assert [t.timestamp for t in flv.read_tags(data)] == [0]


def test_reader_checks_previous_tag_sizes():
    bad = bytearray(flv.file_header() + flv.tag(9, 0, b"\x17\x01abc"))
    bad[-1] ^= 0xFF
    with pytest.raises(flv.FlvError):
        list(flv.read_tags(bytes(bad)))
    assert len(list(flv.read_tags(bytes(bad), strict=False))) == 1


def test_header_flags_and_bad_magic():
    assert flv.read_header(flv.file_header(has_video=False)) == (True, False, 13)
    with pytest.raises(flv.FlvError):
        flv.read_header(b"NOTFLV" + bytes(10))
