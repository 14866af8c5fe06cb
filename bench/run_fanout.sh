#!/usr/bin/env bash
# Fan-out benchmark of srsish against its peers, in one run, with ../shared/bench.
#
#   bench/run_fanout.sh                          # srsish-rtmp nginx-rtmp srsish-flv nms-flv
#   bench/run_fanout.sh srsish-flv nms-flv       # only these (any of srsish|base|nginx|nms|srs - rtmp|flv)
#   BASE_REPO=/work/main bench/run_fanout.sh base-rtmp srsish-rtmp srs-rtmp   # before/after, same run
#   RTMP_N=50 FLV_N=50 bench/run_fanout.sh srsish-rtmp nms-flv     # a quick end-to-end check
#
# Environment:
#   RTMP_N      player counts for RTMP targets   (default 100,400,1000,2000)
#   FLV_N       player counts for HTTP-FLV targets (default 100,400,1000)
#   MAX_N       let fanout.py keep doubling N up to this while a server keeps up
#               (default: none, the lists are run as given)
#   STARTUP=1   also measure connect-to-keyframe (fanout.py --startup, 20 players) per target
#   DURATION    measuring window per point in s (default fanout.py's 20)
#   BENCH_SRC   the bench to copy (default ../shared/bench next to this repository); it is never written
#   BENCH_WORK  work dir (default /tmp/srsish-bench): the copy, the cached source clip, srsish's cwd
#               and log, results/run-<stamp>.jsonl and .txt
#   PYTHON      interpreter that can import srsish and gevent (default python3)
#   BASE_REPO   another srsish checkout (e.g. main) for the `base` targets, labelled srsish-base:
#               same conf, same interpreter, its code first on PYTHONPATH
#
# Ports (all 127.0.0.1): nginx-rtmp 19351, node-media-server 19352/18352, SRS 19353/18353 (only
# with SRS_BIN), srsish 19354/18354 (bench/srsish.conf). They must be free before the run.
# Peers: apt-get install -y nginx libnginx-mod-rtmp ffmpeg;
#        mkdir -p /tmp/nms && cd /tmp/nms && npm install node-media-server@4
# Each point takes about 35 s plus up to 60 s waiting for a quiet machine; run it on an idle box.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${BENCH_SRC:-$REPO/../shared/bench}"
WORK="${BENCH_WORK:-/tmp/srsish-bench}"
RTMP_N="${RTMP_N:-100,400,1000,2000}"
FLV_N="${FLV_N:-100,400,1000}"
PY="$(${PYTHON:-python3} -c 'import sys; print(sys.executable)')"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(srsish-rtmp nginx-rtmp srsish-flv nms-flv)

die() { echo "run_fanout.sh: $*" >&2; exit 1; }

ulimit -n 20000 || die "cannot raise the open-files limit to 20000 (ulimit -Hn is $(ulimit -Hn))"
[ -f "$SRC/fanout.py" ] && [ -f "$SRC/players.py" ] || die "no bench at $SRC (set BENCH_SRC)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU 0, publisher and players on CPU 1)"
for tool in taskset ffmpeg ffprobe; do command -v "$tool" >/dev/null || die "$tool not found"; done

