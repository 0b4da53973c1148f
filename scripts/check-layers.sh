#!/usr/bin/env bash
# The dependency rules of ARCHITECTURE.md ("Invariants: layers"), checked by grep over src/:
# prints each use that breaks one and exits 1, else exits 0. Comment lines are not code and
# are skipped. Run by scripts/test.sh before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# uses PATTERN FILE...: the code lines (not comments) of FILE... that match PATTERN.
uses() {
  local pattern=$1
  shift
  [ $# -gt 0 ] || return 0
  grep -nHE "$pattern" "$@" 2>/dev/null | grep -vE '^[^:]+:[0-9]+:\s*//' || true
}
# forbid RULE PATTERN FILE...: reports every use of PATTERN in FILE... as a broken RULE.
forbid() {
  local rule=$1 pattern=$2 found
  shift 2
  found=$(uses "$pattern" "$@")
  if [ -n "$found" ]; then
    echo "check-layers: $rule:" >&2
    echo "$found" | sed 's/^/  /' >&2
    fail=1
  fi
}
# files DIR-OR-FILE...: the .rs files below them that exist.
files() { find "$@" -name '*.rs' 2>/dev/null | sort; }

# Command glue: main.rs and commands/ (one file per subcommand), with cli/ the only code that
# knows clap; nothing below them uses them.
glue='^src/(main\.rs|commands/|cli/)'
mapfile -t not_glue < <(files src | grep -vE "$glue")

forbid "util is a leaf (it uses nothing of the crate)" 'crate::' $(files src/util.rs src/util)
forbid "error is a leaf (module errors implement its exit-code trait)" \
  'crate::(app|cli|bulk|index|regress|store|stats|workload|target|server|engine|monitor|runner|report|settings|record)' \
  $(files src/error.rs)
forbid "stats depends on nothing but itself (and util)" \
  'crate::(app|cli|bulk|index|regress|store|workload|target|server|engine|monitor|runner|report|settings|record|prepare|testbed)\b' \
  $(files src/stats)
forbid "capacity is pure: it uses nothing but itself, stats and util" \
  'crate::(app|cli|commands|error|bulk|index|regress|store|workload|target|server|engine|monitor|runner|report|settings|record|prepare|testbed)\b' \
  $(files src/capacity)
forbid "only cli/ and the command glue know clap" '(\bclap::|use clap\b|crate::cli\b)' "${not_glue[@]}"
forbid "only the command glue uses commands" 'crate::commands\b' "${not_glue[@]}"
forbid "regress computes, report renders: regress does not import report" '^\s*use crate::report' \
  $(files src/regress)
forbid "the engine never prints (report::live renders its progress)" '\b(e?println|e?print)!' \
  $(files src/engine)
forbid "the model (record, settings) does not reach up" \
  'crate::(app|cli|runner|store|regress|report|engine|monitor)::' $(files src/record.rs src/record src/settings.rs)

if [ "$fail" -ne 0 ]; then
  echo "check-layers: see ARCHITECTURE.md, \"Invariants: layers\"" >&2
  exit 1
fi
echo "check-layers: ok"
