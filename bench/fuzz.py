"""Run srsish's fuzz targets (tests/fuzz/fuzz_targets.py): coverage-guided with atheris, or by plain mutation.

    python bench/fuzz.py --list
    python bench/fuzz.py TARGET [--runs N] [--engine atheris|mutate] [--timeout S] [--rss-mb M]
    python bench/fuzz.py all --runs N          # each target in its own process, then a table of the figures

atheris (pip install atheris; not needed by the test suite) instruments srsish and h11 as they are imported and
lets libFuzzer steer the inputs by coverage, starting from each target's seeds (valid sessions, files, confs);
`--timeout` bounds one input (a hang is a finding), `--rss-mb` the process (unbounded memory is one too). A
finding leaves its input in DIR/crash-* (libFuzzer's artifact) and ends the run with a non-zero status: copy the
input to tests/data/fuzz-regressions/<target>/ so tests/fuzz/test_fuzz_regressions.py replays it, then fix.

`--engine mutate` is the fallback where atheris cannot be installed: random byte flips, inserts, deletes,
splices and interesting integers over the seeds, each input run under the same time bound; it is blind to
coverage, so it finds less per input.
"""
import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS_DIR = os.path.join(ROOT, "tests", "fuzz")
sys.path.insert(0, ROOT)
sys.path.insert(0, TARGETS_DIR)


def load_targets(instrument: bool):
    if instrument:
        import atheris
        with atheris.instrument_imports(include=["srsish", "h11", "fuzz_targets"]):
            import fuzz_targets
    else:
        import fuzz_targets
    return fuzz_targets


def run_atheris(name: str, args: argparse.Namespace) -> int:
    import atheris
    ft = load_targets(instrument=True)
    target = ft.TARGETS[name]
    work = args.dir or tempfile.mkdtemp(prefix="srsish-fuzz-%s-" % name)
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    for i, seed in enumerate(ft.seeds(name)):
        with open(os.path.join(corpus, "seed-%d" % i), "wb") as f:
            f.write(seed)
    argv = [sys.argv[0], corpus, "-runs=%d" % args.runs, "-timeout=%d" % args.timeout,
            "-rss_limit_mb=%d" % args.rss_mb, "-max_len=%d" % args.max_len,
            "-artifact_prefix=%s/" % work, "-print_final_stats=1"]
    print("fuzz: %s with atheris, %d runs, work dir %s" % (name, args.runs, work), flush=True)
    atheris.Setup(argv, target)
    atheris.Fuzz()   # libFuzzer exits the process: 0 when the runs are done, non-zero on a finding
    return 0


MAGIC = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
         b"\x00\xff\xff\xff", b"\xff\xff\xff", b"\x03", b"\x01\x00\x00", b"{", b"[", b";", b"\r\n", b"\x00\x00\x09"]


def mutate(rnd: random.Random, data: bytes, pool: list, max_len: int) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(7)
        pos = rnd.randint(0, len(b))
        if op == 0 and b:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2:
            b[pos:pos] = rnd.choice(MAGIC)
        elif op == 3 and b:
            del b[pos:pos + rnd.randint(1, 64)]
        elif op == 4:
            other = rnd.choice(pool)
            start = rnd.randint(0, len(other))
            b[pos:pos] = other[start:start + rnd.randint(1, 256)]
        elif op == 5 and b:
            start = rnd.randrange(len(b))
            b[pos:pos] = b[start:start + rnd.randint(1, 32)] * rnd.randint(1, 8)
        elif op == 6:
            b[pos:pos + 4] = rnd.choice(MAGIC)
    return bytes(b[:max_len])


class InputTimeout(Exception):
    pass


def _alarm(_sig, _frame):
    raise InputTimeout()


def run_mutate(name: str, args: argparse.Namespace) -> int:
    ft = load_targets(instrument=False)
    target = ft.TARGETS[name]
    rnd = random.Random(args.seed)
    pool = list(ft.seeds(name))
    work = args.dir or tempfile.mkdtemp(prefix="srsish-fuzz-%s-" % name)
    os.makedirs(work, exist_ok=True)
    signal.signal(signal.SIGALRM, _alarm)
    started, crashes = time.monotonic(), 0
    for n in range(1, args.runs + 1):
        data = mutate(rnd, rnd.choice(pool), pool, args.max_len) if n > len(pool) else pool[n - 1]
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            target(data)
        except Exception as e:  # noqa: BLE001 - every escape is a finding
            crashes += 1
            path = os.path.join(work, "crash-%d" % n)
            with open(path, "wb") as f:
                f.write(data)
            print("fuzz: %s: %s: %s, input in %s" % (name, type(e).__name__, e, path), flush=True)
            if crashes >= args.max_crashes:
                break
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if len(pool) < 5000 and rnd.random() < 0.01:
            pool.append(data)   # keep some mutants as parents: deeper formats over time
        if n % 100000 == 0:
            print("fuzz: %s: %d runs, %d crashes, %.0f/s" % (name, n, crashes, n / (time.monotonic() - started)),
                  flush=True)
    print("Done %d runs in %d second(s), %d crashes" % (n, time.monotonic() - started, crashes), flush=True)
    return 1 if crashes else 0


def run_all(args: argparse.Namespace) -> int:
    """Each target in its own process (libFuzzer ends the process); a Markdown table of the figures."""
    import fuzz_targets
    rows, worst = [], 0
    for name in fuzz_targets.TARGETS:
        cmd = [sys.executable, os.path.abspath(__file__), name, "--runs", str(args.runs), "--engine", args.engine,
               "--timeout", str(args.timeout), "--rss-mb", str(args.rss_mb)]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = proc.stdout
        done = re.findall(r"Done (\d+) runs", out)
        runs = int(done[-1]) if done else 0
        found = "none" if proc.returncode == 0 else out.strip().splitlines()[-1][:80]
        rows.append((name, runs, time.monotonic() - t0, found))
        worst = worst or proc.returncode
        print("| %s | %d | %.0f s | %s |" % rows[-1], flush=True)
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target", nargs="?")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=("atheris", "mutate"), default="atheris")
    ap.add_argument("--timeout", type=int, default=5, help="seconds one input may take")
    ap.add_argument("--rss-mb", type=int, default=1024, help="the process's memory bound")
    ap.add_argument("--max-len", type=int, default=16384)
    ap.add_argument("--max-crashes", type=int, default=20, help="mutate engine: stop after this many")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", help="work directory (corpus, crash inputs)")
    args = ap.parse_args()
    if args.list or not args.target:
        import fuzz_targets
        print("\n".join(fuzz_targets.TARGETS))
        return 0
    if args.target == "all":
        return run_all(args)
    if args.engine == "atheris":
        return run_atheris(args.target, args)
    return run_mutate(args.target, args)


if __name__ == "__main__":
    sys.exit(main())
