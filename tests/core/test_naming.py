"""core/naming: the default vhost in stream_url, one-pass templates, SRS's time variables, cleaned names."""
import time

from srsish.core import naming


def test_stream_url_leaves_out_the_default_vhost():
    assert naming.stream_url(naming.DEFAULT_VHOST, "live", "s") == "/live/s"
    assert naming.stream_url("a.com", "live", "s") == "a.com/live/s"


def test_expand_is_one_pass_and_keeps_unknown_variables():
    values = {"app": "[stream]", "stream": "[2006]", "2006": "2024"}
    assert naming.expand("[app]/[stream]-[2006]-[seq].ts", values) == "[stream]/[2006]-2024-[seq].ts"
    assert naming.expand("[app]x[app]", {"app": "live"}) == "livexlive"


def test_time_values_local_and_utc():
    now = 1700000000.123
    utc = naming.time_values(now, utc=True)
    assert utc == {"2006": "2023", "01": "11", "02": "14", "15": "22", "04": "13", "05": "20", "999": "123",
                   "timestamp": "1700000000123"}
    local = naming.time_values(now, utc=False)
    lt = time.localtime(now)
    assert (local["2006"], local["01"], local["02"], local["15"], local["04"], local["05"]) == tuple(
        "%02d" % v for v in (lt.tm_year, lt.tm_mon, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec))
    assert naming.time_values(5.0, utc=True)["999"] == "000"


def test_names_that_spell_variables_stay_literal():
    values = {**naming.stream_values("v", "live", "[2006]"), **naming.time_values(0, utc=True)}
    assert naming.expand("[app]/[stream]-[2006].ts", values) == "live/[2006]-1970.ts"
    values = {**naming.stream_values("v", "[stream]", "[app]"), **naming.time_values(0, utc=True)}
    assert naming.expand("[app]/[stream].m3u8", values) == "[stream]/[app].m3u8"


def test_a_name_is_one_part_and_an_app_keeps_its_slashes():
    clean = naming.clean_name
    assert clean("../../x") == ".._.._x"
    assert clean("/abs/olute") == "_abs_olute"
    assert clean("a\\..\\b") == "a_.._b"
    assert clean("..") == "__" and clean(".") == "_" and clean("...") == "___" and clean("") == "_"
    assert clean("../..", keep_slashes=True) == "__/__"
    assert clean("/live//x/", keep_slashes=True) == "live/x"
    assert clean("a/../../..", keep_slashes=True) == "a/__/__/__"
    assert clean("//", keep_slashes=True) == "_"
    assert clean("..\\..", keep_slashes=True) == ".._.."


def test_unprintable_characters_become_underscores():
    assert naming.clean_name("a\x00b\x1fc\x7fd\x85e\u200bf\u2028g") == "a_b_c_d_e_f_g"
    assert naming.clean_name("s p\u00e9") == "s p\u00e9"          # a space and letters stay


def test_each_part_is_cut_to_150_bytes_on_a_character_boundary():
    cut = naming.clean_name("\u00e9" * 400)
    assert cut == "\u00e9" * 75 and len(cut.encode()) == naming.MAX_PART_BYTES
    assert naming.clean_name("x" * 200 + "/" + "y" * 200, keep_slashes=True) == "x" * 150 + "/" + "y" * 150
    assert naming.clean_name("a" * 149 + "\u00e9") == "a" * 149      # an \u00e9 across the limit goes whole
