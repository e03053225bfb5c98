#!/usr/bin/env bash
# Set up a virtual environment and run filedrop-monitor on the embedded default (SQLite):
# a starter config watching ./drop is written on first use, then every target is polled and
# today's changes are shown. Put files into ./drop and run it again to see them arrive.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e .
export MONITOR_CONFIG="${MONITOR_CONFIG:-$PWD/monitor.toml}"
[ -f "$MONITOR_CONFIG" ] || .venv/bin/monitor init --watch "$PWD/drop"
.venv/bin/monitor poll
.venv/bin/monitor diff drop
.venv/bin/monitor batches
