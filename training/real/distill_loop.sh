#!/usr/bin/env bash
# Runs the real zoo's data stages to the end, one resumable chunk after another, on TELEGUARD_THREADS threads
# (default 1): the base model directory, the instruction file, then `python -m training.real.distill --max-minutes M`
# (default 9) until it exits 0. Meant to be left running: `setsid nohup training/real/distill_loop.sh \
# >> training/runs/real/distill.log 2>&1 &`. Exits with the first status other than 3.
set -uo pipefail
cd "$(dirname "$0")/../.."
python="${TELEGUARD_VENV:-$HOME/.cache/teleguard/venv}/bin/python"
minutes="${1:-9}"
export TELEGUARD_THREADS="${TELEGUARD_THREADS:-1}"
"$python" -m training.real.base || exit $?
"$python" -m training.real.instructions || exit $?
while true; do
    echo "== $(date -u +%FT%TZ) distill chunk"
    "$python" -m training.real.distill --max-minutes "$minutes"
    status=$?
    [ "$status" -eq 3 ] || { echo "== $(date -u +%FT%TZ) distill exited $status"; exit "$status"; }
done
