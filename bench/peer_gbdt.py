"""One run of one peer trainer (CatBoost or LightGBM) on the feature table and folds our pipeline built.

bench/gbdt.ts calls this once per engine per run, each in a fresh process (so peak RSS is the engine's own):

  bench/.venv/bin/python bench/peer_gbdt.py FEATURES.parquet --engine catboost|lightgbm --params JSON
      --categorical JSON --numeric JSON --full-model PATH (--train-full | --load-full) [--score-passes 3]
      [--score-threads 1,2] [--skip-cv]
  bench/.venv/bin/python bench/peer_gbdt.py FEATURES.parquet --engine catboost --params JSON --categorical JSON
      --numeric JSON --fit-fold K [--rows N] [--threads 2]      # one fit of fold K's training rows (bench/fit.ts)

1. Reads the Parquet table (rows ordered by row_idx, as the TS side reads them) and its `fold` column (GroupKFold by
   userId, assigned by the pipeline).
2. CV: fits the folds one after another with 2 threads (CatBoost thread_count=2, LightGBM num_threads=2) and predicts
   each held-out fold; per-fold fit wall time, CV wall time, OOF predictions (metrics are computed on the TS side with
   the same code as ours; sklearn's are included as a cross-check). Peak RSS of the CV phase: /proc/self/status VmHWM
   after resetting it (clear_refs 5) right before CV, so it includes the DataFrame already in memory.
3. Scoring: the model trained on ALL rows with the same parameters (--train-full trains and saves it to PATH and
   reports its fit time; --load-full loads it), timed predicting all rows `--score-passes` times with 1 thread and
   with 2 threads (DataFrame in, probabilities out, as a caller would use it); --score-threads picks the thread
   counts, --skip-cv skips step 2 (bench/onnx-throughput.ts compares scoring only). With --train-full after the CV,
   the training work the issue times (5 folds + the model on all rows) is reported as trainingWallSeconds, its peak
   RSS as peakTrainingMb.
Prints one JSON object on stdout; progress on stderr.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

STATUS = "/proc/self/status"


def vm_kb(key):
    try:
        with open(STATUS) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak():
    """Resets VmHWM to the current RSS (Linux >= 4.0); returns whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mb(kb):
    return None if kb is None else kb / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("features")
    ap.add_argument("--engine", choices=["catboost", "lightgbm"], required=True)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--categorical", required=True)
    ap.add_argument("--numeric", required=True)
    ap.add_argument("--full-model")
    ap.add_argument("--train-full", action="store_true")
    ap.add_argument("--load-full", action="store_true")
    ap.add_argument("--score-passes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-cv", action="store_true", help="no CV (scoring only: bench/onnx-throughput.ts)")
    ap.add_argument("--score-threads", default="1,2", help="thread counts to time predict with")
    ap.add_argument("--fit-fold", type=int, help="one fit on this fold's training rows, then exit (bench/fit.ts)")
    ap.add_argument("--rows", type=int, help="with --fit-fold: the fold's first N training rows")
    a = ap.parse_args()
    if a.fit_fold is None and (a.train_full == a.load_full or not a.full_model):
        ap.error("--full-model and exactly one of --train-full / --load-full (or --fit-fold)")
    params = json.loads(a.params)
    cat, num = json.loads(a.categorical), json.loads(a.numeric)
    x_cols = cat + num

    t = time.perf_counter()
    df = pd.read_parquet(a.features, columns=x_cols + ["label", "fold", "row_idx"])
    df = df.sort_values("row_idx", kind="stable").reset_index(drop=True)
    for c in cat:
        df[c] = df[c].astype(str)
    for c in num:
        df[c] = df[c].astype("float64")
    load_seconds = time.perf_counter() - t
    folds = sorted(int(k) for k in df.fold.unique())
    y = df.label.to_numpy().astype(int)

    if a.engine == "catboost":
        import catboost
        from catboost import CatBoostClassifier

        version = catboost.__version__
        name = f"CatBoost {version}"
        cb_params = {k: v for k, v in params.items() if k in (
            "iterations", "learning_rate", "depth", "l2_leaf_reg", "random_seed", "border_count", "random_strength",
            "one_hot_max_size", "bootstrap_type", "bagging_temperature", "subsample", "max_ctr_complexity",
            "fold_permutation_block")}
        x = df[x_cols]

        def fit(rows):
            m = CatBoostClassifier(**cb_params, thread_count=a.threads, verbose=False, allow_writing_files=False)
            m.fit(x[rows], y[rows], cat_features=cat)
            return m

        def predict(m, rows, threads):
            return m.predict_proba(x[rows], thread_count=threads)[:, 1]

        def save(m):
            m.save_model(a.full_model)

        def load():
            m = CatBoostClassifier()
            m.load_model(a.full_model)
            return m
    else:
        import lightgbm as lgb

        version = lgb.__version__
        name = f"LightGBM {version}"
        x = df[x_cols].copy()
        for c in cat:
            x[c] = x[c].astype("category")
        lgb_params = dict(
            n_estimators=params.get("iterations", 500), learning_rate=params.get("learning_rate", 0.05),
            num_leaves=2 ** min(params.get("depth", 6), 10) - 1, reg_lambda=params.get("l2_leaf_reg", 3),
            random_state=params.get("random_seed", 0), verbose=-1)

        def fit(rows):
            m = lgb.LGBMClassifier(**lgb_params, num_threads=a.threads)
            m.fit(x[rows], y[rows], categorical_feature=cat)
            return m.booster_

        def predict(m, rows, threads):
            return m.predict(x[rows], num_threads=threads)

        def save(m):
            m.save_model(a.full_model)

        def load():
            return lgb.Booster(model_file=a.full_model)

    if a.fit_fold is not None:
        rows = (df.fold != a.fit_fold).to_numpy()
        if a.rows is not None:
            rows = rows & (np.cumsum(rows) <= a.rows)
        peak_reset = reset_peak()
        t = time.perf_counter()
        fit(rows)
        json.dump({"engine": a.engine, "name": name, "fold": a.fit_fold, "trainRows": int(rows.sum()),
                   "fitSeconds": time.perf_counter() - t,
                   "peakMb": mb(vm_kb("VmHWM")) if peak_reset else None}, sys.stdout)
        return

    # CV on the pipeline's folds.
    rss_before_cv = vm_kb("VmRSS")
    peak_reset = reset_peak()
    oof = np.zeros(len(df))
    fold_out = []
    wall = time.perf_counter()
    for k in [] if a.skip_cv else folds:
        tr = (df.fold != k).to_numpy()
        va = ~tr
        t = time.perf_counter()
        m = fit(tr)
        fit_s = time.perf_counter() - t
        oof[va] = predict(m, va, a.threads)
        fold_out.append({"fold": k, "trainRows": int(tr.sum()), "validRows": int(va.sum()), "fitSeconds": fit_s})
        print(f"  {name} fold {k}: fit {fit_s:.1f} s", file=sys.stderr)
    cv_wall = time.perf_counter() - wall
    peak_cv = vm_kb("VmHWM")
    m = None  # the last fold's model goes before the full fit

    # Scoring model: trained on all rows (run 1) or loaded.
    every = np.ones(len(df), dtype=bool)
    if a.train_full:
        t = time.perf_counter()
        full = fit(every)
        full_fit = time.perf_counter() - t
        # The training work: the folds and the model on all rows, one after another.
        training_wall = time.perf_counter() - wall
        peak_training = vm_kb("VmHWM")
        save(full)
        print(f"  {name} all-rows fit {full_fit:.1f} s", file=sys.stderr)
    else:
        full = load()
        full_fit = None
        training_wall = None
        peak_training = None
    predict(full, np.arange(len(df)) < 1000, 1)  # warm-up
    scoring = []
    for threads in (int(t) for t in a.score_threads.split(",")):
        walls, cpus = [], []
        for _ in range(a.score_passes):
            c, t = time.process_time(), time.perf_counter()
            predict(full, every, threads)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        scoring.append({"scorer": "predict_proba" if a.engine == "catboost" else "predict", "threads": threads, "rows": len(df), "wallSeconds": walls,
                        "cpuSeconds": cpus})

    json.dump({
        "engine": a.engine,
        "name": name,
        "version": version,
        "python": sys.version.split()[0],
        "rows": len(df),
        "loadSeconds": load_seconds,
        "folds": fold_out,
        "cvWallSeconds": cv_wall,
        "trainingWallSeconds": training_wall,
        "oof": oof.tolist(),
        "sklearn": None if a.skip_cv else {"rocAuc": roc_auc_score(y, oof), "prAuc": average_precision_score(y, oof),
                                           "logloss": log_loss(y, oof)},
        "rss": {
            "beforeCvMb": mb(rss_before_cv),
            "peakCvMb": mb(peak_cv) if peak_reset else None,
            "peakTrainingMb": mb(peak_training) if peak_reset and peak_training is not None else None,
            "peakResetWorked": peak_reset,
            "processMaxMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "fullFitSeconds": full_fit,
        "scoring": scoring,
        "pid": os.getpid(),
    }, sys.stdout)


main()
