"""SRS's security allow/deny evaluation and the refer domain check, as pure decisions."""
import pytest

from srsish.app.access import PLAY, PUBLISH, page_domain, refer_refusal, rule_matches, security_refusal


def sec(*rules, enabled=True):
    return {"enabled": enabled, "rules": [tuple(r.split()) for r in rules]}


def test_disabled_security_admits_everyone():
    assert security_refusal(sec("deny publish all", enabled=False), PUBLISH, "1.2.3.4") is None


def test_enabled_without_rules_refuses_everyone_as_srs():
    assert "no rules" in security_refusal(sec(), PLAY, "127.0.0.1")


def test_deny_wins_and_names_the_rule():
    why = security_refusal(sec("allow publish all", "deny publish 10.0.0.0/8"), PUBLISH, "10.1.2.3")
    assert why == 'security: publish from 10.1.2.3 denied by rule "deny publish 10.0.0.0/8"'
    assert security_refusal(sec("allow publish all", "deny publish 10.0.0.0/8"), PUBLISH, "11.1.2.3") is None


def test_only_deny_rules_admit_the_rest():
    rules = sec("deny publish 192.168.1.1")
    assert security_refusal(rules, PUBLISH, "192.168.1.2") is None
    assert security_refusal(rules, PLAY, "192.168.1.1") is None   # a publish rule says nothing about play
    assert security_refusal(rules, PUBLISH, "192.168.1.1") is not None


def test_any_allow_rule_makes_every_action_deny_by_default_as_srs():
    rules = sec("allow play all")
    assert security_refusal(rules, PLAY, "8.8.8.8") is None
    assert "not allowed by any of the 1 allow rules" in security_refusal(rules, PUBLISH, "8.8.8.8")


def test_allow_by_address_and_cidr():
    rules = sec("allow publish 127.0.0.1", "allow play 10.0.0.0/8")
    assert security_refusal(rules, PUBLISH, "127.0.0.1") is None
    assert security_refusal(rules, PUBLISH, "127.0.0.2") is not None
    assert security_refusal(rules, PLAY, "10.200.0.1") is None
    assert security_refusal(rules, PLAY, "11.0.0.1") is not None


@pytest.mark.parametrize("target,ip,hit", [
    ("all", "::1", True),
    ("::1", "::1", True),
    ("::1", "0:0:0:0:0:0:0:1", True),
    ("2001:db8::/32", "2001:db8:1::5", True),
    ("2001:db8::/32", "2001:db9::5", False),
    ("10.0.0.0/8", "::ffff:10.9.9.9", True),     # an IPv4 client on a dual-stack socket
    ("127.0.0.1", "::ffff:127.0.0.1", True),
    ("10.0.0.0/8", "2001:db8::1", False),
    ("not-an-ip", "1.2.3.4", False),
    ("10.0.0.0/8", "garbage", False),
])
def test_rule_targets(target, ip, hit):
    assert rule_matches(target, ip) is hit


def ref(all_=(), publish=(), play=(), enabled=True):
    return {"enabled": enabled, "all": list(all_), "publish": list(publish), "play": list(play)}


@pytest.mark.parametrize("url,domain", [
    ("http://www.example.com/player.html", "www.example.com"),
    ("https://Example.COM:8443/x?y=1", "example.com"),
    ("example.com/page", "example.com"),
    ("", ""),
])
def test_page_domain(url, domain):
    assert page_domain(url) == domain


def test_refer_matches_whole_labels_not_a_suffix():
    r = ref(all_=["example.com"])
    assert refer_refusal(r, PLAY, "http://example.com/p") is None
    assert refer_refusal(r, PLAY, "http://www.example.com/p") is None
    assert "refer.all" in refer_refusal(r, PLAY, "http://evilexample.com/p")
    assert refer_refusal(r, PLAY, "http://example.com.evil.net/p") is not None


def test_refer_lists_apply_to_their_action_and_unset_lists_admit_all():
    r = ref(play=["a.com"])
    assert refer_refusal(r, PUBLISH, "http://b.com/") is None
    assert "refer.play" in refer_refusal(r, PLAY, "http://b.com/")
    assert refer_refusal(ref(), PLAY, "") is None
    assert refer_refusal(ref(play=["a.com"], enabled=False), PLAY, "") is None


def test_a_client_without_page_url_is_refused_by_a_set_list():
    assert refer_refusal(ref(all_=["a.com"]), PUBLISH, "") is not None
