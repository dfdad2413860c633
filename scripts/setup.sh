#!/usr/bin/env bash
# Set up a CPU environment for omni-safety harness in ./.venv:
#   system packages: espeak-ng (offline TTS) and GNU FreeFont (typography images); with --test also Debian's
#   chromium for the browser tests of the leaderboard;
#   Python packages: the harness (editable) with lm-eval and the pins of constraints/cpu.txt and, with --test,
#   test extras.
# Re-running is cheap: installed pieces are skipped. Needs Python >= 3.11 ($PYTHON, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
[ -f /usr/share/fonts/truetype/freefont/FreeMonoBold.ttf ] || need+=(fonts-freefont-ttf)
if ((with_tests)); then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo_cmd=(); elif command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "setup: please install these Debian/Ubuntu packages first: ${need[*]}" >&2; exit 1; fi
  echo "setup: installing ${need[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: need Python >= 3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras="[lm-eval]"  # the default job measures utility through lm-evaluation-harness
((with_tests)) && extras="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints/cpu.txt -e ".${extras}" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -c 'import harness, torch, transformers' || { echo "setup: install failed" >&2; exit 1; }
echo "setup: ready (.venv)"
