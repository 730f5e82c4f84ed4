#!/usr/bin/env bash
# Benchtop's tracker beside MLflow's in one run (vs_mlflow.rs and its twin ingest_mlflow.py).
# MLflow comes from PyPI into a virtual environment under the target folder, installed by this
# script only: mlflow-skinny with SQLAlchemy and Alembic, which its SQLite backend needs.
# BENCHTOP_BENCH_RUNS sets the search's store size [default: 10000; MLflow takes minutes to
# create them].
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/mlflow-venv"
if ! "$venv/bin/python" -c "import mlflow, sqlalchemy, alembic" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet mlflow-skinny sqlalchemy alembic
fi
cd "$root"
BENCHTOP_MLFLOW_PYTHON="$venv/bin/python" cargo test --workspace --bench vs_mlflow
