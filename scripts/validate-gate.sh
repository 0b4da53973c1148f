#!/usr/bin/env bash
# Validates the regression gate on this machine (a benchmark, not a test): GATES A/A gates of
# oltp_read_write (A and B identical) and GATES gates against a B that does about 5 % more work
# per transaction (default B: one more point select, 11 instead of sysbench's 10, and range
# queries of 105 rows instead of 100: +5 % rows examined, +6 % statements), interleaved A/A, A/B,
# A/A... Each is a full `loadgate gate --ab` job on one server, in one of three designs:
#
#   DESIGN=abba          separate interleaved trials (A B B A), judged on time: tps, p99, errors
#   DESIGN=work          separate interleaved trials, judged on work per transaction: rows
#                        examined, page requests, disk spills
#   DESIGN=same-seconds  A and B in every trial, each transaction assigned at random, judged on
#                        the within-trial latency ratios
#
# Prints, per kind of gate, how many passed (exit 0), were flagged as regressions (1) or stayed
# inconclusive (3), the pairs and minutes used, and which metrics flagged; the raw rows go to
# OUT (a TSV) when it is set.
#
#   DESIGN=work scripts/validate-gate.sh                        # 20 + 20 gates, release build
#   GATES=1 DURATION=1s MAX_PAIRS=6 scripts/validate-gate.sh    # a smoke run
#
# Settings (environment): GATES (20), DESIGN (abba), THREADS (4), DURATION (3s), WARMUP (1s),
# TABLE_SIZE (10000), B (the settings of B, space-separated KEY=VALUE: "point_selects=11
# range_size=105"), MAX_PAIRS (16), MAX_TIME (a time budget per gate, e.g. 10m; default none),
# CALIBRATE (8 A/A trials first so the margins fit this testbed; 0 skips; the same-seconds design
# ignores calibration), TARGET (a mysql:// URL; default: a throwaway server started for the
# script), LOADGATE (the binary; default: cargo build --release), OUT (a TSV file for the raw
# rows). Everything is stored in a temporary store, removed at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

GATES=${GATES:-20}
DESIGN=${DESIGN:-abba}
THREADS=${THREADS:-4}
DURATION=${DURATION:-3s}
WARMUP=${WARMUP:-1s}
TABLE_SIZE=${TABLE_SIZE:-10000}
B=${B:-point_selects=11 range_size=105}
MAX_PAIRS=${MAX_PAIRS:-16}
MAX_TIME=${MAX_TIME:-}
CALIBRATE=${CALIBRATE:-8}

PROG=validate-gate
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
case "$DESIGN" in
  abba) design=(--design abba --metrics time) ;;
  work) design=(--design abba --metrics work) ;;
  same-seconds) design=(--design same-seconds); CALIBRATE=0 ;;
  *) die "DESIGN must be abba, work or same-seconds, not '$DESIGN'" ;;
esac
is_uint "$GATES" && [ "$GATES" -ge 1 ] || die "GATES must be a whole number ≥ 1, not '$GATES'"
set_b=()
for kv in $B; do
  [[ "$kv" == *=* ]] || die "B: '$kv' is not KEY=VALUE"
  set_b+=(--set-b "$kv")
