#!/usr/bin/env bash
# Prints one summary line from Maven surefire reports (Maven runs quiet, -q) and fails when no
# test ran:   scripts/surefire-summary.sh LABEL REPORTS_DIR
set -euo pipefail
label="$1" reports="$2"
tests=0 failed=0 skipped=0
for r in "$reports"/TEST-*.xml; do
  [ -f "$r" ] || continue
  line="$(grep -m1 -o '<testsuite [^>]*>' "$r")"
  t="$(sed -E 's/.* tests="([0-9]+)".*/\1/' <<<"$line")"
  f="$(sed -E 's/.* failures="([0-9]+)".*/\1/' <<<"$line")"
  e="$(sed -E 's/.* errors="([0-9]+)".*/\1/' <<<"$line")"
  s="$(sed -E 's/.* skipped="([0-9]+)".*/\1/' <<<"$line")"
  tests=$((tests + t)) failed=$((failed + f + e)) skipped=$((skipped + s))
done
echo "$label: $((tests - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$tests" -gt 0 ] || { echo "no $label tests ran" >&2; exit 1; }
