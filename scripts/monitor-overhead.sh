#!/usr/bin/env bash
# monitor-overhead.sh: what the embedded monitor costs in throughput.
#
# What it measures. One server (a throwaway local MariaDB started here, or --target), the
# sbtest tables prepared once. REPEATS pairs of runs of WORKLOAD at THREADS threads, one with the
# monitor on (the default, sampling every MONITOR_INTERVAL) and one with --no-monitor, the order
# alternating (on/off, off/on, ...) so that drift cancels. For each run: QPS (the JSON report's
# qps.total) and, with the monitor on, the statements the monitor itself sent per second.
#
# How to read the output. One row per run, then the medians: QPS on, QPS off, and the median of
# the per-pair ratios on/off (pairs are adjacent in time). overhead = (1 − ratio) × 100 %. The
# bar (issue 4): overhead ≤ 1 %. With a run-to-run noise of several percent (DESIGN.md), a
# 1 % effect needs many pairs, so the script also prints a 90 % interval of the ratio (Student t
# on the log ratios) and says `yes` only when the whole interval is within the bar, `no` when it
# is wholly outside, and `inconclusive` otherwise.
#
# Usage: scripts/monitor-overhead.sh [options]          (--help for the options)
# Quick validation: DURATION=2 REPEATS=2 scripts/monitor-overhead.sh --loadgate target/debug/loadgate
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROG="monitor-overhead"

WORKLOAD="${WORKLOAD:-oltp_point_select}"
THREADS="${THREADS:-4}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
REPEATS="${REPEATS:-5}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
MONITOR_INTERVAL="${MONITOR_INTERVAL:-1s}"
TARGET="${LOADGATE_TARGET:-}"
LOADGATE="${LOADGATE_BIN:-}"

usage() {
  cat <<EOF
Usage: scripts/monitor-overhead.sh [options]

Runs WORKLOAD with the embedded monitor on and off, interleaved, and prints the throughput
cost of the monitor (medians over REPEATS pairs).

Options (environment variable in brackets):
  --target URL           Server, mysql://user[:password]@host:port/db [LOADGATE_TARGET].
                         Default: a throwaway local server, stopped at the end.
  --workload NAME        [WORKLOAD] (default: $WORKLOAD)
  --threads N            [THREADS] (default: $THREADS)
  --duration S           Seconds per run [DURATION] (default: $DURATION)
  --warmup S             Warm-up seconds per run [WARMUP] (default: $WARMUP)
  --repeats N            Pairs [REPEATS] (default: $REPEATS)
  --table-size N         [TABLE_SIZE] (default: $TABLE_SIZE)
  --monitor-interval D   Sample interval of the monitor [MONITOR_INTERVAL] (default: $MONITOR_INTERVAL)
  --loadgate PATH        loadgate binary [LOADGATE_BIN] (default: cargo build --release)
  -h, --help             This help

Quick validation: DURATION=2 REPEATS=2 scripts/monitor-overhead.sh --loadgate target/debug/loadgate
EOF
}

die() {
  echo "$PROG: error: $*" >&2
  exit 2
}
note() { echo "$PROG: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --target) TARGET="${2:?--target needs a URL}"; shift 2 ;;
    --workload) WORKLOAD="${2:?--workload needs a name}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a number}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs seconds}"; shift 2 ;;
    --repeats) REPEATS="${2:?--repeats needs a number}"; shift 2 ;;
    --table-size) TABLE_SIZE="${2:?--table-size needs a number}"; shift 2 ;;
    --monitor-interval) MONITOR_INTERVAL="${2:?--monitor-interval needs a duration}"; shift 2 ;;
    --loadgate) LOADGATE="${2:?--loadgate needs a path}"; shift 2 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

DURATION="${DURATION%s}"
WARMUP="${WARMUP%s}"
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$DURATION" && [ "$DURATION" -gt 0 ] || die "DURATION must be whole seconds > 0 (got '$DURATION')"
is_uint "$WARMUP" || die "WARMUP must be whole seconds (got '$WARMUP')"
is_uint "$REPEATS" && [ "$REPEATS" -gt 0 ] || die "REPEATS must be a number > 0 (got '$REPEATS')"
is_uint "$THREADS" && [ "$THREADS" -gt 0 ] || die "THREADS must be a number > 0 (got '$THREADS')"
is_uint "$TABLE_SIZE" && [ "$TABLE_SIZE" -gt 0 ] || die "TABLE_SIZE must be a number > 0 (got '$TABLE_SIZE')"
command -v python3 >/dev/null || die "python3 is needed to read the JSON reports"

