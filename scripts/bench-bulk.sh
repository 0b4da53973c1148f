#!/usr/bin/env bash
# Bulk sync and index benchmarks on this machine, printed as Markdown for the README.
#
#   scripts/bench-bulk.sh [ROWS] [ORDERS]
#
# 1. `loadgate bulk --strategy all`: row, values, prepared and load-data, each on a fresh target
#    table, ROWS rows (default 200000).
# 2. The server's own ingest reference: the `mariadb` command-line client's LOAD DATA LOCAL INFILE
#    of the same rows (`loadgate bulk --dump-tsv`) into the same, emptied table. It runs before and
#    after step 1; the faster of the two counts (the bar is judged against the better reference).
# 3. The bars: multi-row VALUES >= 10x row-by-row; LOAD DATA >= multi-row VALUES; loadgate's best
#    strategy >= 90 % of the client's rows/s.
# 4. `loadgate index` with ORDERS rows in cdc_orders (default 1000000, users = ORDERS / 15): the
#    read speed-up per probe and the write mix's cost.
#
# Environment: LOADGATE_BENCH_TARGET=mysql://root@127.0.0.1:3306/ uses that server (it needs
# local_infile ON); otherwise a throwaway server is started and removed. WORKERS (default 2),
# INDEX_DURATION (default 10s), CARGO_TARGET_DIR as cargo knows it.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-200000}
ORDERS=${2:-1000000}
USERS=$((ORDERS / 15))
WORKERS=${WORKERS:-2}
INDEX_DURATION=${INDEX_DURATION:-10s}
COLS="order_ref, customer_id, status, quantity, amount, currency, ordered_at, email, note"

command -v mariadb >/dev/null || { echo "bench-bulk.sh: the mariadb client is needed (apt-get install mariadb-client)" >&2; exit 2; }

echo "bench-bulk.sh: building (release)..." >&2
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/loadgate"

WORK=$(mktemp -d -t loadgate-bench-XXXXXX)
export LOADGATE_STORE="$WORK/store.db"
STATE="$WORK/state"
cleanup() {
  if [ -z "${LOADGATE_BENCH_TARGET:-}" ]; then
    "$BIN" server stop --state-dir "$STATE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${LOADGATE_BENCH_TARGET:-}" ]; then
  URL=${LOADGATE_BENCH_TARGET%/}/
else
  URL=$("$BIN" server start --state-dir "$STATE" --json | sed -n 's/.*"url": *"\([^"]*\)".*/\1/p')
fi
# mysql://user[:pass]@host:port/ -> client options
HOSTPORT=${URL#*@}; HOSTPORT=${HOSTPORT%%/*}
HOST=${HOSTPORT%:*}; PORT=${HOSTPORT##*:}
USERPART=${URL#mysql://}; USERPART=${USERPART%%@*}
DBUSER=${USERPART%%:*}
CLIENT=(mariadb --protocol=TCP -h "$HOST" -P "$PORT" -u "$DBUSER" --local-infile=1 -N)
if [ "$USERPART" != "$DBUSER" ]; then export MYSQL_PWD=${USERPART#*:}; fi

DB=loadgate_bench_bulk
echo "bench-bulk.sh: server $HOST:$PORT, $ROWS rows, $WORKERS workers" >&2
"$BIN" bulk --dump-tsv "$WORK/rows.tsv" --rows "$ROWS" -q

# The table, created (and owned) by loadgate: one small sync makes it.
"$BIN" bulk --target "$URL$DB" --strategy values --rows 10 --fresh -q >/dev/null

client_load() {
  "${CLIENT[@]}" "$DB" -e "TRUNCATE TABLE bulk_orders"
  local t0 t1
  t0=$(date +%s.%N)
  "${CLIENT[@]}" "$DB" -e "LOAD DATA LOCAL INFILE '$WORK/rows.tsv' INTO TABLE bulk_orders CHARACTER SET utf8mb4 ($COLS)"
  t1=$(date +%s.%N)
  local n
  n=$("${CLIENT[@]}" "$DB" -e "SELECT COUNT(*) FROM bulk_orders")
  if [ "$n" != "$ROWS" ]; then echo "bench-bulk.sh: the client loaded $n rows, not $ROWS" >&2; exit 1; fi
  awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f %.3f\n", n / (b - a), b - a }'
}

echo "bench-bulk.sh: mariadb client LOAD DATA (1/2)..." >&2
read -r REF1 SEC1 < <(client_load)
echo "bench-bulk.sh: loadgate bulk --strategy all..." >&2
TABLE=$("$BIN" bulk --target "$URL$DB" --strategy all --rows "$ROWS" --workers "$WORKERS" --markdown -q)
echo "bench-bulk.sh: row-by-row with 1000 rows per transaction, for reference..." >&2
ROW1000=$("$BIN" bulk --target "$URL$DB" --strategy row --batch-size 1000 --rows "$ROWS" --workers "$WORKERS" --fresh -q \
  | awk '/^  time/ { print $4 }')
echo "bench-bulk.sh: mariadb client LOAD DATA (2/2)..." >&2
read -r REF2 SEC2 < <(client_load)
REF=$(( REF1 > REF2 ? REF1 : REF2 ))

rate() { printf '%s\n' "$TABLE" | awk -F'|' -v s="$1" '{ gsub(/ /, "", $2); gsub(/ /, "", $3) } $2 == s { print $3 }'; }
ROW=$(rate row); VALUES=$(rate values); PREPARED=$(rate prepared); LOAD=$(rate load-data)
BEST=$(printf '%s\n' "$ROW" "$VALUES" "$PREPARED" "$LOAD" | sort -n | tail -1)
verdict() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { r = a / b; printf "%.2fx %s", r, (r >= f ? "pass" : "FAIL") }'; }

cat <<EOF
### Bulk sync ($ROWS rows, $WORKERS workers, $(uname -m), $(nproc) cores, $("${CLIENT[@]}" -e "SELECT VERSION()"))

$TABLE
| row, 1000 rows per transaction (reference) | $ROW1000 | | | | | | |
| mariadb client LOAD DATA LOCAL INFILE (reference) | $REF | | | | | | |

\`row\` commits every row (autocommit), as a naive sync does; "row, 1000 rows per transaction"
is the same statements with a commit per 1000 rows, which shows how much of the speed-up comes
from fewer commits and how much from fewer statements. The reference is the \`mariadb\` client
loading the same rows (\`loadgate bulk --dump-tsv\`) into the same emptied table in one
statement: ${REF1} and ${REF2} rows/s in two runs (${SEC1} s, ${SEC2} s), the better one counts.

| bar | measured | |
|---|---|---|
| multi-row VALUES >= 10x row-by-row | $VALUES vs $ROW rows/s | $(verdict "$VALUES" "$ROW" 10) |
| LOAD DATA >= multi-row VALUES | $LOAD vs $VALUES rows/s | $(verdict "$LOAD" "$VALUES" 1) |
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
