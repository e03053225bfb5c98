#!/usr/bin/env bash
# Set up a virtual environment with the test extras, then run the linters and the whole suite.
# The tests need the PostgreSQL server on 127.0.0.1:5432 (database "test", trust auth);
# MONITOR_TEST_PG points them elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
.venv/bin/ruff check monitor tests bench
.venv/bin/ruff format --check monitor tests bench
.venv/bin/mypy monitor
.venv/bin/python -m pytest -n 2 "$@"
