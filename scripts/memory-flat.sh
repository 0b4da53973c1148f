#!/usr/bin/env bash
# memory-flat.sh: loadgate's peak memory does not grow with the length of a run.
#
# What it measures. loadgate keeps fixed-size HDR histograms (per worker thread, per transaction
# type, per statement) and one small sample per second for the time series, so its memory
# should be the same for a 10 s and a 60 s run. This script prepares sbtest1 on one server (a
# throwaway local MariaDB, or --target), then runs `loadgate run oltp_point_select` once per
# duration in DURATIONS (default "10 60") and reads the peak resident set size of the loadgate
# process from GNU time (`/usr/bin/time -f %M`, in KiB).
#
# How to read the output. One Markdown table: duration, transactions run, peak RSS in MiB, and
# RSS relative to the shortest run. `flat: yes` when every longer run stays within 10 % (and
# 2 MiB) of the shortest one, which is what fixed-size recording promises; the time series adds
# only about a hundred bytes per second. A growing RSS means something is kept per
# transaction or per query: a leak to find.
#
# Usage: scripts/memory-flat.sh [--target URL] [--durations "10 60"] [--threads N]
# Quick validation: DURATIONS="2 6" scripts/memory-flat.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROG="memory-flat"
DURATIONS="${DURATIONS:-10 60}"
THREADS="${THREADS:-4}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
CLIENT_THREADS="${CLIENT_THREADS:-0}"
TARGET="${LOADGATE_TARGET:-}"
LOADGATE="${LOADGATE_BIN:-}"

usage() {
  cat <<EOF
Usage: scripts/memory-flat.sh [options]

Runs loadgate oltp_point_select for each duration and prints its peak RSS, to show that memory
stays flat as a run gets longer.

Options (environment variable in brackets):
  --target URL          Server, mysql://user[:password]@host:port/db [LOADGATE_TARGET]
                        (default: a throwaway local MariaDB, stopped at the end)
  --durations "10 60"   Run lengths in seconds [DURATIONS] (default: "$DURATIONS")
  --threads N           Workers [THREADS] (default: $THREADS)
  --table-size N        Rows in sbtest1 [TABLE_SIZE] (default: $TABLE_SIZE)
  --client-threads N    loadgate --client-threads [CLIENT_THREADS] (default: $CLIENT_THREADS)
  --loadgate PATH       loadgate binary [LOADGATE_BIN] (default: cargo build --release)
  -h, --help            This help

Quick validation: DURATIONS="2 6" scripts/memory-flat.sh
EOF
}

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --target) TARGET="${2:?--target needs a URL}"; shift 2 ;;
    --durations) DURATIONS="${2:?--durations needs a list}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a number}"; shift 2 ;;
    --table-size) TABLE_SIZE="${2:?--table-size needs a number}"; shift 2 ;;
    --client-threads) CLIENT_THREADS="${2:?--client-threads needs a number}"; shift 2 ;;
    --loadgate) LOADGATE="${2:?--loadgate needs a path}"; shift 2 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

for d in $DURATIONS; do is_uint "${d%s}" && [ "${d%s}" -gt 0 ] || die "durations must be whole seconds > 0 (got '$d')"; done
is_uint "$THREADS" && [ "$THREADS" -gt 0 ] || die "THREADS must be a number > 0 (got '$THREADS')"
is_uint "$TABLE_SIZE" && [ "$TABLE_SIZE" -gt 0 ] || die "TABLE_SIZE must be a number > 0 (got '$TABLE_SIZE')"
is_uint "$CLIENT_THREADS" || die "CLIENT_THREADS must be a number (got '$CLIENT_THREADS')"

need /usr/bin/time:time
build_loadgate

TMP="$(mktemp -d "${TMPDIR:-/tmp}/memory-flat.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
at_exit cleanup

if [ -z "$TARGET" ]; then
  note "starting a throwaway server"
  start_throwaway_server "$TMP/state" --store "$TMP/store.db"
  TARGET="${SERVER_URL}sbtest"
fi

note "preparing sbtest1 ($TABLE_SIZE rows)"
"$LOADGATE" prepare oltp_point_select --target "$TARGET" --tables 1 --table-size "$TABLE_SIZE" \
  --store "$TMP/store.db" -q >"$TMP/prepare.log" 2>&1 || { cat "$TMP/prepare.log" >&2; die "loadgate prepare failed"; }

rows=""
for d in $DURATIONS; do
  d="${d%s}"
  note "running ${d}s"
  /usr/bin/time -f '%M' -o "$TMP/time" "$LOADGATE" run oltp_point_select --target "$TARGET" \
    --tables 1 --table-size "$TABLE_SIZE" --threads "$THREADS" --client-threads "$CLIENT_THREADS" \
    --duration "${d}s" --warmup 0s --rand-type uniform --store "$TMP/store.db" --json -q \
    >"$TMP/run.json" 2>"$TMP/run.err" || { tail -n 20 "$TMP/run.err" >&2; die "loadgate run (${d}s) failed"; }
  txns="$(awk '/^  "transactions":/ {gsub(/[^0-9]/, "", $2); print $2; exit}' "$TMP/run.json")"
  rows="$rows$d $txns $(tail -n 1 "$TMP/time")"$'\n'
done

echo
echo "### loadgate peak memory vs run length (oltp_point_select, $THREADS threads, --client-threads $CLIENT_THREADS)"
echo
printf '%s' "$rows" | awk '
  NF == 3 { n++; d[n] = $1; t[n] = $2; kb[n] = $3 }
  END {
    print "| duration | transactions | peak RSS (MiB) | vs shortest |"
    print "|---:|---:|---:|---:|"
    flat = "yes"
    for (i = 1; i <= n; i++) {
      printf "| %d s | %d | %.1f | %.2fx |\n", d[i], t[i], kb[i] / 1024, kb[i] / kb[1]
      if (kb[i] > kb[1] * 1.10 && kb[i] - kb[1] > 2048) flat = "no"
    }
    print ""
    print "flat: " flat " (every run within 10 % or 2 MiB of the first)"
  }'
