#!/usr/bin/env bash
# monitor-overhead.sh: what the embedded monitor costs in throughput.
#
# The bar: the monitor costs at most 1 % of the throughput of WORKLOAD at THREADS threads. Two
# measurements, both on one server (a throwaway local MariaDB started here, or --target):
#
# 1. CPU accounting (the evidence; needs the server's process on this machine: the throwaway
#    server's pid comes from its state file, a --target's from --server-pid). On these machines
#    the client and the server share the CPU and throughput is CPU-bound, so the CPU the monitor
#    takes bounds what it can take from throughput. Three parts:
#    a. Per-sample CPU. Against the otherwise idle server, REPEATS pairs of standalone monitors
#       (`loadgate monitor`), each COST_DURATION long: one dense (a sample every COST_INTERVAL)
#       and one sparse (no sample until the end), the order alternating. For each run: the
#       monitor process's own CPU (user+sys from wait4, microseconds) and the server's CPU (the
#       sum of its threads' run time in /proc/PID/task/*/schedstat, nanoseconds; utime+stime of
#       /proc/PID/stat, 10 ms ticks, if a thread exited meanwhile). The sparse run is the
#       equal period without periodic samples: subtracting it removes the idle server's own CPU
#       and the monitor's start and stop. Per-sample CPU = (dense − sparse) / (samples dense −
#       samples sparse), samples counted in the monitors' JSON. The in-run monitor (the one
#       `loadgate run` starts) sends the same statements per interval as the standalone one
#       (src/monitor: `Session::sample`, the status query, plus one performance_schema query when
#       that is on); the idle server's CPU over one COST_DURATION is printed for reference.
#    b. One-off CPU of the in-run monitor (its connection, the server's version and variables,
#       the baseline, and at the end the last sample, the processlist and, with
#       performance_schema, the per-statement snapshots, plus storing its report): REPEATS pairs of
#       `loadgate run --rate ONEOFF_RATE` for ONEOFF_DURATION, the monitor on with one interval
#       longer than the run versus --no-monitor; one-off = CPU on − CPU off − samples × the
#       per-sample CPU. Amortised over a run of the pairs below (WARMUP + DURATION).
#    c. The load's CPU: client+server CPU per second of the --no-monitor runs of the pairs below.
#    Cost share = (per-sample CPU / MONITOR_INTERVAL + one-off / run length) / load CPU per
#    second, one value per repeat (repeat i of a and b with pair i), median and min–max. The bar
#    is judged on the highest: `yes` when it is ≤ 1 %.
#    Cross-check under load: in each monitor-on run of the pairs, the CPU of the monitor's own
#    thread in loadgate (`loadgate-monitor`) and of the server thread serving its connection
#    (information_schema.PROCESSLIST.TID, MariaDB; needs the mariadb or mysql client), read
#    from 1 s after the warm-up to 0.5 s before the end, per second, as a share of that run's
#    client+server CPU per second.
#
# 2. Interleaved QPS pairs (the direct view; noisy). REPEATS pairs of runs, one with the monitor
#    on (sampling every MONITOR_INTERVAL) and one with --no-monitor, the order alternating
#    (on/off, off/on, ...) so that drift cancels. For each run: QPS (the JSON report's
#    qps.total), the statements the monitor itself sent per second, and, with the server's pid,
#    client+server CPU per query (the run's whole CPU over every query it ran, warm-up included).
#    Then the medians and the per-pair ratios on/off: overhead = (1 − ratio) × 100 %. A 90 %
#    interval of the ratio (Student t on the log ratios); `yes` only when the whole interval is
#    within the bar, `no` when it is wholly outside, `inconclusive` otherwise. With run-to-run
#    noise of ±15–25 % on these VMs (docs/measurements/2026-11-21-monitor-overhead.md), QPS
#    pairs cannot show a 1 % effect. CPU per query (on/off per pair, the same 90 % interval) is
#    less noisy than QPS; its interval says how small an effect it can resolve.
#
# Usage: scripts/monitor-overhead.sh [options]          (--help for the options)
# Quick validation: DURATION=2 REPEATS=2 COST_DURATION=2 scripts/monitor-overhead.sh --loadgate target/debug/loadgate
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
COST_DURATION="${COST_DURATION:-20}"
COST_INTERVAL="${COST_INTERVAL:-50ms}"
ONEOFF_DURATION="${ONEOFF_DURATION:-3}"
ONEOFF_RATE="${ONEOFF_RATE:-4}"
SERVER_PID="${SERVER_PID:-}"
SERVER_ARGS=()
TARGET="${LOADGATE_TARGET:-}"
LOADGATE="${LOADGATE_BIN:-}"

