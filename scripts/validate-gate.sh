#!/usr/bin/env bash
# Validates the regression gate on this machine (a benchmark, not a test): GATES A/A gates of
# oltp_read_write (A and B identical) and GATES gates where B does ~10 % more work per
# transaction (--set-b point_selects=EXTRA; A runs sysbench's 10), interleaved A/A, A/B, A/A...
# Each is a full `loadgate gate --ab` job on one server, in design DESIGN (abba: separate,
# interleaved trials; same-seconds: both sides in every trial). Prints how many passed, were flagged
# as regressions or stayed inconclusive, and how long a gate took.
#
#   scripts/validate-gate.sh                         # 10 + 10 gates, 5 s trials, release build
#   GATES=1 DURATION=1s MAX_PAIRS=6 scripts/validate-gate.sh   # a smoke run
#
# Settings (environment): GATES (10), DESIGN (abba), THREADS (4), DURATION (5s), WARMUP (1s), TABLE_SIZE
# (10000), EXTRA (12 point selects in B), MAX_PAIRS (16), CALIBRATE (8 A/A trials first so the
# margins fit this testbed; 0 skips), TARGET (a mysql:// URL; default: a throwaway server
# started for the script), LOADGATE (the binary; default: cargo build --release). Everything is
# stored in a temporary store, removed at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

GATES=${GATES:-10}
DESIGN=${DESIGN:-abba}
THREADS=${THREADS:-4}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
TABLE_SIZE=${TABLE_SIZE:-10000}
EXTRA=${EXTRA:-12}
MAX_PAIRS=${MAX_PAIRS:-16}
CALIBRATE=${CALIBRATE:-8}

PROG=validate-gate
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
build_loadgate

work=$(mktemp -d -t loadgate-validate-XXXXXX)
export LOADGATE_STORE="$work/store.db"
export LOADGATE_STATE_DIR="$work/state"
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "validate-gate: kept $work" >&2; else rm -rf "$work"; fi
}
at_exit cleanup

if [ -z "${TARGET:-}" ]; then
  start_throwaway_server "$LOADGATE_STATE_DIR"
  TARGET=$SERVER_URL
fi

common=(oltp_read_write --target "$TARGET" --threads "$THREADS" --duration "$DURATION"
  --warmup "$WARMUP" --table-size "$TABLE_SIZE")

echo "validate-gate: $GATES A/A and $GATES A/B gates (B: point_selects=$EXTRA), design $DESIGN, $THREADS threads," \
  "$DURATION trials after $WARMUP warm-up, up to $MAX_PAIRS pairs, on $TARGET" >&2
"$LOADGATE" prepare oltp_read_write --target "$TARGET" --table-size "$TABLE_SIZE" -q >&2
if [ "$CALIBRATE" -gt 0 ]; then
  "$LOADGATE" calibrate "${common[@]}" --trials "$CALIBRATE" -q >&2
fi

# The pairs and the tps change of a JSON gate report (pretty-printed, one key per line).
pairs_of() { sed -n 's/.*"pairs": *\([0-9]*\).*/\1/p' "$1" | head -1; }
tps_change() {
  awk '/"metric": "tps"/ {f=1} f && /"relative_change"/ {gsub(/[",]/, "", $2); print $2; exit}' "$1"
}
now() { date +%s.%N; }

results="$work/results.tsv"
: >"$results"
for i in $(seq 1 "$GATES"); do
  for kind in aa ab; do
    out="$work/$kind-$i.json"
    b=(--ab)
    if [ "$kind" = ab ]; then b=(--set-b "point_selects=$EXTRA"); fi
    t0=$(now)
    set +e
    "$LOADGATE" gate "${common[@]}" "${b[@]}" --design "$DESIGN" --max-pairs "$MAX_PAIRS" \
      --format json --output "$out" -q 2>"$work/$kind-$i.err"
    code=$?
    set -e
    t1=$(now)
    p=""; c=""
    if [ -s "$out" ]; then p=$(pairs_of "$out"); c=$(tps_change "$out"); fi
    if [ "$code" != 0 ] && [ "$code" != 1 ] && [ "$code" != 3 ]; then
      echo "gate $kind $i: exit $code: $(cat "$work/$kind-$i.err")" >&2
    fi
    awk -v k="$kind" -v i="$i" -v code="$code" -v p="${p:-0}" -v c="${c:-0}" -v t0="$t0" -v t1="$t1" \
      'BEGIN { printf "%s\t%d\t%d\t%s\t%s\t%.1f\n", k, i, code, p, c, t1 - t0 }' >>"$results"
    tail -1 "$results" | awk -F'\t' '{ printf "gate %s %2d: exit %d, %2d pairs, tps %+.1f %%, %.0f s\n", $1, $2, $3, $4, $5 * 100, $6 }' >&2
  done
done

echo
awk -F'\t' -v extra="$EXTRA" '
  { n[$1]++; code[$1, $3]++; pairs[$1] += $4; change[$1] += $5; secs[$1] += $6
    if ($6 > maxs[$1]) maxs[$1] = $6 }
  END {
    print "| gates | n | passed (0) | flagged (1) | inconclusive (3) | errors | mean tps change | mean pairs | mean s | max s |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    split("aa ab", kinds, " ")
    for (j = 1; j <= 2; j++) {
      k = kinds[j]
      if (!n[k]) continue
      label = (k == "aa") ? "A/A (identical)" : "B: point_selects=" extra
      errors = n[k] - code[k, 0] - code[k, 1] - code[k, 3]
      printf "| %s | %d | %d | %d | %d | %d | %+.1f %% | %.1f | %.0f | %.0f |\n", label, n[k],
        code[k, 0], code[k, 1], code[k, 3], errors, 100 * change[k] / n[k], pairs[k] / n[k],
        secs[k] / n[k], maxs[k]
    }
  }' "$results"
echo
echo "(design $DESIGN, $THREADS threads, $DURATION trials after $WARMUP warm-up, table_size $TABLE_SIZE, up to $MAX_PAIRS pairs, calibration: $CALIBRATE A/A trials, $("$LOADGATE" --version), $(nproc) cores)"