if [ -z "$LOADGATE" ]; then
  note "building loadgate (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  LOADGATE="${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgate"
fi
[ -x "$LOADGATE" ] || die "no loadgate binary at $LOADGATE"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/loadgate-overhead-XXXXXX")"
export LOADGATE_STORE="$WORK/store.db" LOADGATE_STATE_DIR="$WORK/state"
unset LOADGATE_TARGET MYSQL_PWD || true
cleanup() {
  if [ -z "${TARGET_GIVEN:-}" ]; then "$LOADGATE" server stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "$TARGET" ]; then
  TARGET_GIVEN=1
else
  note "starting a throwaway server"
  TARGET="$("$LOADGATE" server start --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')"
  TARGET="${TARGET%/}/loadgate"
fi

note "preparing $WORKLOAD ($TABLE_SIZE rows) on the target"
"$LOADGATE" prepare "$WORKLOAD" --target "$TARGET" --table-size "$TABLE_SIZE" -q >/dev/null 2>&1 ||
  note "prepare failed or the tables exist already; running on what is there"

# One run; prints "qps monitor_statements_per_s".
one() {
  local mode="$1" out
  local args=(run "$WORKLOAD" --target "$TARGET" --threads "$THREADS" --table-size "$TABLE_SIZE"
    --duration "${DURATION}s" --warmup "${WARMUP}s" --json -q)
  if [ "$mode" = off ]; then args+=(--no-monitor); else args+=(--monitor-interval "$MONITOR_INTERVAL"); fi
  out="$("$LOADGATE" "${args[@]}")" || die "loadgate run failed ($mode)"
  python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
m = r.get("monitor") or {}
w = m.get("window") or {}
own = w.get("monitor_queries", 0) / max(w.get("t", 0) or 1e-9, 1e-9) if w else 0.0
print("%.2f %.2f" % (r["qps"]["total"], own))' <<<"$out"
}

printf '| pair | order | QPS monitor on | QPS off | ratio on/off | monitor statements/s |\n'
printf '|---:|---|---:|---:|---:|---:|\n'
ONS=() OFFS=() RATIOS=()
for i in $(seq 1 "$REPEATS"); do
  if [ $((i % 2)) -eq 1 ]; then order="on,off"; else order="off,on"; fi
  for mode in ${order//,/ }; do
    res="$(one "$mode")"
    read -r qps own <<<"$res"
    if [ "$mode" = on ]; then on="$qps"; on_own="$own"; else off="$qps"; fi
  done
  ratio="$(python3 -c "print('%.4f' % ($on / $off))")"
  ONS+=("$on") OFFS+=("$off") RATIOS+=("$ratio")
  printf '| %d | %s | %s | %s | %s | %s |\n' "$i" "$order" "$on" "$off" "$ratio" "$on_own"
done

python3 - "${ONS[*]}" "${OFFS[*]}" "${RATIOS[*]}" "$WORKLOAD" "$THREADS" "$DURATION" "$MONITOR_INTERVAL" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" <<'EOF'
import math, statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
ratios = [float(x) for x in sys.argv[3].split()]
r = statistics.median(ratios)
print()
print(f"{sys.argv[4]}, {sys.argv[5]} threads, {sys.argv[6]} s per run, monitor every {sys.argv[7]}, {len(ratios)} pairs (load average at the end: {sys.argv[8]}):")
print(f"  median QPS with the monitor {statistics.median(on):.1f}, without {statistics.median(off):.1f}")
print(f"  median ratio on/off {r:.4f} (pairs {min(ratios):.4f}..{max(ratios):.4f}): overhead {(1 - r) * 100:.2f} %")
# 90 % interval of the mean log ratio (Student t, 0.95 quantile by degrees of freedom 1..20).
T95 = [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782,
       1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725]
n = len(ratios)
if n < 2:
    print("  bar (overhead <= 1 %): inconclusive (one pair; use REPEATS >= 5)")
    sys.exit(0)
logs = [math.log(x) for x in ratios]
m, se = statistics.mean(logs), statistics.stdev(logs) / math.sqrt(n)
t = T95[n - 2] if n - 2 < len(T95) else 1.645
lo, hi = math.exp(m - t * se), math.exp(m + t * se)
print(f"  90 % interval of the ratio {lo:.4f}..{hi:.4f}: overhead {(1 - hi) * 100:.2f} .. {(1 - lo) * 100:.2f} %")
if lo >= 0.99:
    verdict = "yes"
elif hi < 0.99:
    verdict = "no"
else:
    verdict = "inconclusive: the run-to-run noise is wider than the bar; more pairs, longer runs or a quieter machine"
print(f"  bar (overhead <= 1 %): {verdict}")
EOF
