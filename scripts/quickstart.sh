#!/usr/bin/env bash
# Quick start: installs the MariaDB server package if no server binary is present, builds
# loadgate, and runs sysbench's oltp_read_write on a throwaway local server (started, prepared,
# run, stored in baselines/loadgate.db, and removed), then prints the summary.
# Extra arguments go to `loadgate run`, e.g. scripts/quickstart.sh --threads 8 --duration 30s
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  echo "quickstart: installing mariadb-server (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null
fi

cargo build --release --quiet
exec ./target/release/loadgate run oltp_read_write "$@"
