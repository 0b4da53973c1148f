#!/usr/bin/env bash
# The test command (README "Tests", and what CI runs): installs what the tests need when it is
# missing (MariaDB server binaries, HAProxy, rustfmt/clippy), then runs the format check,
# clippy with warnings as errors, and every test. The tests start their own throwaway servers;
# nothing needs to be running beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }

need=()
if ! have mariadbd && ! have mysqld; then need+=(mariadb-server); fi
if ! have mariadb-install-db && ! have mysqld; then need+=(mariadb-server); fi
if ! have haproxy; then need+=(haproxy); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "test.sh: cargo test"
cargo test --quiet 2>&1
