#!/usr/bin/env bash
# Quick start: installs the MariaDB server package if no server binary is present, builds
# loadgate, and runs sysbench's oltp_read_write on a throwaway local server (started, prepared,
# run, stored in this repository's baselines/loadgate.db, and removed), then prints the summary.
# Extra arguments go to `loadgate run`, e.g. scripts/quickstart.sh --threads 8 --duration 30s
set -euo pipefail
cd "$(dirname "$0")/.."

PROG=quickstart
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
have mysqld || need mariadbd:mariadb-server
build_loadgate
exec "$LOADGATE" run oltp_read_write "$@"
