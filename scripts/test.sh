#!/usr/bin/env bash
# The test command (README "Tests", and what CI runs): installs what the tests need when it is
# missing (MariaDB server binaries, HAProxy, rustfmt/clippy), then runs the format check,
# clippy with warnings as errors, and every test. The tests start their own throwaway servers;
# nothing needs to be running beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."

PROG=test.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# The server binaries (mariadbd and mariadb-install-db, or a mysqld) and HAProxy, in one apt-get.
pairs=(haproxy:haproxy)
have mysqld || pairs+=(mariadbd:mariadb-server mariadb-install-db:mariadb-server)
need "${pairs[@]}"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "test.sh: scripts/check-layers.sh"
bash scripts/check-layers.sh
echo "test.sh: cargo test"
cargo test --quiet 2>&1
