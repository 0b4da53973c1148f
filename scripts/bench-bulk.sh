#!/usr/bin/env bash
# Bulk sync and index benchmarks on this machine, printed as Markdown for docs/measurements/.
#
#   scripts/bench-bulk.sh [ROWS] [ORDERS]
#
# 1. `loadgate bulk --strategy all --repeats REPEATS`: row, values, prepared and load-data, each
#    on a freshly recreated target table, ROWS rows (default 200000), in REPEATS rounds (default
#    3) with the order rotated each round. The table gives per strategy the median rows/s over
#    the rounds and their spread (min-max).
# 2. The server's own ingest reference: the `mariadb` command-line client's LOAD DATA LOCAL INFILE
#    of the same rows (`loadgate bulk --dump-tsv`) into the same, emptied table, declaring the
#    same CHARACTER SET as loadgate's load-data does for this table (binary: every text column
#    is utf8mb4), so both ask the server for the same work. It runs REPEATS times before and
#    REPEATS times after step 1; the median of those runs counts.
# 3. The bars, judged on medians: multi-row VALUES >= 10x row-by-row; LOAD DATA >= multi-row
#    VALUES; loadgate's best strategy >= 90 % of the client's rows/s.
# 4. `loadgate index` with ORDERS rows in cdc_orders (default 1000000, users = ORDERS / 15): the
#    read speed-up per probe and the write mix's cost.
#
# The load average before and after the bulk part is printed with the table: on a shared
# machine it tells whether other work competed for the CPU.
#
# Environment: LOADGATE_BENCH_TARGET=mysql://root@127.0.0.1:3306/ uses that server (it needs
# local_infile ON); otherwise a throwaway server is started and removed. WORKERS (default 2),
# REPEATS (default 3), INDEX_DURATION (default 10s), CARGO_TARGET_DIR as cargo knows it.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-200000}
ORDERS=${2:-1000000}
USERS=$((ORDERS / 15))
WORKERS=${WORKERS:-2}
REPEATS=${REPEATS:-3}
INDEX_DURATION=${INDEX_DURATION:-10s}
COLS="order_ref, customer_id, status, quantity, amount, currency, ordered_at, email, note"

PROG=bench-bulk.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
need mariadb:mariadb-client

build_loadgate
BIN="$LOADGATE"

WORK=$(mktemp -d -t loadgate-bench-XXXXXX)
export LOADGATE_STORE="$WORK/store.db"
STATE="$WORK/state"
cleanup() { rm -rf "$WORK"; }
at_exit cleanup

if [ -n "${LOADGATE_BENCH_TARGET:-}" ]; then
  URL=${LOADGATE_BENCH_TARGET%/}/
else
  start_throwaway_server "$STATE"
  URL=$SERVER_URL
