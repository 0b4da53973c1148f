#!/usr/bin/env bash
# compare-sysbench.sh: loadgate against sysbench 1.0.20 on the same server, interleaved.
#
# What it measures. One server (a throwaway local MariaDB started here, or --target), one set of
# sbtest tables prepared once by loadgate (1 table of TABLE_SIZE rows, sysbench's layout). For
# every workload and thread count it runs REPEATS interleaved pairs, sysbench then loadgate, with
# the same tables, size, --rand-type, duration and threads, both over TCP. For each run:
#   - QPS: sysbench's "queries: N (X per sec.)" line; loadgate's --json `qps.total`.
#   - client CPU per query: user+sys CPU of the client process (/usr/bin/time) divided by the
#     queries it executed, in microseconds. Includes start-up (connecting, preparing statements;
#     for loadgate also writing its run store), so short runs overstate it a little.
#   - Questions/query: the server's `Questions` delta over the run divided by the client's own
#     query count. Both clients should show the same (≈ 1.00; loadgate adds a dozen set-up
#     queries per run). A different value means the two were not counted the same way.
#   - wake-ups/query: wake-up interrupts between CPUs over the run per client query: the RES
#     (rescheduling) and CAL (function call) rows of /proc/interrupts, all CPUs. A thread woken on
#     an idle CPU costs a CAL (the kernel queues the wake-up on that CPU's list), one woken on a
#     busy CPU a RES. On this VM each costs an exit to the hypervisor, and runs fall into two
#     regimes: each client thread and its server thread wake each other on one CPU (few per
#     query, fast) or across CPUs (both client and server spend up to twice the CPU per query).
#     At 1 thread the other CPU is always idle, so every query costs two (client to server and
#     back) for both clients. Which regime a run lands in is the scheduler's choice, for sysbench
#     and loadgate alike; this column shows which one each got.
#   - sched: the Linux scheduling policy each client's threads ran under. loadgate's default
#     (`client_sched = auto`) runs its client threads SCHED_BATCH in closed loop, so a client
#     thread woken by a reply does not preempt the server thread running on that CPU; sysbench's
#     threads run normal. CLIENT_SCHED=normal runs loadgate like sysbench; SB_SCHED=batch runs
#     sysbench under `chrt --batch 0`, to see what the policy alone is worth.
#   - spoiled: the machine's busy time (wall time × CPUs minus the idle time in /proc/stat)
#     minus client and server CPU (/proc/PID/stat) is CPU that someone else used during the
#     run. When that unexplained share is above SPOIL_PCT (default 15 %) of the busy time, the
#     run is flagged: outside load spoiled it.
#
# How to read the output. One Markdown table on stdout, one row per workload and thread count,
# medians over the repeats. `ratio` is the median of the per-pair ratios loadgate/sysbench
# (pairs are adjacent in time, so drift cancels); `pairs ahead` counts the pairs where loadgate's
# QPS was at least sysbench's, so a median near 1.0 can be read as a tie or a lead. An odd
# REPEATS makes the median one real pair. `ratio CI` is a distribution-free confidence interval
# for that median (order statistics of the pair ratios, coverage at least 90 %, the exact
# coverage in brackets; n/a below 5 pairs), and `verdict` reads it: `ahead` when the whole
# interval is at or above 1.0, `behind` when it is below, `tie` when it straddles 1.0 (the pairs
# cannot tell the two clients apart there). The bar (issue 2): ratio >= 1.0 and loadgate
# µs/query <= sysbench µs/query at every point; `bar` says yes/no from the medians alone. `spoiled sb/lg` counts
# flagged runs out of REPEATS for each client: rows with flagged runs are weak evidence; rerun
# them on a quieter machine. Every run's raw numbers go to
# reports/compare-sysbench/compare-sysbench-*.csv.
#
# Usage: scripts/compare-sysbench.sh [options]        (--help for the options)
# Quick validation: DURATION=2 REPEATS=1 THREADS="1 4" scripts/compare-sysbench.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROG="compare-sysbench"

