"""fanout_table.py: the README's fan-out tables (markdown) from the results of bench/run_fanout.sh runs.

  python3 bench/fanout_table.py /tmp/srsish-bench/results/run-*.jsonl

One table per protocol: each N, each server, with players on rate, Gbit/s delivered, server CPU, CPU µs
per delivered MB, RSS, and both as multiples of SRS's at the same N (the issue's yardstick); then the
connect-to-keyframe times of the --startup runs. Rows that failed are listed with their error.
"""
import json
import sys
from typing import Dict, List, Optional

SERVERS = {"srsish": "srsish", "srsish-base": "srsish before", "srs": "SRS 7.0.18", "nginx": "nginx-rtmp",
           "nms": "node-media-server"}
PROTOS = {"rtmp": "RTMP", "flv": "HTTP-FLV"}


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "%.2f" % (a / b) if a and b else ""


def load_table(rows: List[dict], proto: str) -> List[str]:
    load = {(r["server"], r["n"]): r for r in rows if r["proto"] == proto and not r.get("startup")}
    out = [f"{PROTOS[proto]}:", "",
           "| N | server | on rate (delivered) | CPU % of one core | CPU µs per MB | RSS MiB | ×SRS µs/MB | ×SRS RSS |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n in sorted({n for _, n in load}):
        srs = load.get(("srs", n), {})
        for server in SERVERS:
            r = load.get((server, n))
            if r is None:
                continue
            if "error" in r:
                out.append(f"| {n} | {SERVERS[server]} | error: {r['error']} | | | | | |")
                continue
            on = round(r["on_rate"] * r["players"])
            us, rss = r.get("cpu_us_per_mb"), r.get("server_rss_mib")
            mine = server != "srs"
            out.append(f"| {n} | {SERVERS[server]} | {on}/{r['players']} ({r['agg_mbps'] / 1000:.1f} Gbit/s) | "
                       f"{r['server_cpu_pct']:.1f} | {us or 0:.0f} | {rss:.0f} | "
                       f"{ratio(us, srs.get('cpu_us_per_mb')) if mine else ''} | "
                       f"{ratio(rss, srs.get('server_rss_mib')) if mine else ''} |")
    return out


def startup_table(rows: List[dict]) -> List[str]:
    st: Dict[tuple, dict] = {(r["server"], r["proto"]): r["startup_ms"] for r in rows
                             if r.get("startup") and "startup_ms" in r}
    if not st:
        return []
    out = ["Connect to first keyframe (20 players, ms):", "",
           "| server | RTMP p50 (min-max) | HTTP-FLV p50 (min-max) |", "| --- | ---: | ---: |"]
    for server in SERVERS:
        cells = []
        for proto in PROTOS:
            s = st.get((server, proto))
            cells.append(f"{s['p50']} ({s['min']}-{s['max']})" if s else "")
        if any(cells):
            out.append(f"| {SERVERS[server]} | " + " | ".join(cells) + " |")
    return out


def main(paths: List[str]) -> None:
    rows = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    for proto in PROTOS:
        if any(r["proto"] == proto and not r.get("startup") for r in rows):
            print("\n".join(load_table(rows, proto)) + "\n")
    print("\n".join(startup_table(rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
