#!/usr/bin/env bash
# Repeats each failed test's name and error message at the end of a `dotnet test` console log, so that the tail of a
# CI log (often all that is kept) says which test failed and why.
set -euo pipefail
log="$1"
echo "=== failed tests (name and error message; the full output is above) ==="
awk '
  /^[[:space:]]+Failed [^ ]/ { printing = 1; lines = 0; print; next }
  printing && /^[[:space:]]+Stack Trace:/ { printing = 0; next }
  printing && /^[[:space:]]+(Passed|Skipped) / { printing = 0; next }
  printing && lines < 30 { print; lines++ }
' "$log"
