#!/usr/bin/env bash
# Run the test suite with the CPU deliberately oversubscribed: BUSY (default: one per
# core) busy-loop processes run for the whole run. Tests wait for server state, never for
# a guessed duration, so they must pass here as on a quiet machine.
# Usage: scripts/test-oversubscribed.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUSY=${BUSY:-$(nproc)}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq "$BUSY"); do
  python3 -c "while True: pass" &
  pids+=($!)
done
echo "oversubscribed: $BUSY busy loops on $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
set +e
.venv/bin/python -m pytest -q "$@"
rc=$?
set -e
echo "suite took $(( $(date +%s) - start )) s under $BUSY busy loops; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
