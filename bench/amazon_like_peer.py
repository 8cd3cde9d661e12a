"""CatBoost on the Amazon-shaped CSV with the folds bench/amazon-like.ts wrote (DIR/folds.csv), same protocol:
K-fold CV on train, test scored by the mean of the fold models.

  bench/.venv/bin/python bench/amazon_like_peer.py --dir /tmp/amzl [--params defaults|seed] [--threads 1]
      [--max-folds K] [--iterations N] [--seed 42] [--out PATH]

defaults = only random_seed (+ thread_count); seed = iterations 500, learning_rate 0.05, depth 8, l2_leaf_reg 8.
All 9 columns are categorical (cat_features, values as strings). Prints a JSON summary on stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.metrics import log_loss, roc_auc_score

ap = argparse.ArgumentParser()
ap.add_argument("--dir", default="/tmp/amzl")
ap.add_argument("--params", default="defaults")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--max-folds", type=int)
ap.add_argument("--iterations", type=int)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--out")
a = ap.parse_args()

tr = pd.read_csv(os.path.join(a.dir, "train.csv"), dtype=str)
te = pd.read_csv(os.path.join(a.dir, "test.csv"), dtype=str)
folds = pd.read_csv(os.path.join(a.dir, "folds.csv"))["fold"].to_numpy()
y, yt = tr.pop("ACTION").astype(int).to_numpy(), te.pop("ACTION").astype(int).to_numpy()
cats = list(tr.columns)
params = dict(random_seed=a.seed, thread_count=a.threads, verbose=False, allow_writing_files=False)
if a.params == "seed":
    params.update(iterations=500, learning_rate=0.05, depth=8, l2_leaf_reg=8)
if a.iterations:
    params["iterations"] = a.iterations
n_folds = int(folds.max()) + 1
k_max = min(n_folds, a.max_folds or n_folds)
oof = np.full(len(tr), np.nan)
test_sum = np.zeros(len(te))
fit_s, fit_cpu = [], []
for k in range(k_max):
    m = CatBoostClassifier(**params)
    t0, c0 = time.perf_counter(), time.process_time()
    m.fit(tr[folds != k], y[folds != k], cat_features=cats)
    fit_s.append(time.perf_counter() - t0)
    fit_cpu.append(time.process_time() - c0)  # CPU of all threads
    print(f"fold {k}: fit {fit_s[-1]:.1f} s (CPU {fit_cpu[-1]:.1f} s)", file=sys.stderr, flush=True)
    oof[folds == k] = m.predict_proba(tr[folds == k])[:, 1]
    test_sum += m.predict_proba(te)[:, 1]
    if k == 0:
        lr = m.get_all_params()["learning_rate"]
have = ~np.isnan(oof)
pt = test_sum / k_max
res = dict(
    engine=f"catboost t{a.threads}", params=params, learning_rate=lr, foldsFitted=k_max,
    oofAuc=roc_auc_score(y[have], oof[have]), oofLogloss=log_loss(y[have], oof[have]),
    testAuc=roc_auc_score(yt, pt), testLogloss=log_loss(yt, pt), fitSeconds=fit_s, fitCpuSeconds=fit_cpu,
)
with open(a.out or os.path.join(a.dir, f"catboost-{a.params}-t{a.threads}.json"), "w") as f:
    json.dump(dict(res, oof=oof.tolist(), test=pt.tolist()), f)
print(json.dumps(res))
