"""Playlist text as SRS writes it (srs.md 3.10), golden."""
import pytest

from srsish.kernel.m3u8 import PlaylistEntry, render_media_playlist, render_variant_playlist, target_duration


def test_media_playlist_golden_as_srs():
    entries = [PlaylistEntry("livestream-0.ts", 2000, True, 0), PlaylistEntry("livestream-1.ts", 2000, False, 1),
               PlaylistEntry("livestream-2.ts", 1960, False, 2)]
    assert render_media_playlist(entries, 2000) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-DISCONTINUITY\n"
        "#EXTINF:2.000, no desc\n"
        "livestream-0.ts\n"
        "#EXTINF:2.000, no desc\n"
        "livestream-1.ts\n"
        "#EXTINF:1.960, no desc\n"
        "livestream-2.ts\n")


def test_media_sequence_is_the_first_entry_and_discontinuity_precedes_its_segment():
    entries = [PlaylistEntry("s-7.ts", 10023, False, 7), PlaylistEntry("http://cdn/live/s-8.ts", 4500, True, 8)]
    text = render_media_playlist(entries, 10000)
    assert text.splitlines()[2:] == ["#EXT-X-MEDIA-SEQUENCE:7", "#EXT-X-TARGETDURATION:11",
                                     "#EXTINF:10.023, no desc", "s-7.ts",
                                     "#EXT-X-DISCONTINUITY", "#EXTINF:4.500, no desc", "http://cdn/live/s-8.ts"]


def test_target_duration_is_ceil_of_longest_or_fragment_times_td_ratio():
    e = lambda ms: PlaylistEntry("x.ts", ms)  # noqa: E731
    assert target_duration([e(2000)], 2000) == 2
    assert target_duration([e(2001)], 2000) == 3
    assert target_duration([e(1500)], 10000 * 1.5) == 15
    assert target_duration([e(1)], 2500) == 3


def test_empty_playlist_is_an_error():
    with pytest.raises(ValueError):
        render_media_playlist([], 10000)


def test_variant_playlist_as_srs():
    assert render_variant_playlist("/live/livestream.m3u8?hls_ctx=735781y9&token=x") == (
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n/live/livestream.m3u8?hls_ctx=735781y9&token=x")


def test_playlists_parse_with_the_m3u8_package():
    m3u8 = pytest.importorskip("m3u8")
    text = render_media_playlist([PlaylistEntry("a-3.ts", 2000, True, 3), PlaylistEntry("a-4.ts", 1960, False, 4)],
                                 2000)
    pl = m3u8.loads(text)
    assert pl.media_sequence == 3 and pl.target_duration == 2
    assert [s.uri for s in pl.segments] == ["a-3.ts", "a-4.ts"]
    assert [s.duration for s in pl.segments] == [2.0, 1.96]
    assert pl.segments[0].discontinuity and not pl.segments[1].discontinuity
    variant = m3u8.loads(render_variant_playlist("/live/a.m3u8?hls_ctx=abcd1234"))
    assert variant.is_variant and variant.playlists[0].uri == "/live/a.m3u8?hls_ctx=abcd1234"
