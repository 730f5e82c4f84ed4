"""MLflow's side of `cargo test --workspace --bench vs_mlflow`: the same workload through
MLflow's Python client against its SQLite backend store (the recommended local one).
Prints one JSON object: points/s batched, one `log_metric` call's p50/p99 in microseconds,
one 10k-point series read in ms, and a filtered search over `runs` runs in ms.

Usage: python ingest_mlflow.py DIR POINTS BATCH SERIES RUNS
"""

import json
import sys
import tempfile
import time

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient


def main() -> None:
    folder, points, batch, series, runs = sys.argv[1], *map(int, sys.argv[2:6])
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    client = MlflowClient()
    exp = client.create_experiment("bench")
    now = int(time.time() * 1000)

    # Batched ingest: log_batch takes at most 1,000 metrics a call.
    run = client.create_run(exp).info.run_id
    step = min(batch, 1000)
    start = time.perf_counter()
    for first in range(0, points, step):
        metrics = [Metric("loss", float(s), now, s) for s in range(first, min(first + step, points))]
        client.log_batch(run, metrics=metrics)
    batched = points / (time.perf_counter() - start)

    # One point at a time, as a training loop calls it.
    one = client.create_run(exp).info.run_id
    lat = []
    for s in range(1000):
        t = time.perf_counter()
        client.log_metric(one, "loss", float(s), now, s)
        lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()

    # One series of `series` points, read back whole.
    read_run = client.create_run(exp).info.run_id
    for first in range(0, series, 1000):
        metrics = [Metric("loss", float(s), now, s) for s in range(first, min(first + 1000, series))]
        client.log_batch(read_run, metrics=metrics)
    # The median of five reads, as on Benchtop's side.
    times = []
    for _ in range(5):
        start = time.perf_counter()
        history = client.get_metric_history(read_run, "loss")
        times.append((time.perf_counter() - start) * 1e3)
        assert len(history) == series
    read_ms = sorted(times)[2]

    # A store of `runs` runs, each with two params and a metric; one filtered search.
    for i in range(runs):
        r = client.create_run(exp).info.run_id
        client.log_batch(
            r,
            metrics=[Metric("score", i / runs, now, 0)],
            params=[Param("lr", str(10 ** -(1 + i % 4))), Param("method", ["erm", "irm"][i % 2])],
        )
    start = time.perf_counter()
    found = []
    token = None
    while True:
        page = client.search_runs([exp], "params.method = 'erm' and metrics.score < 0.5", max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    search_ms = (time.perf_counter() - start) * 1e3
    print(
        json.dumps(
            {
                "version": mlflow.__version__,
                "batched_points_per_s": batched,
                "log_metric_p50_us": lat[len(lat) // 2],
                "log_metric_p99_us": lat[int(len(lat) * 0.99)],
                "series_read_ms": read_ms,
                "search_ms": search_ms,
                "search_found": len(found),
            }
        )
    )


if __name__ == "__main__":
    main()