usage() {
  cat <<EOF
Usage: scripts/monitor-overhead.sh [options]

Measures what the embedded monitor costs WORKLOAD: its CPU (per sample on an idle server, once
per run, under load) as a share of the CPU the load uses, and, interleaved, QPS and CPU per
query with the monitor on and off (medians over REPEATS pairs).

Options (environment variable in brackets):
  --target URL           Server, mysql://user[:password]@host:port/db [LOADGATE_TARGET].
                         Default: a throwaway local server, stopped at the end.
  --server-pid PID       The --target's server process, on this machine and otherwise idle,
                         for the CPU accounting [SERVER_PID]. Without it, with --target, only
                         QPS is measured.
  --server-arg ARG       Option for the throwaway server (repeatable), e.g.
                         --server-arg=--performance-schema=ON
  --workload NAME        [WORKLOAD] (default: $WORKLOAD)
  --threads N            [THREADS] (default: $THREADS)
  --duration S           Seconds per run of the pairs [DURATION] (default: $DURATION)
  --warmup S             Warm-up seconds per run [WARMUP] (default: $WARMUP)
  --repeats N            Pairs of each kind [REPEATS] (default: $REPEATS)
  --table-size N         [TABLE_SIZE] (default: $TABLE_SIZE)
  --monitor-interval D   Sample interval of the monitor [MONITOR_INTERVAL] (default: $MONITOR_INTERVAL)
  --cost-duration S      Seconds per standalone monitor run [COST_DURATION] (default: $COST_DURATION)
  --cost-interval D      Sample interval of the dense monitor [COST_INTERVAL] (default: $COST_INTERVAL)
  --oneoff-duration S    Seconds per run measuring the one-off work [ONEOFF_DURATION] (default: $ONEOFF_DURATION)
  --oneoff-rate TPS      Transactions/s of those runs [ONEOFF_RATE] (default: $ONEOFF_RATE)
  --loadgate PATH        loadgate binary [LOADGATE_BIN] (default: cargo build --release)
  -h, --help             This help

Quick validation: DURATION=2 REPEATS=2 COST_DURATION=2 scripts/monitor-overhead.sh --loadgate target/debug/loadgate
EOF
}

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --target) TARGET="${2:?--target needs a URL}"; shift 2 ;;
    --server-pid) SERVER_PID="${2:?--server-pid needs a pid}"; shift 2 ;;
    --server-arg) SERVER_ARGS+=("--server-arg=${2:?--server-arg needs an option}"); shift 2 ;;
    --server-arg=*) SERVER_ARGS+=("$1"); shift ;;
    --workload) WORKLOAD="${2:?--workload needs a name}"; shift 2 ;;
    --threads) THREADS="${2:?--threads needs a number}"; shift 2 ;;
    --duration) DURATION="${2:?--duration needs seconds}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs seconds}"; shift 2 ;;
    --repeats) REPEATS="${2:?--repeats needs a number}"; shift 2 ;;
    --table-size) TABLE_SIZE="${2:?--table-size needs a number}"; shift 2 ;;
    --monitor-interval) MONITOR_INTERVAL="${2:?--monitor-interval needs a duration}"; shift 2 ;;
    --cost-duration) COST_DURATION="${2:?--cost-duration needs seconds}"; shift 2 ;;
    --cost-interval) COST_INTERVAL="${2:?--cost-interval needs a duration}"; shift 2 ;;
    --oneoff-duration) ONEOFF_DURATION="${2:?--oneoff-duration needs seconds}"; shift 2 ;;
    --oneoff-rate) ONEOFF_RATE="${2:?--oneoff-rate needs a rate}"; shift 2 ;;
    --loadgate) LOADGATE="${2:?--loadgate needs a path}"; shift 2 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

