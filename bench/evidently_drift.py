"""Evidently's data drift report on the same reference and window as bench/monitoring.ts, for comparison.

    bench/.venv/bin/pip install evidently 'pandas<3' pyarrow    # evidently 0.7 does not import with pandas 3
    bench/.venv/bin/python bench/evidently_drift.py REFERENCE.parquet SCORED_WINDOW.parquet [--repeats 3]

Times (median of --repeats) reading both Parquet files into pandas, running Evidently's DataDriftPreset over the
ten model features with Evidently's default tests, and saving the HTML report; prints the process's peak RSS and
which features Evidently flags, so the verdicts can be checked against ours (drift.json of the same window).
"""

import argparse
import json
import resource
import statistics
import tempfile
import time

import evidently
import pandas as pd

CATEGORICAL = ["appId", "managerId", "department_filled", "office_filled", "category", "manager_department", "manager_office"]
NUMERIC = ["isMachine", "seniority", "manager_seniority_diff"]


def run_new_api(ref, cur, html_path):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    snapshot.save_html(html_path)
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith("DriftedColumnsCount"):
            scores["dataset"] = value
        elif config["type"].endswith("ValueDrift"):
            scores[config["column"]] = {"method": config["method"], "score": value, "threshold": config["threshold"]}
    return scores


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = {"read": [], "drift_and_html": []}
    result = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        ref = pd.read_parquet(args.reference, columns=CATEGORICAL + NUMERIC)
        cur = pd.read_parquet(args.current, columns=CATEGORICAL + NUMERIC)
        times["read"].append(time.perf_counter() - t)
        t = time.perf_counter()
        with tempfile.NamedTemporaryFile(suffix=".html") as f:
            result = run_new_api(ref, cur, f.name)
        times["drift_and_html"].append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "evidently": evidently.__version__,
                "rows": {"reference": len(ref), "current": len(cur)},
                "medianSeconds": {k: round(statistics.median(v), 2) for k, v in times.items()},
                "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "drift": result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