WORKLOADS="${WORKLOADS:-oltp_point_select oltp_read_write}"
THREADS="${THREADS:-1 4 16 64}"
DURATION="${DURATION:-20}"
REPEATS="${REPEATS:-3}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
RAND_TYPE="${RAND_TYPE:-uniform}"
CLIENT_THREADS="${CLIENT_THREADS:-0}"
DRIVER="${DRIVER:-lean}"
CLIENT_SCHED="${CLIENT_SCHED:-auto}"
SB_SCHED="${SB_SCHED:-normal}"
SPOIL_PCT="${SPOIL_PCT:-15}"
TARGET="${LOADGATE_TARGET:-}"
LOADGATE="${LOADGATE_BIN:-}"
DB="${DB:-}"
CSV="${CSV:-}"
PREPARE=1

usage() {
  cat <<EOF
Usage: scripts/compare-sysbench.sh [options]

Runs sysbench 1.0.20 and loadgate interleaved on one server and prints a Markdown table of
QPS, client CPU per query and the server's Questions cross-check (medians over repeats).

Options (environment variable in brackets):
  --target URL          Server to use, mysql://user[:password]@host:port[/db] [LOADGATE_TARGET].
                        Default: start a throwaway local MariaDB and stop it at the end.
  --workloads "A B"     Workloads [WORKLOADS] (default: "$WORKLOADS")
  --threads "1 4 ..."   Thread counts [THREADS] (default: "$THREADS")
  --duration S          Seconds per run, e.g. 20 or 20s [DURATION] (default: $DURATION)
  --repeats N           Pairs per point [REPEATS] (default: $REPEATS)
  --table-size N        Rows in sbtest1 [TABLE_SIZE] (default: $TABLE_SIZE)
  --rand-type DIST      uniform, special, gaussian, pareto [RAND_TYPE] (default: $RAND_TYPE)
  --client-threads N    loadgate --client-threads (0 = its default) [CLIENT_THREADS] (default: $CLIENT_THREADS)
  --driver NAME         loadgate's driver: lean or mysql_async [DRIVER] (default: $DRIVER)
  --client-sched NAME   loadgate's client_sched: auto, batch or normal [CLIENT_SCHED] (default: $CLIENT_SCHED)
  --sysbench-sched NAME sysbench's threads: normal, or batch (chrt --batch 0) [SB_SCHED] (default: $SB_SCHED)
  --db NAME             Database for the tables [DB] (default: the URL's, else sbtest)
  --loadgate PATH       loadgate binary [LOADGATE_BIN] (default: cargo build --release)
  --csv PATH            Raw per-run CSV [CSV] (default: reports/compare-sysbench/compare-sysbench-DATE.csv)
  --spoil-pct P         Flag a run when more than P % of busy CPU is unexplained [SPOIL_PCT] (default: $SPOIL_PCT)
  --no-prepare          Reuse existing sbtest1 (prepared by loadgate with the same size)
  --table CSV           Print the table of an earlier run from its raw CSV, run nothing
                        (e.g. reports/compare-sysbench/compare-sysbench-20261206-105421.csv)
  -h, --help            This help

Quick validation: DURATION=2 REPEATS=1 THREADS="1 4" scripts/compare-sysbench.sh
EOF
}

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# print_table CSV "WORKLOADS" "THREADS": the Markdown table (medians per point) from a raw CSV.
print_table() {
  awk -F, -v order="$2" -v torder="$3" '
    function sorted(list, a,   n, i, j, x) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return n
    }
    function median(list,   a, n) {
      n = sorted(list, a)
      if (n == 0) return ""
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    # Distribution-free confidence interval for the median of n values: [x(k), x(n+1-k)] for
    # the largest k with P(Binomial(n, 1/2) <= k - 1) <= 5 %, so the coverage is at least 90 %.
    # Sets ci_lo, ci_hi and ci_cov; returns 0 when n is too small for any interval (n < 5).
    function median_ci(list,   a, n, k, tail, c, i) {
      n = sorted(list, a)
      k = 0; tail = 0; c = 1
      for (i = 0; i < n; i++) c *= 0.5   # P(B = 0)
      while (tail + c <= 0.05) { tail += c; k++; c = c * (n - k + 1) / k }
      if (k == 0) return 0
      ci_lo = a[k]; ci_hi = a[n + 1 - k]; ci_cov = 1 - 2 * tail
      return 1
    }
    NR == 1 { next }
    {
      k = $2 SUBSEP $3; c = ($5 == "sysbench") ? "sb" : "lg"
      qps[k, c] = qps[k, c] " " $10; usq[k, c] = usq[k, c] " " $13; qq[k, c] = qq[k, c] " " $15
      sq[k, c] = sq[k, c] " " $17; ipq[k, c] = ipq[k, c] " " $21
      runs[k, c]++; if ($20 == "yes") sp[k, c]++; if ($20 == "NA") na[k, c]++
      v[k, $4, c] = $10
    }
    END {
      print "| workload | threads | sysbench QPS | loadgate QPS | ratio | ratio CI (≥90 %) | pairs ahead | sysbench µs/query | loadgate µs/query | server µs/query sb · lg | Questions/query sb · lg | wake-ups/query sb · lg | spoiled sb · lg | bar | verdict |"
      print "|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|"
      nw = split(order, W, " "); nt = split(torder, T, " ")
      for (i = 1; i <= nw; i++) for (j = 1; j <= nt; j++) {
        k = W[i] SUBSEP T[j]
        if (!runs[k, "sb"]) continue
        ratios = ""; ahead = 0; pairs = 0
        for (r = 1; r <= runs[k, "sb"]; r++) if ((k, r, "sb") in v && (k, r, "lg") in v && v[k, r, "sb"] > 0) {
          x = v[k, r, "lg"] / v[k, r, "sb"]; ratios = ratios " " x; pairs++; if (x >= 1.0) ahead++
        }
        ratio = median(ratios); us_sb = median(usq[k, "sb"]); us_lg = median(usq[k, "lg"])
        spoiled = (na[k, "sb"] ? "n/a" : (sp[k, "sb"] + 0) "/" runs[k, "sb"]) " · " (na[k, "lg"] ? "n/a" : (sp[k, "lg"] + 0) "/" runs[k, "lg"])
        bar = (ratio >= 1.0 && us_lg <= us_sb) ? "yes" : "no"
        if (median_ci(ratios)) {
          ci = sprintf("%.3f–%.3f (%.0f %%)", ci_lo, ci_hi, 100 * ci_cov)
          verdict = ci_lo >= 1.0 ? "ahead" : (ci_hi < 1.0 ? "behind" : "tie")
        } else { ci = "n/a"; verdict = "n/a" }
        srvq = na[k, "sb"] ? "n/a" : sprintf("%.2f · %.2f", median(sq[k, "sb"]), median(sq[k, "lg"]))
        printf "| %s | %s | %.0f | %.0f | %.3f | %s | %d/%d | %.2f | %.2f | %s | %.3f · %.3f | %.2f · %.2f | %s | %s | %s |\n",
          W[i], T[j], median(qps[k, "sb"]), median(qps[k, "lg"]), ratio, ci, ahead, pairs, us_sb, us_lg, srvq,
          median(qq[k, "sb"]), median(qq[k, "lg"]), median(ipq[k, "sb"]), median(ipq[k, "lg"]), spoiled, bar, verdict
      }
    }' "$1"
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --target) TARGET="${2:?--target needs a URL}"; shift 2 ;;
    --workloads) WORKLOADS="${2:?--workloads needs a list}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a list}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --repeats) REPEATS="${2:?--repeats needs a number}"; shift 2 ;;
    --table-size) TABLE_SIZE="${2:?--table-size needs a number}"; shift 2 ;;
    --rand-type) RAND_TYPE="${2:?--rand-type needs a name}"; shift 2 ;;
    --client-threads) CLIENT_THREADS="${2:?--client-threads needs a number}"; shift 2 ;;
    --driver) DRIVER="${2:?--driver needs lean or mysql_async}"; shift 2 ;;
    --client-sched) CLIENT_SCHED="${2:?--client-sched needs auto, batch or normal}"; shift 2 ;;
    --sysbench-sched) SB_SCHED="${2:?--sysbench-sched needs normal or batch}"; shift 2 ;;
    --db) DB="${2:?--db needs a name}"; shift 2 ;;
    --loadgate) LOADGATE="${2:?--loadgate needs a path}"; shift 2 ;;
    --csv) CSV="${2:?--csv needs a path}"; shift 2 ;;
    --spoil-pct) SPOIL_PCT="${2:?--spoil-pct needs a number}"; shift 2 ;;
    --no-prepare) PREPARE=0; shift ;;
    --table)
      # Re-render the table of an earlier run from its raw CSV, in the order its rows came.
      f="${2:?--table needs a CSV path}"; [ -r "$f" ] || die "cannot read $f"
      print_table "$f" "$(awk -F, 'NR > 1 && !s[$2]++ {printf "%s ", $2}' "$f")" \
        "$(awk -F, 'NR > 1 && !s[$3]++ {printf "%s ", $3}' "$f")"
      exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# ---- validate settings -------------------------------------------------------------------