DURATION="${DURATION%s}"
WARMUP="${WARMUP%s}"
COST_DURATION="${COST_DURATION%s}"
ONEOFF_DURATION="${ONEOFF_DURATION%s}"
is_uint "$DURATION" && [ "$DURATION" -gt 0 ] || die "DURATION must be whole seconds > 0 (got '$DURATION')"
is_uint "$WARMUP" || die "WARMUP must be whole seconds (got '$WARMUP')"
is_uint "$REPEATS" && [ "$REPEATS" -gt 0 ] || die "REPEATS must be a number > 0 (got '$REPEATS')"
is_uint "$THREADS" && [ "$THREADS" -gt 0 ] || die "THREADS must be a number > 0 (got '$THREADS')"
is_uint "$TABLE_SIZE" && [ "$TABLE_SIZE" -gt 0 ] || die "TABLE_SIZE must be a number > 0 (got '$TABLE_SIZE')"
is_uint "$COST_DURATION" && [ "$COST_DURATION" -gt 0 ] || die "COST_DURATION must be whole seconds > 0 (got '$COST_DURATION')"
is_uint "$ONEOFF_DURATION" && [ "$ONEOFF_DURATION" -gt 0 ] || die "ONEOFF_DURATION must be whole seconds > 0 (got '$ONEOFF_DURATION')"
is_uint "$ONEOFF_RATE" && [ "$ONEOFF_RATE" -gt 0 ] || die "ONEOFF_RATE must be a whole number > 0 (got '$ONEOFF_RATE')"
[ -z "$SERVER_PID" ] || is_uint "$SERVER_PID" || die "SERVER_PID must be a process id (got '$SERVER_PID')"
need python3:python3
# Seconds of a duration such as 1s, 500ms, 2m (the forms loadgate accepts).
secs() {
  python3 -c '
import re, sys
m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", sys.argv[1])
if not m or float(m.group(1)) <= 0:
    sys.exit(1)
print(float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)])' "$1"
}
MONITOR_INTERVAL_S="$(secs "$MONITOR_INTERVAL")" || die "MONITOR_INTERVAL must be a duration such as 1s (got '$MONITOR_INTERVAL')"
secs "$COST_INTERVAL" >/dev/null || die "COST_INTERVAL must be a duration such as 50ms (got '$COST_INTERVAL')"

build_loadgate

WORK="$(mktemp -d "${TMPDIR:-/tmp}/loadgate-overhead-XXXXXX")"
export LOADGATE_STORE="$WORK/store.db" LOADGATE_STATE_DIR="$WORK/state"
unset LOADGATE_TARGET MYSQL_PWD || true
cleanup() { rm -rf "$WORK"; }
at_exit cleanup

# The CPU accounting: `cpu.py [--server-pid P] [--probe FROM TO URL THREADS] --out FILE --
# CMD...` runs CMD (stdout to FILE) and prints one JSON object: the command's own CPU (wait4),
# the server's CPU over the same time and, with --probe, the CPU of the in-run monitor's thread
# and of the server thread serving its connection between FROM and TO seconds after the start.
cat >"$WORK/cpu.py" <<'EOF'
import argparse, json, os, shutil, subprocess, sys, time, urllib.parse

def stat_cpu(pid):
    """utime+stime of the whole process (threads that exited included), seconds; 10 ms ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def thread_cpu(pid, tid):
    """Run time of one thread, seconds (nanoseconds in schedstat)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9

def server_reading(pid):
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            threads[tid] = thread_cpu(pid, tid)
        except (OSError, ValueError, IndexError):
            pass
    return stat_cpu(pid), threads

