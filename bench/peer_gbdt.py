"""CatBoost and LightGBM on the feature table and folds our pipeline built (bench/gbdt.ts calls this).

Usage: bench/.venv/bin/python bench/peer_gbdt.py FEATURES.parquet [--repeats 3] [--params JSON]
Prints a JSON list of results (medians over repeats) on stdout; progress on stderr.
"""
import argparse
import json
import resource
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

CAT = ["appId", "managerId", "department_filled", "office_filled", "category", "manager_department", "manager_office"]
NUM = ["isMachine", "seniority", "manager_seniority_diff"]


def evaluate(name, fit_predict, df, folds, repeats, score):
    aucs, aps, lls, fits, walls = [], [], [], [], []
    model = None
    for r in range(repeats):
        oof = np.zeros(len(df))
        wall = time.perf_counter()
        for k in folds:
            tr, va = df.fold != k, df.fold == k
            t = time.perf_counter()
            model, pred = fit_predict(df[tr], df[va])
            fits.append(time.perf_counter() - t)
            oof[va.to_numpy()] = pred
        walls.append(time.perf_counter() - wall)
        aucs.append(roc_auc_score(df.label, oof))
        aps.append(average_precision_score(df.label, oof))
        lls.append(log_loss(df.label, oof))
        print(f"{name} repeat {r + 1}/{repeats}: AUC {aucs[-1]:.4f}, CV wall {walls[-1]:.1f} s", file=sys.stderr)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        score(model, df)
        times.append(time.perf_counter() - t)
    return {
        "engine": name,
        "rocAuc": float(np.median(aucs)),
        "prAuc": float(np.median(aps)),
        "logloss": float(np.median(lls)),
        "foldFitSeconds": float(np.median(fits)),
        "cvWallSeconds": float(np.median(walls)),
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "scoreRowsPerSecond": {f"{name} predict": len(df) / float(np.median(times))},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("features")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", default="{}")
    a = ap.parse_args()
    params = json.loads(a.params)
    df = pd.read_parquet(a.features)
    for c in CAT:
        df[c] = df[c].astype(str)
    folds = sorted(df.fold.unique())
    x_cols = CAT + NUM

    cb_params = {k: v for k, v in params.items() if k in (
        "iterations", "learning_rate", "depth", "l2_leaf_reg", "random_seed", "border_count", "random_strength",
        "one_hot_max_size", "bootstrap_type", "bagging_temperature", "subsample", "max_ctr_complexity")}

    def catboost_fit(tr, va):
        m = CatBoostClassifier(**cb_params, thread_count=2, verbose=False, allow_writing_files=False)
        m.fit(tr[x_cols], tr.label, cat_features=CAT)
        return m, m.predict_proba(va[x_cols])[:, 1]

    results = [evaluate("CatBoost 1.2.10", catboost_fit, df, folds, a.repeats,
                        lambda m, d: m.predict_proba(d[x_cols])[:, 1])]

    lgb_df = df.copy()
    for c in CAT:
        lgb_df[c] = lgb_df[c].astype("category")

    def lgb_fit(tr, va):
        m = lgb.LGBMClassifier(
            n_estimators=params.get("iterations", 500), learning_rate=params.get("learning_rate", 0.05),
            num_leaves=2 ** min(params.get("depth", 6), 10) - 1, reg_lambda=params.get("l2_leaf_reg", 3),
            random_state=params.get("random_seed", 0), num_threads=2, verbose=-1)
        m.fit(tr[x_cols], tr.label, categorical_feature=CAT)
        return m, m.predict_proba(va[x_cols])[:, 1]

    results.append(evaluate("LightGBM 4.7.0", lgb_fit, lgb_df, folds, a.repeats,
                            lambda m, d: m.predict_proba(d[x_cols])[:, 1]))
    json.dump(results, sys.stdout)


main()