DURATION="${DURATION%s}"
is_uint "$DURATION" && [ "$DURATION" -gt 0 ] || die "DURATION must be whole seconds > 0 (got '$DURATION')"
is_uint "$REPEATS" && [ "$REPEATS" -gt 0 ] || die "REPEATS must be a number > 0 (got '$REPEATS')"
is_uint "$TABLE_SIZE" && [ "$TABLE_SIZE" -gt 0 ] || die "TABLE_SIZE must be a number > 0 (got '$TABLE_SIZE')"
is_uint "$CLIENT_THREADS" || die "CLIENT_THREADS must be a number (got '$CLIENT_THREADS')"
is_uint "$SPOIL_PCT" || die "SPOIL_PCT must be a whole number (got '$SPOIL_PCT')"
for t in $THREADS; do is_uint "$t" && [ "$t" -gt 0 ] || die "thread counts must be numbers > 0 (got '$t')"; done
for w in $WORKLOADS; do
  case "$w" in
    oltp_point_select | oltp_read_write | oltp_read_only | oltp_write_only) ;;
    *) die "workload '$w' has no sysbench twin (use oltp_point_select, oltp_read_write, oltp_read_only, oltp_write_only)" ;;
  esac
done
case "$CLIENT_SCHED" in auto | batch | normal) ;; *) die "--client-sched must be auto, batch or normal (got '$CLIENT_SCHED')" ;; esac
case "$SB_SCHED" in normal) SB_CHRT=() ;; batch) SB_CHRT=(chrt --batch 0) ;; *) die "--sysbench-sched must be normal or batch (got '$SB_SCHED')" ;; esac
case "$RAND_TYPE" in uniform | special | gaussian | pareto) ;; *) die "--rand-type must be uniform, special, gaussian or pareto (sysbench 1.0.20 has no zipfian)" ;; esac