def server_delta(a, b):
    """The server's CPU between two readings: the threads' nanosecond counters when every thread
    of the first reading is still there (new threads count from zero), else the ticks."""
    (ticks_a, th_a), (ticks_b, th_b) = a, b
    if th_a and set(th_a) <= set(th_b):
        return sum(th_b.values()) - sum(th_a.values()), "schedstat"
    return ticks_b - ticks_a, "ticks"

def monitor_threads(child, url, threads):
    """(loadgate's monitor thread, the server thread of the monitor's connection) or a reason."""
    mine = None
    for tid in os.listdir(f"/proc/{child}/task"):
        try:
            with open(f"/proc/{child}/task/{tid}/comm") as f:
                if f.read().strip().startswith("loadgate-monito"):
                    mine = tid
        except OSError:
            pass
    if mine is None:
        return None, "no loadgate-monitor thread in the run"
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        return None, "no mariadb or mysql client to read the processlist"
    u = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    if u.password:
        env["MYSQL_PWD"] = urllib.parse.unquote(u.password)
    user = urllib.parse.unquote(u.username or "root")
    q = ("SELECT ID, TID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
         "AND USER = '%s' AND COMMAND <> 'Daemon' ORDER BY ID" % user.replace("'", "''"))
    r = subprocess.run([client, "--protocol=TCP", "-h", u.hostname or "127.0.0.1",
                        "-P", str(u.port or 3306), "-u", user, "-N", "-B", "-e", q],
                       env=env, capture_output=True, text=True)
    rows = [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
    if r.returncode != 0 or not rows or len(rows[0]) < 2:
        return None, "processlist not readable (TID is MariaDB's): " + r.stderr.strip()[:120]
    if len(rows) != threads + 1:
        return None, f"{len(rows)} connections of {user}, expected the monitor's and {threads}"
    # The monitor connects before the workers: the lowest id is its connection.
    return (mine, rows[0][1]), None

def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser(prog="cpu.py")
    ap.add_argument("--server-pid")
    ap.add_argument("--probe", nargs=4, metavar=("FROM", "TO", "URL", "THREADS"))
    ap.add_argument("--out", required=True)
    a, cmd = ap.parse_args(argv[:cut]), argv[cut + 1:]
    res = {}
    srv0 = server_reading(a.server_pid) if a.server_pid else None
    t0 = time.monotonic()
    with open(a.out, "w") as out:
        p = subprocess.Popen(cmd, stdout=out)
        if a.probe:
            start, end = float(a.probe[0]), float(a.probe[1])
            time.sleep(max(0.0, t0 + start - time.monotonic()))
            found, why = (None, "the run ended early")
            if p.poll() is None:
                found, why = monitor_threads(p.pid, a.probe[2], int(a.probe[3]))
            if found and a.server_pid:
                try:
                    ta = time.monotonic()
                    c0 = thread_cpu(p.pid, found[0])
                    s0 = thread_cpu(a.server_pid, found[1])
                    time.sleep(max(0.0, t0 + end - time.monotonic()))
                    c1 = thread_cpu(p.pid, found[0])
                    s1 = thread_cpu(a.server_pid, found[1])
                    tb = time.monotonic()
                    res["probe_s"] = tb - ta
                    res["monitor_client_s"] = c1 - c0
                    res["monitor_server_s"] = s1 - s0
                except OSError as e:
                    why = f"a thread went away during the probe ({e})"
                    found = None
            if not found:
                res["probe_note"] = why or "no server pid"
        _, status, ru = os.wait4(p.pid, 0)
    res["wall_s"] = time.monotonic() - t0
    res["rc"] = os.waitstatus_to_exitcode(status)
    res["client_s"] = ru.ru_utime + ru.ru_stime
    if srv0 is not None:
        res["server_s"], clock = server_delta(srv0, server_reading(a.server_pid))
        if clock == "ticks":
            print("monitor-overhead: a server thread exited during a measurement; its server CPU "
                  "is from /proc/PID/stat, in 10 ms ticks", file=sys.stderr)
    print(json.dumps(res))

main()
EOF
cpu() { python3 "$WORK/cpu.py" ${SERVER_PID:+--server-pid "$SERVER_PID"} "$@"; }

if [ -n "$TARGET" ]; then
  MONITOR_TARGET="$TARGET"
  [ -z "$SERVER_PID" ] || [ -r "/proc/$SERVER_PID/stat" ] || die "no process $SERVER_PID (--server-pid)"
  [ ${#SERVER_ARGS[@]} -eq 0 ] || note "--server-arg is for the throwaway server; ignored with --target"
else
  note "starting a throwaway server"
  start_throwaway_server "$LOADGATE_STATE_DIR" ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}
  MONITOR_TARGET="$SERVER_URL"
  TARGET="${MONITOR_TARGET%/}/loadgate"
fi
[ -n "$SERVER_PID" ] || note "no --server-pid: the CPU accounting is skipped; only the QPS pairs are measured"

# ---- 1a. Per-sample CPU of the monitor, on the idle server (before the tables exist).
COST_ROWS=()
if [ -n "$SERVER_PID" ]; then
  note "per-sample CPU: $REPEATS pairs of standalone monitors, ${COST_DURATION}s each"
  # One standalone monitor; prints "samples client_s server_s".
  mon() {
    local interval="$1" res
    res="$(cpu --out "$WORK/mon.json" -- "$LOADGATE" monitor --target "$MONITOR_TARGET" \
      --interval "$interval" --duration "${COST_DURATION}s" --json -q)" || die "cpu accounting failed"
    python3 -c '
import json, sys
c = json.loads(sys.argv[1])
if c["rc"] != 0:
    sys.exit("loadgate monitor failed (exit %d)" % c["rc"])
m = json.load(open(sys.argv[2]))
print(len(m["samples"]), "%.6f %.6f" % (c["client_s"], c["server_s"]))' \
      "$res" "$WORK/mon.json" || die "loadgate monitor failed"
  }
  idle="$(cpu --out /dev/null -- sleep "$COST_DURATION")"
  IDLE_SERVER_S="$(python3 -c 'import json, sys; print("%.6f" % json.loads(sys.argv[1])["server_s"])' "$idle")"
  printf '| repeat | order | samples dense | samples sparse | client CPU ms/sample | server CPU ms/sample | total ms/sample |\n'
  printf '|---:|---|---:|---:|---:|---:|---:|\n'
  for i in $(seq 1 "$REPEATS"); do
    if [ $((i % 2)) -eq 1 ]; then order="dense,sparse"; else order="sparse,dense"; fi
    for kind in ${order//,/ }; do
      if [ "$kind" = dense ]; then
        res="$(mon "$COST_INTERVAL")"
        read -r n_dense c_dense s_dense <<<"$res"
      else
        # An interval longer than the run: no periodic sample, only the one taken at the stop.
        res="$(mon "$((COST_DURATION * 10))s")"
        read -r n_sparse c_sparse s_sparse <<<"$res"
      fi
    done
    row="$(python3 -c '
import sys
nd, cd, sd, ns, cs, ss = map(float, sys.argv[1:])
n = max(nd - ns, 1)
c, s = (cd - cs) / n * 1e3, (sd - ss) / n * 1e3
print("%.4f %.4f %.4f" % (c, s, c + s))' "$n_dense" "$c_dense" "$s_dense" "$n_sparse" "$c_sparse" "$s_sparse")"
    read -r c_ms s_ms t_ms <<<"$row"
    COST_ROWS+=("$t_ms")
    printf '| %d | %s | %d | %d | %s | %s | %s |\n' "$i" "$order" "$n_dense" "$n_sparse" "$c_ms" "$s_ms" "$t_ms"
  done
  echo
fi

note "preparing $WORKLOAD ($TABLE_SIZE rows) on the target"
"$LOADGATE" prepare "$WORKLOAD" --target "$TARGET" --table-size "$TABLE_SIZE" -q >/dev/null 2>&1 ||
  note "prepare failed or the tables exist already; running on what is there"

# ---- 1b. One-off CPU of the in-run monitor: a light run with and without it.
ONEOFF_ROWS=()
if [ -n "$SERVER_PID" ]; then
  note "one-off CPU: $REPEATS pairs of ${ONEOFF_DURATION}s runs at $ONEOFF_RATE transactions/s"
  PER_SAMPLE_MS="$(python3 -c 'import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))' "${COST_ROWS[@]}")"
  # One light run; prints "client+server CPU s, monitor samples".
  light() {
    local mode="$1" res
    local args=(run "$WORKLOAD" --target "$TARGET" --threads "$THREADS" --table-size "$TABLE_SIZE"
      --rate "$ONEOFF_RATE" --duration "${ONEOFF_DURATION}s" --warmup 0s --json -q)
    if [ "$mode" = off ]; then args+=(--no-monitor); else args+=(--monitor-interval "$((ONEOFF_DURATION * 10))s"); fi
    res="$(cpu --out "$WORK/light.json" -- "$LOADGATE" "${args[@]}")" || die "cpu accounting failed"
    python3 -c '
import json, sys
c = json.loads(sys.argv[1])
if c["rc"] != 0:
    sys.exit("loadgate run failed (exit %d)" % c["rc"])
r = json.load(open(sys.argv[2]))
print("%.6f" % (c["client_s"] + c["server_s"]), len((r.get("monitor") or {}).get("samples") or []))' \
      "$res" "$WORK/light.json" || die "loadgate run failed ($mode, light)"
  }
  printf '| repeat | order | CPU monitor on ms | CPU off ms | samples | one-off ms |\n'
  printf '|---:|---|---:|---:|---:|---:|\n'
  for i in $(seq 1 "$REPEATS"); do
    if [ $((i % 2)) -eq 1 ]; then order="on,off"; else order="off,on"; fi
    for mode in ${order//,/ }; do
      res="$(light "$mode")"
      if [ "$mode" = on ]; then read -r c_on n_on <<<"$res"; else read -r c_off _ <<<"$res"; fi
    done
    row="$(python3 -c '
import sys
on, off, n, per = map(float, sys.argv[1:])
print("%.2f %.2f %.2f" % (on * 1e3, off * 1e3, (on - off) * 1e3 - n * per))' "$c_on" "$c_off" "$n_on" "$PER_SAMPLE_MS")"
    read -r on_ms off_ms oneoff_ms <<<"$row"
    ONEOFF_ROWS+=("$oneoff_ms")
    printf '| %d | %s | %s | %s | %d | %s |\n' "$i" "$order" "$on_ms" "$off_ms" "$n_on" "$oneoff_ms"
  done
  echo
fi

# ---- 2. The interleaved pairs. One run; prints "qps monitor_statements_per_s cpu_us_per_query
# load_cpu_per_s monitor_cpu_ms_per_s" ("-" where not measured).
one() {
  local mode="$1" res
  local args=(run "$WORKLOAD" --target "$TARGET" --threads "$THREADS" --table-size "$TABLE_SIZE"
    --duration "${DURATION}s" --warmup "${WARMUP}s" --json -q)
  local probe=()
  if [ "$mode" = off ]; then
    args+=(--no-monitor)
  else
    args+=(--monitor-interval "$MONITOR_INTERVAL")
    if [ -n "$SERVER_PID" ] && [ "$DURATION" -ge 3 ]; then
      probe=(--probe "$((WARMUP + 1))" "$(python3 -c "print($WARMUP + $DURATION - 0.5)")" "$TARGET" "$THREADS")
    fi
  fi
  res="$(cpu "${probe[@]}" --out "$WORK/run.json" -- "$LOADGATE" "${args[@]}")" || die "cpu accounting failed"
  python3 -c '
import json, sys
c = json.loads(sys.argv[1])
if c["rc"] != 0:
    sys.exit("loadgate run failed (exit %d)" % c["rc"])
r = json.load(open(sys.argv[2]))
m = r.get("monitor") or {}
w = m.get("window") or {}
own = w.get("monitor_queries", 0) / max(w.get("t", 0) or 1e-9, 1e-9) if w else 0.0
queries = sum(sum(i["queries"].values()) for i in r["intervals"])
cpu = c["client_s"] + c["server_s"] if "server_s" in c else None
per_q = "%.3f" % (cpu / queries * 1e6) if cpu is not None and queries else "-"
load = "%.4f" % (cpu / c["wall_s"]) if cpu is not None else "-"
if "probe_s" in c:
    mon = "%.4f" % ((c["monitor_client_s"] + c["monitor_server_s"]) / c["probe_s"] * 1e3)
else:
    mon = "-"
    if c.get("probe_note"):
        print("monitor-overhead: no under-load cross-check for this run: " + c["probe_note"], file=sys.stderr)
print("%.2f %.2f %s %s %s" % (r["qps"]["total"], own, per_q, load, mon))' "$res" "$WORK/run.json" ||
    die "loadgate run failed ($mode)"
}

note "interleaved pairs: $REPEATS pairs of ${DURATION}s runs (+${WARMUP}s warm-up)"
printf '| pair | order | QPS monitor on | QPS off | ratio on/off | monitor statements/s | CPU µs/query on | CPU µs/query off | load CPU/s on | load CPU/s off | monitor CPU ms/s (under load) |\n'
printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
: >"$WORK/pairs.txt"
for i in $(seq 1 "$REPEATS"); do
  if [ $((i % 2)) -eq 1 ]; then order="on,off"; else order="off,on"; fi
  for mode in ${order//,/ }; do
    res="$(one "$mode")"
    if [ "$mode" = on ]; then
      read -r on on_own on_cpq on_load on_mon <<<"$res"
    else
      read -r off _ off_cpq off_load _ <<<"$res"
    fi
  done
  ratio="$(python3 -c "print('%.4f' % ($on / $off))")"
  echo "$on $off $ratio $on_cpq $off_cpq $on_load $off_load $on_mon" >>"$WORK/pairs.txt"
  printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$i" "$order" "$on" "$off" "$ratio" "$on_own" \
    "$on_cpq" "$off_cpq" "$on_load" "$off_load" "$on_mon"
done

python3 - "$WORK/pairs.txt" "${COST_ROWS[*]:-}" "${ONEOFF_ROWS[*]:-}" "${IDLE_SERVER_S:-}" \
  "$WORKLOAD" "$THREADS" "$DURATION" "$WARMUP" "$MONITOR_INTERVAL" "$MONITOR_INTERVAL_S" "$COST_INTERVAL" \
  "$COST_DURATION" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" <<'EOF'
import math, statistics, sys
(pairs_file, cost, oneoff, idle, workload, threads, duration, warmup, interval, interval_s,
 cost_interval, cost_duration, loadavg) = sys.argv[1:]
rows = [line.split() for line in open(pairs_file) if line.strip()]
num = lambda col: [float(r[col]) for r in rows if r[col] != "-"]
on, off, ratios = num(0), num(1), num(2)
cpq_on, cpq_off = num(3), num(4)
cpq_ratios = [float(r[3]) / float(r[4]) for r in rows if r[3] != "-" and r[4] != "-"]
load_off = [float(r[6]) for r in rows]  if all(r[6] != "-" for r in rows) else []
mon_share = [float(r[7]) / 1e3 / float(r[5]) for r in rows if r[7] != "-" and r[5] != "-"]
cost = [float(x) for x in cost.split()]
oneoff = [float(x) for x in oneoff.split()]
run_s = float(duration) + float(warmup)
med = statistics.median
spread = lambda xs: f"median {med(xs):.4g}, min {min(xs):.4g}, max {max(xs):.4g}"

# 90 % interval of the mean log ratio (Student t, 0.95 quantile by degrees of freedom 1..20).
T95 = [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782,
       1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725]
def interval90(xs):
    n = len(xs)
    if n < 2:
        return None
    logs = [math.log(x) for x in xs]
    m, se = statistics.mean(logs), statistics.stdev(logs) / math.sqrt(n)
    t = T95[n - 2] if n - 2 < len(T95) else 1.645
    return math.exp(m - t * se), math.exp(m + t * se)

print()
print(f"{workload}, {threads} threads, {duration} s per run (+{warmup} s warm-up), monitor every {interval}, {len(ratios)} pairs (load average at the end: {loadavg}):")
if cost and oneoff and load_off:
    print("CPU accounting (client+server CPU; the load's CPU from the --no-monitor runs):")
    print(f"  per-sample CPU of the monitor (idle server, a sample every {cost_interval}, {cost_duration} s runs): {spread(cost)} ms")
    if idle:
        print(f"  the idle server alone: {float(idle) / float(cost_duration) * 1e3:.3f} ms CPU per s")
    print(f"  one-off CPU of the in-run monitor: {spread(oneoff)} ms per run")
    print(f"  the load's CPU: {spread(load_off)} CPU-s per s")
    n = min(len(cost), len(oneoff), len(load_off))
    per_iv = [cost[i] / 1e3 / float(interval_s) / load_off[i] * 100 for i in range(n)]
    once = [max(oneoff[i], 0.0) / 1e3 / run_s / load_off[i] * 100 for i in range(n)]
    total = [a + b for a, b in zip(per_iv, once)]
    print(f"  cost share, sampling every {interval}: {spread(per_iv)} %")
    print(f"  cost share, one-off over a {run_s:g} s run: {spread(once)} %")
    print(f"  cost share, both: {spread(total)} %")
    if mon_share:
        print(f"  cross-check under load (the monitor's thread and its server thread, per s of the on runs): {spread([x * 100 for x in mon_share])} %")
    top = max(total + [x * 100 for x in mon_share])
    verdict = "yes" if top <= 1.0 else "no"
    print(f"  bar (monitor CPU <= 1 % of the load's CPU, judged on the highest value, {top:.4g} %): {verdict}")
else:
    print("CPU accounting: not measured (no server pid)")
print("Interleaved pairs:")
print(f"  median QPS with the monitor {med(on):.1f}, without {med(off):.1f}")
r = med(ratios)
print(f"  median ratio on/off {r:.4f} (pairs {min(ratios):.4f}..{max(ratios):.4f}): overhead {(1 - r) * 100:.2f} %")
iv = interval90(ratios)
if iv is None:
    print("  bar (overhead <= 1 %): inconclusive (one pair; use REPEATS >= 5)")
else:
    lo, hi = iv
    print(f"  90 % interval of the ratio {lo:.4f}..{hi:.4f}: overhead {(1 - hi) * 100:.2f} .. {(1 - lo) * 100:.2f} %")
    if lo >= 0.99:
        verdict = "yes"
    elif hi < 0.99:
        verdict = "no"
    else:
        verdict = "inconclusive: the run-to-run noise is wider than the bar; more pairs, longer runs or a quieter machine"
    print(f"  bar (overhead <= 1 %): {verdict}")
if cpq_ratios:
    print(f"  client+server CPU per query: median {med(cpq_on):.3f} µs with the monitor, {med(cpq_off):.3f} µs without")
    c = med(cpq_ratios)
    print(f"  median ratio on/off {c:.4f} (pairs {min(cpq_ratios):.4f}..{max(cpq_ratios):.4f}): {(c - 1) * 100:+.2f} % CPU per query")
    iv = interval90(cpq_ratios)
    if iv is not None:
        print(f"  90 % interval of the ratio {iv[0]:.4f}..{iv[1]:.4f}: {(iv[0] - 1) * 100:+.2f} .. {(iv[1] - 1) * 100:+.2f} % CPU per query")
EOF
