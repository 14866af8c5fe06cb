"""`srsish -t -c conf/full.conf` on SRS 7.0.18's reference conf (tests/data/srs, SRS's own files): it loads, and every
directive srsish accepts without acting on it is listed by file, line and name; an open API is warned about."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SRS_TREE = os.path.join(REPO, "tests", "data", "srs")


def check(cwd, conf):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRS_")}
    env["PYTHONPATH"] = REPO
    return subprocess.run([sys.executable, "-m", "srsish", "-t", "-c", conf], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_full_conf_lists_each_unimplemented_directive_with_its_line():
    done = check(SRS_TREE, "conf/full.conf")
    assert done.returncode == 0, done.stderr
    out = done.stderr
    assert "is_full on\" marks SRS's full.conf" in out
    unimplemented = re.findall(r'srsish: warning: conf/full\.conf:(\d+): "([^"]+)" is accepted but not implemented', out)
    names = {n for _, n in unimplemented}
    assert ("87", "pithy_print_ms") in unimplemented
    assert {"vhost.tcp_nodelay", "vhost.publish.mr", "vhost.http_static"} <= names
    for done_now in ("vhost.security", "vhost.refer", "http_api.https", "http_server.https", "exporter"):
        assert done_now not in names and f'"{done_now}" is not implemented' not in out
    # SRS features srsish lacks (RTC, SRT, transcode...) are named too, each with its line.
    assert re.search(r'conf/full\.conf:\d+: "vhost\.transcode" is not implemented by srsish, ignored', out)


def test_check_warns_about_an_api_beyond_loopback_without_auth(tmp_path):
    (tmp_path / "open.conf").write_text("listen 1935;\nhttp_api { enabled on; listen 1985; }\n")
    (tmp_path / "local.conf").write_text("listen 1935;\nhttp_api { enabled on; listen 127.0.0.1:1985; }\n")
    (tmp_path / "auth.conf").write_text("listen 1935;\nhttp_api { enabled on; listen 1985; "
                                        "auth { enabled on; username a; password b; } }\n")
    warned = check(tmp_path, "open.conf")
    assert warned.returncode == 0 and 'http_api listens at 0.0.0.0:1985 without "auth"' in warned.stderr
    for quiet in ("local.conf", "auth.conf"):
        assert "without \"auth\"" not in check(tmp_path, quiet).stderr