# ---- tools --------------------------------------------------------------------------------
have mysql || need mariadb:mariadb-client
need sysbench:sysbench /usr/bin/time:time
SQLCLI="$(command -v mariadb || command -v mysql)"
sysbench --version | grep -q '^sysbench 1\.0\.' || note "warning: $(sysbench --version) is not sysbench 1.0.x, the reference"

build_loadgate

CLK_TCK="$(getconf CLK_TCK)"
CORES="$(nproc)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/compare-sysbench.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
at_exit cleanup

# ---- server ---------------------------------------------------------------------------------
SERVER_PID=""
if [ -z "$TARGET" ]; then
  note "starting a throwaway server"
  start_throwaway_server "$TMP/state" --store "$TMP/store.db"
  TARGET="$SERVER_URL"
fi

# mysql://user[:password]@host[:port][/db][?options]
re='^mysql://([^:@/]+)(:([^@]*))?@([^:/?]+)(:([0-9]+))?(/([^?]*))?'
[[ "$TARGET" =~ $re ]] || die "cannot parse target '$TARGET' (expected mysql://user[:password]@host[:port][/db])"
DB_USER="${BASH_REMATCH[1]}"
DB_PASS="${BASH_REMATCH[3]:-${MYSQL_PWD:-}}"
DB_HOST="${BASH_REMATCH[4]}"
DB_PORT="${BASH_REMATCH[6]:-3306}"
[ -n "$DB" ] || DB="${BASH_REMATCH[8]:-}"
[ -n "$DB" ] || DB="sbtest"
[[ "$DB" =~ ^[A-Za-z0-9_]+$ ]] || die "database name '$DB' must be letters, digits, _"
[ "$DB_HOST" != "localhost" ] || DB_HOST="127.0.0.1" # localhost would mean the socket: force TCP
if [ -n "$DB_PASS" ]; then
  LG_URL="mysql://$DB_USER:$DB_PASS@$DB_HOST:$DB_PORT/$DB"
