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