fi
# mysql://user[:pass]@host:port/ -> client options
HOSTPORT=${URL#*@}; HOSTPORT=${HOSTPORT%%/*}
HOST=${HOSTPORT%:*}; PORT=${HOSTPORT##*:}
USERPART=${URL#mysql://}; USERPART=${USERPART%%@*}
DBUSER=${USERPART%%:*}
CLIENT=(mariadb --protocol=TCP -h "$HOST" -P "$PORT" -u "$DBUSER" --local-infile=1 -N)
if [ "$USERPART" != "$DBUSER" ]; then export MYSQL_PWD=${USERPART#*:}; fi

DB=loadgate_bench_bulk
echo "bench-bulk.sh: server $HOST:$PORT, $ROWS rows, $WORKERS workers, $REPEATS rounds" >&2
"$BIN" bulk --dump-tsv "$WORK/rows.tsv" --rows "$ROWS" -q

# The table, created (and owned) by loadgate: one small sync makes it.
"$BIN" bulk --target "$URL$DB" --strategy values --rows 10 --fresh -q >/dev/null

# One client load of all rows into the emptied table; prints its rows/s.
client_load() {
  "${CLIENT[@]}" "$DB" -e "TRUNCATE TABLE bulk_orders"
  local t0 t1 n
  t0=$(date +%s.%N)
  "${CLIENT[@]}" "$DB" -e "LOAD DATA LOCAL INFILE '$WORK/rows.tsv' INTO TABLE bulk_orders CHARACTER SET binary ($COLS)"
  t1=$(date +%s.%N)
  n=$("${CLIENT[@]}" "$DB" -e "SELECT COUNT(*) FROM bulk_orders")
  if [ "$n" != "$ROWS" ]; then echo "bench-bulk.sh: the client loaded $n rows, not $ROWS" >&2; exit 1; fi
  awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}
median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.0f", v[(NR + 1) / 2]; else printf "%.0f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
REFS=()
for i in $(seq 1 "$REPEATS"); do
  echo "bench-bulk.sh: mariadb client LOAD DATA (before, $i/$REPEATS)..." >&2
  REFS+=("$(client_load)")
done
echo "bench-bulk.sh: loadgate bulk --strategy all --repeats $REPEATS..." >&2
TABLE=$("$BIN" bulk --target "$URL$DB" --strategy all --repeats "$REPEATS" --rows "$ROWS" --workers "$WORKERS" --markdown -q)
echo "bench-bulk.sh: row-by-row with 1000 rows per transaction, for reference..." >&2
ROW1000=$("$BIN" bulk --target "$URL$DB" --strategy row --batch-size 1000 --rows "$ROWS" --workers "$WORKERS" --fresh -q \
  | awk '/^  time/ { print $4 }')
for i in $(seq 1 "$REPEATS"); do
  echo "bench-bulk.sh: mariadb client LOAD DATA (after, $i/$REPEATS)..." >&2
  REFS+=("$(client_load)")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
REF=$(printf '%s\n' "${REFS[@]}" | median)
REF_MIN=$(printf '%s\n' "${REFS[@]}" | sort -n | head -1)
REF_MAX=$(printf '%s\n' "${REFS[@]}" | sort -n | tail -1)

# Column COLUMN (a header pattern) of strategy NAME's line in the table.
cell() {
  printf '%s\n' "$TABLE" | awk -F'|' -v s="$1" -v h="$2" '
    NR == 1 { for (i = 2; i <= NF; i++) if ($i ~ h) { col = i; break } }
    { name = $2; gsub(/ /, "", name) }
    name == s && col { v = $col; sub(/^ +/, "", v); sub(/ +$/, "", v); print v }'
}
rate() { cell "$1" "rows/s"; }
ROW=$(rate row); VALUES=$(rate values); PREPARED=$(rate prepared); LOAD=$(rate load-data)
BEST=$(printf '%s\n' "$ROW" "$VALUES" "$PREPARED" "$LOAD" | sort -n | tail -1)
verdict() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { r = a / b; printf "%.2fx %s", r, (r >= f ? "pass" : "FAIL") }'; }
spread() { if [ "$REPEATS" -gt 1 ]; then printf ' (%s)' "$(cell "$1" "min" | sed 's/ (.*//')"; fi; }
PAD=$(printf '%s\n' "$TABLE" | head -1 | awk -F'|' '{ for (i = 3; i < NF; i++) printf " |" }')

cat <<EOF
### Bulk sync ($ROWS rows, $WORKERS workers, $REPEATS rounds, $(uname -m), $(nproc) cores, $("${CLIENT[@]}" -e "SELECT VERSION()"))

$TABLE
| row, 1000 rows per transaction (reference, one run) | $ROW1000 |$PAD
| mariadb client LOAD DATA LOCAL INFILE (reference, $((2 * REPEATS)) runs, median) | $REF |$PAD

Load average (1, 5, 15 min) before the bulk part: $LOAD_BEFORE; after: $LOAD_AFTER.
Each round runs the four strategies on a freshly recreated table, the order rotated by one
place per round; rows/s is the median over the rounds, min–max their range.
\`row\` commits every row (autocommit), as a naive sync does; "row, 1000 rows per transaction"
is the same statements with a commit per 1000 rows, which shows how much of the speed-up comes
from fewer commits and how much from fewer statements. The reference is the \`mariadb\` client
loading the same rows (\`loadgate bulk --dump-tsv\`) into the same emptied table in one
statement, with \`CHARACTER SET binary\` as loadgate's load-data declares for this table:
$REPEATS runs before and $REPEATS after the strategies gave $(printf '%s ' "${REFS[@]}")rows/s
(min–max $REF_MIN–$REF_MAX); the median counts.

| bar (medians) | measured | |
|---|---|---|
| multi-row VALUES >= 10x row-by-row | $VALUES vs $ROW rows/s | $(verdict "$VALUES" "$ROW" 10) |
| LOAD DATA >= multi-row VALUES | $LOAD$(spread load-data) vs $VALUES$(spread values) rows/s | $(verdict "$LOAD" "$VALUES" 1) |
| best strategy >= 90 % of the client's LOAD DATA | $BEST vs $REF rows/s | $(verdict "$BEST" "$REF" 0.9) |

EOF

echo "bench-bulk.sh: loadgate index with $ORDERS orders, $USERS users..." >&2
set +e
INDEX_OUT=$("$BIN" index --target "${URL}loadgate_bench_index" --set "orders=$ORDERS" --set "users=$USERS" \
  --duration "$INDEX_DURATION" -q)
INDEX_RC=$?
set -e
cat <<EOF
### Index before/after ($ORDERS orders, $USERS users, $INDEX_DURATION per measured part; exit $INDEX_RC)

\`\`\`
$(printf '%s\n' "$INDEX_OUT" | sed -n '/^The change/,/^Rollback/p')
\`\`\`
EOF