else
  LG_URL="mysql://$DB_USER@$DB_HOST:$DB_PORT/$DB"
fi
SB_PASS=()
[ -z "$DB_PASS" ] || SB_PASS=("--mysql-password=$DB_PASS")
if [ -n "$DB_PASS" ]; then export MYSQL_PWD="$DB_PASS"; else unset MYSQL_PWD; fi

sql() { "$SQLCLI" --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -N -B -e "$1"; }
sql "SELECT 1" >/dev/null 2>"$TMP/sql.err" || { cat "$TMP/sql.err" >&2; die "cannot reach $DB_USER@$DB_HOST:$DB_PORT with $SQLCLI"; }
SERVER_VERSION="$(sql "SELECT VERSION()")"

if [ -z "$SERVER_PID" ] && { [ "$DB_HOST" = "127.0.0.1" ] || [ "$DB_HOST" = "::1" ]; }; then
  SERVER_PID="$(ss -Hltnp "sport = :$DB_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1 || true)"
fi
if [ -n "$SERVER_PID" ] && [ ! -r "/proc/$SERVER_PID/stat" ]; then SERVER_PID=""; fi
[ -n "$SERVER_PID" ] || note "warning: server process not found on this machine: server CPU and the spoiled check are n/a"

questions() { sql "SHOW GLOBAL STATUS LIKE 'Questions'" | awk '{print $2}'; }
# utime+stime in clock ticks (fields 14 and 15; skip past the command name, which may hold spaces)
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Idle and iowait time of all CPUs so far, in clock ticks. The kernel measures these by the clock
# when it can (NOHZ), while its user/system fields are sampled at each timer tick and miss short
# bursts of work between idle periods; busy time is therefore taken as wall × CPUs − idle.
machine_idle_ticks() { awk '/^cpu /{print $5 + $6; exit}' /proc/stat; }
STAT_CPUS="$(grep -c '^cpu[0-9]' /proc/stat)"
now() { date +%s.%N; }
# wake-up interrupts so far (RES and CAL rows), summed over CPUs (0 where the kernel hides them)
wake_ipis() { awk '$1 == "RES:" || $1 == "CAL:" {for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i} END {print n + 0}' /proc/interrupts 2>/dev/null || echo 0; }

# The status query itself counts in Questions: measure what one before/after pair adds.
q_a="$(questions)"; q_b="$(questions)"
Q_OVERHEAD=$((q_b - q_a))

# ---- prepare --------------------------------------------------------------------------------
if [ "$PREPARE" = 1 ]; then
  note "preparing $DB.sbtest1 ($TABLE_SIZE rows) with loadgate"
  "$LOADGATE" prepare oltp_read_write --target "$LG_URL" --tables 1 --table-size "$TABLE_SIZE" \
    --store "$TMP/store.db" -q >"$TMP/prepare.log" 2>&1 || { cat "$TMP/prepare.log" >&2; die "loadgate prepare failed"; }
