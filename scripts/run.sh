#!/usr/bin/env bash
# Set up a virtual environment and run the filedrop-monitor daemon on the embedded default
# (SQLite): a starter config watching ./drop is written on first use, then `monitor run` polls
# every target on its schedule until Ctrl-C (SIGINT) or SIGTERM stops it. Put files into
# ./drop and watch them arrive in the log; `monitor diff drop` and `monitor batches` in another
# shell show what it recorded. Alerts are written to the outbox; set [notify] in monitor.toml
# to have them mailed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e .
export MONITOR_CONFIG="${MONITOR_CONFIG:-$PWD/monitor.toml}"
[ -f "$MONITOR_CONFIG" ] || .venv/bin/monitor init --watch "$PWD/drop"
exec .venv/bin/monitor run
