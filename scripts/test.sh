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
# The server binaries (mariadbd and mariadb-install-db, or a mysqld), HAProxy and the tools the
# tests call, in one apt-get.
# groff renders the generated man pages in the tests; git runs the CI workflow's steps.
pairs=(haproxy:haproxy groff:groff git:git)
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

# The two ways the README installs loadgate, into a scratch root: from this checkout, and from
# its git repository (a file:// URL stands in for the GitHub one). Debug builds in this
# checkout's target directory, so both reuse what the tests compiled.
install_root=$(mktemp -d)
remove_install_root() { rm -rf "$install_root"; }
at_exit remove_install_root
echo "test.sh: cargo install --path ."
cargo install --quiet --locked --debug --path . --root "$install_root/path"
"$install_root/path/bin/loadgate" --version
"$install_root/path/bin/loadgate" workloads >/dev/null
if git rev-parse --verify -q HEAD >/dev/null; then
  echo "test.sh: cargo install --git (this repository's HEAD)"
  cargo install --quiet --locked --debug --git "file://$PWD" --target-dir "${CARGO_TARGET_DIR:-target}" \
    --root "$install_root/git" loadgate
  "$install_root/git/bin/loadgate" --version
fi
echo "test.sh: ok"
