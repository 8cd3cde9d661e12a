"""The seed's stack as a batch scorer, the peer of `access-perm score` in bench/score-cli.ts.

Features come from bench/fastapi_service.py (`SeedFeatures`, the seed-2 features in pandas: the same module the
FastAPI peer serves with); the model is CatBoost trained with the run's parameters on the run's feature table.

  bench/.venv/bin/python bench/catboost_batch.py train --features RUN/features/features.parquet \
      --params '{"iterations": 100, ...}' --model OUT.cbm
  bench/.venv/bin/python bench/catboost_batch.py check --features RUN/features/features.parquet \
      --data-dir DATA --sentinel __UNKNOWN__
  bench/.venv/bin/python bench/catboost_batch.py score --model OUT.cbm --data-dir DATA --input IN.csv \
      --output PRED.csv --threshold 0.5 [--chunk-rows 65536] [--sentinel __UNKNOWN__]

`train` fits and saves the model (not timed by the bench: our side scores an already trained run). `check` rebuilds
the training rows' features from their userId/appId and compares them with the run's feature table (the peer must
score the same inputs). `score` streams IN.csv (header with userId and appId) in chunks: features → CatBoost →
CSV lines (userId, appId, approval_probability, predicted_label), like `access-perm score`; it prints a JSON
summary {rows, seconds, approved, unknownUsers, unknownApps} where `seconds` runs from the first chunk read to the
last line written (model and metadata loaded), as the CLI's own `seconds` does. Peak RSS: measure the process
(bench/score-cli.ts runs it under /usr/bin/time -v).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing the sibling module
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastapi_service import CATEGORICAL, COLUMNS, NUMERIC, SeedFeatures, train_model  # noqa: E402


def cmd_train(a):
    model = train_model(a.features, a.params, thread_count=a.threads)
    model.save_model(a.model)
    print(json.dumps({"model": a.model, "trees": model.tree_count_}))


def cmd_check(a):
    table = pd.read_parquet(a.features)
    built, unknown_user, unknown_app = SeedFeatures(a.data_dir, a.sentinel).frame(table["userId"], table["appId"])
    problems = []
    if unknown_user.any() or unknown_app.any():
        problems.append(f"{int(unknown_user.sum())} training users and {int(unknown_app.sum())} apps not in the metadata")
    for c in CATEGORICAL:
        bad = np.flatnonzero(built[c].astype(str).to_numpy() != table[c].astype(str).to_numpy())
        if len(bad):
            i = bad[0]
            problems.append(f"{c}: {len(bad)} rows differ, first row {i}: built {built[c].iloc[i]!r}, table {table[c].iloc[i]!r}")
    for c in NUMERIC:
        x, y = built[c].to_numpy(dtype=float), table[c].to_numpy(dtype=float)
        bad = np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y))))
        if len(bad):
            i = bad[0]
            problems.append(f"{c}: {len(bad)} rows differ, first row {i}: built {x[i]}, table {y[i]}")
    if problems:
        sys.exit("catboost_batch.py check: the seed features differ from the run's feature table: " + "; ".join(problems))
    print(json.dumps({"rows": len(table), "columns": len(COLUMNS), "equal": True}))


def cmd_score(a):
    model = CatBoostClassifier()
    model.load_model(a.model)
    features = SeedFeatures(a.data_dir, a.sentinel)
    summary = {"rows": 0, "approved": 0, "unknownUsers": 0, "unknownApps": 0}
    tmp = f"{a.output}.tmp-{os.getpid()}"
    started = time.perf_counter()
    try:
        with open(tmp, "w", newline="") as out:
            out.write("userId,appId,approval_probability,predicted_label\n")
            reader = pd.read_csv(a.input, usecols=["userId", "appId"], dtype=str, keep_default_na=False,
                                 chunksize=a.chunk_rows)
            for chunk in reader:
                frame, unknown_user, unknown_app = features.frame(chunk["userId"], chunk["appId"])
                p = model.predict_proba(Pool(frame, cat_features=CATEGORICAL), thread_count=a.threads)[:, 1]
                label = (p >= a.threshold).astype(np.int8)
                pd.DataFrame({"userId": chunk["userId"].to_numpy(), "appId": chunk["appId"].to_numpy(),
                              "approval_probability": p, "predicted_label": label}).to_csv(
                    out, header=False, index=False, float_format="%.6f")
                summary["rows"] += len(chunk)
                summary["approved"] += int(label.sum())
                summary["unknownUsers"] += int(unknown_user.sum())
                summary["unknownApps"] += int(unknown_app.sum())
        os.replace(tmp, a.output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    summary["seconds"] = time.perf_counter() - started
    print(json.dumps(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--features", required=True)
    t.add_argument("--params", default="{}")
    t.add_argument("--model", required=True)
    t.add_argument("--threads", type=int, default=-1)
    c = sub.add_parser("check")
    c.add_argument("--features", required=True)
    c.add_argument("--data-dir", required=True)
    c.add_argument("--sentinel", default="__UNKNOWN__")
    s = sub.add_parser("score")
    s.add_argument("--model", required=True)
    s.add_argument("--data-dir", required=True)
    s.add_argument("--input", required=True)
    s.add_argument("--output", required=True)
    s.add_argument("--threshold", type=float, required=True)
    s.add_argument("--chunk-rows", type=int, default=65_536)
    s.add_argument("--sentinel", default="__UNKNOWN__")
    s.add_argument("--threads", type=int, default=-1, help="CatBoost prediction threads (-1: every core)")
    a = ap.parse_args()
    {"train": cmd_train, "check": cmd_check, "score": cmd_score}[a.cmd](a)


main()
