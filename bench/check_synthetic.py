"""Checks a synthetic access-perm dataset against the seed's statistics and model figures.

Usage: bench/.venv/bin/python bench/check_synthetic.py DIR [--iterations 500] [--no-model]

Prints the data-audit statistics (size, approval rate, missingness, machine accounts, pair uniqueness),
then rebuilds the seed's features and trains CatBoost with GroupKFold(5) by userId, printing OOF ROC-AUC,
PR-AUC, accuracy at the max-accuracy threshold and normalised feature importances.
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold

UNKNOWN = "__UNKNOWN__"
CAT_FEATURES = ["appId", "managerId", "department_filled", "office_filled", "category", "manager_department", "manager_office"]
NUM_FEATURES = ["isMachine", "seniority", "manager_seniority_diff"]


def load(d):
    read = lambda name: pd.read_csv(os.path.join(d, name), dtype=str, keep_default_na=False, na_values=[""])
    users, apps = read("users_metadata.csv"), read("apps_metadata.csv")
    inter, sub = read("interactions.csv"), read("submission.csv")
    for df, cols in [(users, ["isMachine", "seniority"]), (inter, ["permission"])]:
        for c in cols:
            df[c] = pd.to_numeric(df[c])
    return users, apps, inter, sub


def audit(users, apps, inter, sub):
    print(f"rows: interactions={len(inter):,} users={inter.userId.nunique():,} (metadata {len(users):,}) "
          f"apps={inter.appId.nunique():,} (metadata {len(apps):,}) submissions={len(sub):,}")
    print(f"approval rate: {inter.permission.mean():.4f}")
    print(f"missing: department={users.department.isna().mean():.4f} office={users.officeLocation.isna().mean():.4f} "
          f"seniority={users.seniority.isna().mean():.4f} category={apps.category.isna().mean():.4f}")
    m = inter.merge(users[["userId", "isMachine"]], on="userId", how="left")
    mach = m[m.isMachine == 1]
    print(f"machine accounts: users={int((users.isMachine == 1).sum())} share of requests={len(mach) / len(m):.4f} "
          f"approved={mach.permission.mean():.4f}")
    print(f"cardinality: departments={users.department.nunique()} offices={users.officeLocation.nunique()} "
          f"categories={apps.category.nunique()} managers={users.managerId.nunique()} "
          f"no-manager users={int(users.managerId.isna().sum())}")
    dup = inter.duplicated(["userId", "appId"]).sum()
    keys = set(zip(inter.userId, inter.appId))
    overlap = sum((u, a) in keys for u, a in zip(sub.userId, sub.appId))
    orphan_mgr = (~users.managerId.dropna().isin(users.userId)).sum()
    print(f"integrity: duplicate pairs={dup} submission∩interactions={overlap} "
          f"unknown managerIds={orphan_mgr} unique userIds={users.userId.is_unique} unique appIds={apps.appId.is_unique}")
    # How much of the missing department/office the manager backfill recovers.
    mg = users.merge(users[["userId", "department", "officeLocation"]].add_prefix("m_"), left_on="managerId",
                     right_on="m_userId", how="left")
    rec_d = (mg.department.isna() & mg.m_department.notna()).sum() / max(1, mg.department.isna().sum())
    rec_o = (mg.officeLocation.isna() & mg.m_officeLocation.notna()).sum() / max(1, mg.officeLocation.isna().sum())
    print(f"backfill: recoverable missing department={rec_d:.3f} office={rec_o:.3f}")


def features(users, apps, inter):
    mgr = users[["userId", "department", "officeLocation", "seniority"]].rename(columns={
        "userId": "managerId", "department": "manager_department", "officeLocation": "manager_office",
        "seniority": "manager_seniority"})
    df = inter.merge(users, on="userId", how="left").merge(apps, on="appId", how="left")
    df = df.merge(mgr, on="managerId", how="left")
    df["department_filled"] = df.department.fillna(df.manager_department)
    df["office_filled"] = df.officeLocation.fillna(df.manager_office)
    df["manager_seniority_diff"] = df.seniority - df.manager_seniority
    for c in CAT_FEATURES:
        df[c] = df[c].fillna(UNKNOWN).astype(str)
    return df[CAT_FEATURES + NUM_FEATURES], df.permission.to_numpy(), df.userId.to_numpy()


def evaluate(X, y, groups, iterations):
    oof = np.zeros(len(y))
    importance = np.zeros(X.shape[1])
    for fold, (tr, va) in enumerate(GroupKFold(n_splits=5).split(X, y, groups)):
        t0 = time.time()
        model = CatBoostClassifier(iterations=iterations, learning_rate=0.05, depth=8, l2_leaf_reg=8, random_seed=42,
                                   thread_count=2, verbose=False, cat_features=CAT_FEATURES,
                                   allow_writing_files=False)
        model.fit(X.iloc[tr], y[tr])
        oof[va] = model.predict_proba(X.iloc[va])[:, 1]
        importance += model.get_feature_importance()
        print(f"  fold {fold}: AUC={roc_auc_score(y[va], oof[va]):.4f} ({time.time() - t0:.0f}s)", flush=True)
    order = np.argsort(-oof)
    ys = y[order]
    # Accuracy when predicting positive for the top-k scores, for every k: pick the best threshold.
    acc = (np.cumsum(ys) + (len(ys) - np.arange(1, len(ys) + 1) - (ys.sum() - np.cumsum(ys)))) / len(ys)
    k = int(np.argmax(acc))
    print(f"OOF ROC-AUC={roc_auc_score(y, oof):.4f} PR-AUC={average_precision_score(y, oof):.4f} "
          f"accuracy={acc[k]:.4f} at threshold={oof[order[k]]:.3f}")
    importance = 100 * importance / importance.sum()
    print("importances:", ", ".join(f"{c}={v:.1f}" for c, v in sorted(zip(X.columns, importance), key=lambda t: -t[1])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--no-model", action="store_true")
    args = ap.parse_args()
    users, apps, inter, sub = load(args.dir)
    audit(users, apps, inter, sub)
    if not args.no_model:
        evaluate(*features(users, apps, inter), args.iterations)


if __name__ == "__main__":
    sys.exit(main())
