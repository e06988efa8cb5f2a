#!/usr/bin/env bash
# Idempotent setup of a CPU-only development/serving environment in ./.venv:
# SGLang 0.5.23 (no CUDA extras), this package (editable), and the patches in patches/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP=.venv/.continuum-setup
WANT=$(cat requirements/cpu-server.txt requirements/test-agents.txt pyproject.toml patches/*.patch | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
echo "installing SGLang's CPU dependencies (torch comes from the local disk on these machines)..."
.venv/bin/python -m pip install -q -r requirements/cpu-server.txt -r requirements/test-agents.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --no-deps sglang==0.5.23 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m sglang_continuum.server.patching apply
.venv/bin/python -m sglang_continuum.server.tiny_model >/dev/null
.venv/bin/python -c "import sglang, sglang_continuum.server.plugin; print('sglang', sglang.__version__, 'ready')"
echo "$WANT" > "$STAMP"