fi
rows="$(sql "SELECT COUNT(*) FROM \`$DB\`.sbtest1" 2>/dev/null)" || die "$DB.sbtest1 does not exist (drop --no-prepare)"
[ "$rows" = "$TABLE_SIZE" ] || note "warning: $DB.sbtest1 has $rows rows, TABLE_SIZE is $TABLE_SIZE"

# ---- CSV ------------------------------------------------------------------------------------
STAMP="$(date +%Y%m%d-%H%M%S)"
[ -n "$CSV" ] || CSV="$ROOT/reports/compare-sysbench/compare-sysbench-$STAMP.csv"
mkdir -p "$(dirname "$CSV")"
echo "started,workload,threads,repeat,client,client_threads,duration_s,wall_s,queries,qps,user_s,sys_s,client_us_per_query,questions,questions_per_query,server_cpu_s,server_us_per_query,machine_busy_s,unexplained_pct,spoiled,wake_ipis_per_query,sched" >"$CSV"

# ---- one run ------------------------------------------------------------------------------
# run_one CLIENT WORKLOAD THREADS REPEAT: appends one CSV row.
run_one() {
  local client="$1" w="$2" t="$3" r="$4"
  local out="$TMP/$client.out" err="$TMP/$client.err" tf="$TMP/$client.time"
  local q0 q1 s0=0 s1=0 m0 m1 t0 t1 queries qps ct="" sched="$SB_SCHED" rc=0
  q0="$(questions)"
  [ -z "$SERVER_PID" ] || s0="$(proc_ticks "$SERVER_PID")"
  m0="$(machine_idle_ticks)"; i0="$(wake_ipis)"; t0="$(now)"
  if [ "$client" = sysbench ]; then
    /usr/bin/time -f '%U %S' -o "$tf" "${SB_CHRT[@]}" sysbench "$w" --db-driver=mysql --mysql-host="$DB_HOST" \
      --mysql-port="$DB_PORT" --mysql-user="$DB_USER" "${SB_PASS[@]}" --mysql-db="$DB" --tables=1 \
      --table-size="$TABLE_SIZE" --threads="$t" --time="$DURATION" --rand-type="$RAND_TYPE" \
      --report-interval=0 run >"$out" 2>"$err" || rc=$?
  else
    /usr/bin/time -f '%U %S' -o "$tf" "$LOADGATE" run "$w" --target "$LG_URL" --tables 1 \
      --table-size "$TABLE_SIZE" --threads "$t" --duration "${DURATION}s" --warmup 0s \
      --rand-type "$RAND_TYPE" --client-threads "$CLIENT_THREADS" --set "driver=$DRIVER" \
      --set "client_sched=$CLIENT_SCHED" --store "$TMP/store.db" --json -q >"$out" 2>"$err" || rc=$?
  fi
  t1="$(now)"; i1="$(wake_ipis)"; m1="$(machine_idle_ticks)"
  [ -z "$SERVER_PID" ] || s1="$(proc_ticks "$SERVER_PID")"
  q1="$(questions)"
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$err" "$out" >&2 || true
    die "$client $w --threads $t failed (exit $rc); output above"
  fi
  if [ "$client" = sysbench ]; then
    # "    queries:                             55433  (27693.72 per sec.)"
    read -r queries qps < <(awk '/^ *queries:/ {gsub(/\(/, "", $3); print $2, $3; exit}' "$out")
  else
    # Pretty-printed JSON: the top-level keys sit at two spaces of indentation.
    read -r queries qps ct sched < <(awk '
      /^  "queries": \{/ {inq = 1; next}
      inq && /^  \}/ {inq = 0}
      inq && /"(read|write|other)":/ {gsub(/[^0-9]/, "", $2); n += $2}
      /^  "qps": \{/ {inqps = 1; next}
      inqps && /"total":/ {gsub(/[^0-9.]/, "", $2); qps = $2; inqps = 0}
      /^    "client_threads":/ {gsub(/[^0-9]/, "", $2); ct = $2}
      /^    "client_sched":/ {gsub(/[^a-z]/, "", $2); sched = $2}
      END {print n, qps, ct, sched}' "$out")
  fi
  [ -n "${queries:-}" ] && [ "${queries:-0}" -gt 0 ] || die "$client $w --threads $t: no query count in its output ($out)"
  awk -v started="$t0" -v w="$w" -v t="$t" -v r="$r" -v client="$client" -v ct="${ct:-}" \
    -v dur="$DURATION" -v t0="$t0" -v t1="$t1" -v queries="$queries" -v qps="$qps" \
    -v q="$((q1 - q0 - Q_OVERHEAD))" -v s="$((s1 - s0))" -v m="$((m1 - m0))" -v clk="$CLK_TCK" -v ncpu="$STAT_CPUS" \
    -v have_srv="${SERVER_PID:+1}" -v spoil="$SPOIL_PCT" -v cpu="$(cat "$tf")" -v ipis="$((i1 - i0))" \
    -v sched="${sched:-NA}" '
    BEGIN {
      split(cpu, c, " "); user = c[1]; sys = c[2]
      us_q = (user + sys) * 1e6 / queries
      busy = (t1 - t0) * ncpu - m / clk
      if (have_srv) {
        srv = s / clk
        unexpl = busy > 0 ? 100 * (busy - user - sys - srv) / busy : 0
        flag = unexpl > spoil ? "yes" : "no"
        srv_s = sprintf("%.2f", srv); srv_q = sprintf("%.2f", srv * 1e6 / queries)
        un_s = sprintf("%.1f", unexpl)
      } else { srv_s = "NA"; srv_q = "NA"; un_s = "NA"; flag = "NA" }
      printf "%d,%s,%d,%d,%s,%s,%d,%.2f,%d,%.2f,%.2f,%.2f,%.2f,%d,%.4f,%s,%s,%.2f,%s,%s,%.3f,%s\n",
        started, w, t, r, client, ct, dur, t1 - t0, queries, qps, user, sys, us_q, q,
        q / queries, srv_s, srv_q, busy, un_s, flag, ipis / queries, sched
    }' >>"$CSV"
  tail -n 1 "$CSV" | awk -F, '{printf "  %-8s %-18s threads=%-3s rep=%s  qps=%-10s client us/q=%-6s server us/q=%-6s Q/q=%-6s wake-ups/q=%-5s unexplained=%s%%\n", $5, $2, $3, $4, $10, $13, $17, $15, $21, $19}' >&2
}

# ---- the runs -------------------------------------------------------------------------------
npoints=0
for _ in $WORKLOADS; do for _ in $THREADS; do npoints=$((npoints + 1)); done; done
note "server $SERVER_VERSION at $DB_HOST:$DB_PORT/$DB (pid ${SERVER_PID:-unknown}), $CORES cores"
note "$npoints points x $REPEATS pairs x ${DURATION}s: about $((npoints * REPEATS * 2 * (DURATION + 1) / 60 + 1)) min; raw rows in $CSV"
for w in $WORKLOADS; do
  for t in $THREADS; do
    for r in $(seq 1 "$REPEATS"); do
      run_one sysbench "$w" "$t" "$r"
      run_one loadgate "$w" "$t" "$r"
    done
  done
done

# ---- the table ------------------------------------------------------------------------------
echo
echo "### loadgate vs sysbench ($(sysbench --version)), $SERVER_VERSION"
echo
echo "${DURATION} s runs, $REPEATS interleaved pair(s) per row (medians), table of $TABLE_SIZE rows, --rand-type $RAND_TYPE, loadgate --client-threads $CLIENT_THREADS (0 = default) and driver $DRIVER, loadgate client_sched $CLIENT_SCHED (auto = SCHED_BATCH client threads in closed loop), sysbench threads $SB_SCHED, $CORES cores; raw: ${CSV#"$ROOT"/}"
echo
print_table "$CSV" "$WORKLOADS" "$THREADS"