done
[ ${#set_b[@]} -gt 0 ] || die "B names no setting"
budget=()
[ -z "$MAX_TIME" ] || budget=(--max-time "$MAX_TIME")
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

echo "validate-gate: $GATES A/A and $GATES A/B gates (B: $B), design $DESIGN, $THREADS threads," \
  "$DURATION trials after $WARMUP warm-up, up to $MAX_PAIRS pairs${MAX_TIME:+ or $MAX_TIME}, on $TARGET" >&2
"$LOADGATE" prepare oltp_read_write --target "$TARGET" --table-size "$TABLE_SIZE" -q >&2
if [ "$CALIBRATE" -gt 0 ]; then
  "$LOADGATE" calibrate "${common[@]}" --trials "$CALIBRATE" -q >&2
fi

# From a JSON gate report (pretty-printed, one key per line): the pairs (trials, same-seconds),
# the tps change, and the metrics that regressed ("-" for none).
pairs_of() { sed -n 's/.*"pairs": *\([0-9]*\).*/\1/p' "$1" | head -1; }
# The tps change: the judged estimate, or (tps not judged: --metrics work) the ratio of means.
tps_change() {
  awk '/"metric": "tps"/ {f=1}
       f && /"a": [0-9]/ {gsub(/[",]/, "", $2); a=$2}
       f && /"b": [0-9]/ {gsub(/[",]/, "", $2); b=$2}
       f && /"relative_change"/ {gsub(/[",]/, "", $2)
         if ($2 != "null") print $2; else if (a > 0) print b / a - 1; else print 0; exit}' "$1"
}
flagged_by() {
  awk '/"metric": "/ {m = $2; gsub(/[",]/, "", m)}
       /"verdict": "regressed"/ {out = out (out ? "," : "") m}
       END {print (out ? out : "-")}' "$1"
}
now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }

results="$work/results.tsv"
printf 'kind\tgate\texit\tpairs\ttps_change\tflagged_by\tseconds\tload1\n' >"$results"
for i in $(seq 1 "$GATES"); do
  for kind in aa ab; do
    out="$work/$kind-$i.json"
    b=(--ab)
    if [ "$kind" = ab ]; then b=("${set_b[@]}"); fi
    t0=$(now)
    set +e
    "$LOADGATE" gate "${common[@]}" "${b[@]}" "${design[@]}" --max-pairs "$MAX_PAIRS" \
      ${budget[@]+"${budget[@]}"} --format json --output "$out" -q 2>"$work/$kind-$i.err"
    code=$?
    set -e
    t1=$(now)
    p=""; c=""; f="-"
    if [ -s "$out" ]; then p=$(pairs_of "$out"); c=$(tps_change "$out"); f=$(flagged_by "$out"); fi
    if [ "$code" != 0 ] && [ "$code" != 1 ] && [ "$code" != 3 ]; then
      echo "gate $kind $i: exit $code: $(cat "$work/$kind-$i.err")" >&2
    fi
    awk -v k="$kind" -v i="$i" -v code="$code" -v p="${p:-0}" -v c="${c:-0}" -v f="$f" -v t0="$t0" \
      -v t1="$t1" -v l="$(load1)" \
      'BEGIN { printf "%s\t%d\t%d\t%s\t%s\t%s\t%.1f\t%s\n", k, i, code, p, c, f, t1 - t0, l }' >>"$results"
    tail -1 "$results" | awk -F'\t' '{ printf "gate %s %2d: exit %d, %2d pairs, tps %+.1f %%, flagged by %s, %.0f s, load %s\n", $1, $2, $3, $4, $5 * 100, $6, $7, $8 }' >&2
  done
done
[ -z "${OUT:-}" ] || cp "$results" "$OUT"

echo
awk -F'\t' -v b="$B" '
  NR == 1 { next }
  { n[$1]++; code[$1, $3]++; pairs[$1] += $4; change[$1] += $5; secs[$1] += $7
    if ($7 > maxs[$1]) maxs[$1] = $7
    if ($6 != "-") { split($6, ms, ","); for (x in ms) by[$1, ms[x]]++; names[ms[x]] = 1 } }
  END {
    print "| gates | n | passed (0) | flagged (1) | inconclusive (3) | errors | flagged by | mean tps change | mean pairs | mean min | max min |"
    print "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    split("aa ab", kinds, " ")
    for (j = 1; j <= 2; j++) {
      k = kinds[j]
      if (!n[k]) continue
      label = (k == "aa") ? "A/A (identical)" : "B: " b
      errors = n[k] - code[k, 0] - code[k, 1] - code[k, 3]
      who = ""
      for (m in names) if (by[k, m]) who = who (who ? ", " : "") m " " by[k, m]
      printf "| %s | %d | %d | %d | %d | %d | %s | %+.1f %% | %.1f | %.1f | %.1f |\n", label, n[k],
        code[k, 0], code[k, 1], code[k, 3], errors, (who ? who : "—"), 100 * change[k] / n[k],
        pairs[k] / n[k], secs[k] / n[k] / 60, maxs[k] / 60
    }
  }' "$results"
echo
echo "(design $DESIGN, $THREADS threads, $DURATION trials after $WARMUP warm-up, table_size $TABLE_SIZE," \
  "up to $MAX_PAIRS pairs${MAX_TIME:+ or $MAX_TIME}, calibration: $CALIBRATE A/A trials, $("$LOADGATE" --version), $(nproc) cores)"
