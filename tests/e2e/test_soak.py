"""The soak of bench/soak.py, two minutes of it: churn, hook backend down and up, reloads, garbage; the bar held."""
import csv
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(420)
def test_two_minute_soak_holds_the_bar(tmp_path):
    out = tmp_path / "soak.out"
    with open(out, "wb") as f:
        rc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "soak.py"), "--minutes", "2",
                             "--dir", str(tmp_path / "run"), "--players", "2"], stdout=f, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, timeout=400, start_new_session=True).returncode
    text = out.read_text(errors="replace")
    assert rc == 0, text[-6000:]
    for check in ("rss flat", "fds flat", "greenlets flat", "outbox drained", "clean stop", "hooks accounted",
                  "dvr playable", "hls playable", "no traceback"):
        assert any(line.startswith("soak: " + check) and " PASS " in line for line in text.splitlines()), check
    # the churn really happened: the backend went down, clients were kicked, publishers left both ways
    assert '"callback_down": ' in text and '"api_kick": ' in text and '"publish_clean": ' in text, text[-3000:]
    assert '"hls_dispose": 0' not in text, "no HLS stream was disposed: " + text[-3000:]
    with open(tmp_path / "run" / "soak.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 20 and all(int(r["greenlets"]) > 0 for r in rows)
    assert (tmp_path / "run" / "soak.png").stat().st_size > 10_000