# -- the work copy (the shared bench stays read-only; .cache/source.flv is kept between runs)
mkdir -p "$WORK/results" "$WORK/srsish/html"
cp -f "$SRC"/*.py "$SRC/README.md" "$WORK/"
chmod u+w "$WORK"/*.py "$WORK/README.md"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$WORK/results/run-$STAMP.jsonl"
TXT="$WORK/results/run-$STAMP.txt"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# -- preflight, all targets before the first point
for t in "${TARGETS[@]}"; do
    server="${t%-*}"; proto="${t##*-}"
    case "$proto" in rtmp|flv) ;; *) die "target $t: protocol must be rtmp or flv";; esac
    case "$server" in
        srsish)
            "$PY" -c 'import srsish, gevent' 2>/dev/null || die "$PY cannot import srsish and gevent"
            out="$("$PY" -m srsish -t -c "$REPO/bench/srsish.conf" 2>&1)" || die "bench/srsish.conf: $out"
            ports="19354 18354";;
        base)
            [ -f "${BASE_REPO:-}/srsish/__init__.py" ] || die "target $t needs BASE_REPO=<another srsish checkout>"
            PYTHONPATH="$BASE_REPO" "$PY" -c 'import srsish, gevent' 2>/dev/null || die "cannot import $BASE_REPO's srsish"
            ports="19354 18354";;
        nginx)
            [ "$proto" = rtmp ] || die "nginx-rtmp has no HTTP-FLV"
            command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] \
                || die "apt-get install -y nginx libnginx-mod-rtmp"
            ports="19351";;
        nms)
            [ -f /tmp/nms/node_modules/node-media-server/bin/app.js ] && command -v node >/dev/null \
                || die "mkdir -p /tmp/nms && cd /tmp/nms && npm install node-media-server@4"
            ports="19352 18352";;
        srs)
            [ -x "${SRS_BIN:-}" ] || die "target $t needs SRS_BIN=.../trunk/objs/srs"
            ports="19353 18353";;
        *) die "unknown server in target $t (srsish, base, nginx, nms or srs)";;
    esac
    for p in $ports; do
        if port_busy "$p"; then die "port $p is in use (a server left running?); stop it first"; fi
    done
done

run() {   # run <label> fanout.py args...
    echo "## $1: fanout.py ${*:2}" | tee -a "$TXT"
    (cd "$WORK" && "$PY" fanout.py "${@:2}" --out "$OUT") 2>&1 | tee -a "$TXT"
}

echo "# srsish fan-out run $STAMP: $(nproc) CPUs, $(uname -r), $("$PY" -V 2>&1), $(node -v 2>/dev/null || echo 'no node'), \
srsish $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'); results in $OUT" | tee "$TXT"
for t in "${TARGETS[@]}"; do
    server="${t%-*}"; proto="${t##*-}"
    if [ "$proto" = rtmp ]; then ns="$RTMP_N"; else ns="$FLV_N"; fi
    args=("$proto" -n "$ns" --max-n "${MAX_N:-${ns##*,}}")
    [ -z "${DURATION:-}" ] || args+=(--duration "$DURATION")
    if [ "$server" = srsish ] || [ "$server" = base ]; then
        cmd="$PY -m srsish -c $REPO/bench/srsish.conf" name=srsish
        # fanout.py splits --cmd on spaces (no shell): env(1) puts the other checkout first on the path
        [ "$server" = srsish ] || { cmd="env PYTHONPATH=$BASE_REPO $cmd"; name=srsish-base; }
        args=(custom "${args[@]}" --name "$name" --cmd "$cmd"
              --cwd "$WORK/srsish" --rtmp-url rtmp://127.0.0.1:19354/live/bench
              --flv-url http://127.0.0.1:18354/live/bench.flv)
    else
        args=("$server" "${args[@]}")
    fi
    run "$t" "${args[@]}"
    if [ "${STARTUP:-0}" = 1 ]; then run "$t startup" "${args[@]}" --startup; fi
done

echo "## summary.py (capacity; us/MB, CPU and RSS at N=800 if measured)" | tee -a "$TXT"
(cd "$WORK" && "$PY" summary.py "$OUT") 2>&1 | tee -a "$TXT"

echo "## CPU us per delivered MB by N (srsish flv/rtmp: the issue's bar is <= 1.2)" | tee -a "$TXT"
"$PY" - "$OUT" <<'EOF' 2>&1 | tee -a "$TXT"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
load = [r for r in rows if "error" not in r and not r.get("startup")]
us = {(r["server"], r["proto"], r["n"]): r.get("cpu_us_per_mb") for r in load}
keys = sorted({(r["server"], r["proto"]) for r in load})
ns = sorted({r["n"] for r in load})
print("%-8s %-5s" % ("server", "proto") + "".join("%9s" % ("N=%d" % n) for n in ns))
for s, p in keys:
    print("%-8s %-5s" % (s, p) + "".join("%9s" % ("%.0f" % us[s, p, n] if us.get((s, p, n)) else "-") for n in ns))
ratio = ["%s: %.2f" % ("N=%d" % n, us["srsish", "flv", n] / us["srsish", "rtmp", n])
         for n in ns if us.get(("srsish", "flv", n)) and us.get(("srsish", "rtmp", n))]
print("srsish flv/rtmp us/MB: " + (", ".join(ratio) if ratio else "no common N"))
for s, p in keys:   # the issue's yardstick: us/MB as a multiple of SRS's in the same run
    if s != "srs" and any(us.get(("srs", p, n)) for n in ns):
        print("%s/srs %-4s us/MB: " % (s, p) + ", ".join(
            "N=%d: %.2f" % (n, us[s, p, n] / us["srs", p, n]) for n in ns if us.get((s, p, n)) and us.get(("srs", p, n))))
for r in rows:
    if "error" in r:
        print("ERROR %s %s N=%s: %s" % (r["server"], r["proto"], r["n"], r["error"]))
EOF
echo "results: $OUT and $TXT; srsish log: $WORK/srsish/srsish.log"
