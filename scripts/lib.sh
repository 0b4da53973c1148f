# Shared helpers for the scripts in this folder: `source "$(dirname "$0")/lib.sh"` after setting
# PROG (the name errors start with). Nothing here runs on its own.

# An error that names the script, then exit 2 (the scripts' "bad input or missing tool" code).
die() {
  echo "$PROG: error: $*" >&2
  exit 2
}
note() { echo "$PROG: $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# A command on PATH or in the sbin folders (server binaries live there and are not on a user's
# PATH on Debian).
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }

# need CMD:PACKAGE ...: installs with apt-get the packages whose command is missing, in one go,
# with sudo unless root. Dies naming the packages when there is no apt-get or it fails.
need() {
  local pair pkgs=()
  for pair in "$@"; do
    have "${pair%%:*}" || pkgs+=("${pair#*:}")
  done
  [ ${#pkgs[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]}: install them (no apt-get here)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  note "installing ${pkgs[*]} (apt-get)"
  { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; } ||
    die "apt-get install ${pkgs[*]} failed"
}

# build_loadgate: unless LOADGATE names a binary already, builds the release binary and sets
# LOADGATE to it; dies when there is still no executable.
build_loadgate() {
  if [ -z "${LOADGATE:-}" ]; then
    note "building loadgate (cargo build --release)"
    (cd "$(dirname "${BASH_SOURCE[0]}")/.." && cargo build --release --quiet) || die "cargo build --release failed"
    LOADGATE="${CARGO_TARGET_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target}/release/loadgate"
  fi
  [ -x "$LOADGATE" ] || die "no loadgate binary at $LOADGATE"
}

# at_exit FUNCTION: runs FUNCTION when the script exits (normally, on an error, or on Ctrl-C
# or SIGTERM, which exit 130 and 143), the last registered first, and keeps the script's exit
# status. Use it instead of `trap ... EXIT`, which would replace the list.
_AT_EXIT=()
at_exit() {
  _AT_EXIT=("$1" ${_AT_EXIT[@]+"${_AT_EXIT[@]}"})
  trap _run_at_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
_run_at_exit() {
  local rc=$? f
  for f in ${_AT_EXIT[@]+"${_AT_EXIT[@]}"}; do "$f" || true; done
  exit "$rc"
}

# start_throwaway_server STATE_DIR [ARG...]: starts a throwaway local server with $LOADGATE
# (see build_loadgate), its state file in STATE_DIR and ARGs passed to `loadgate server start`
# (e.g. --store FILE, --server-arg=OPTION); sets SERVER_URL (mysql://root@127.0.0.1:PORT/) and
# SERVER_PID, and stops the server when the script exits (at_exit). Prints nothing; dies with
# the server's messages when it does not start.
SERVER_STATE=""
start_throwaway_server() {
  local state="$1" out
  shift
  mkdir -p "$state"
  at_exit stop_throwaway_server
  SERVER_STATE="$state"
  if ! out="$("$LOADGATE" server start --state-dir "$state" "$@" -q 2>&1 >/dev/null)"; then
    SERVER_STATE=""
    [ -z "$out" ] || printf '%s\n' "$out" >&2
    die "could not start a throwaway server"
  fi
  SERVER_URL="$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$state/server.json")"
  SERVER_PID="$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$state/server.json")"
  [ -n "$SERVER_URL" ] || die "no server URL in $state/server.json"
}

# stop_throwaway_server: stops the server start_throwaway_server started, if it runs (called at
# exit; a script may call it earlier).
stop_throwaway_server() {
  [ -n "$SERVER_STATE" ] || return 0
  "$LOADGATE" server stop --state-dir "$SERVER_STATE" -q >/dev/null 2>&1 ||
    note "warning: could not stop the server in $SERVER_STATE"
  SERVER_STATE=""
}
