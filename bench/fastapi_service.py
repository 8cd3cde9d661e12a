"""The seed's serving stack for bench/serve.ts: FastAPI + CatBoost, features built the seed-2 way in pandas.

Started by bench/serve.ts --fastapi (uvicorn, one worker) with:
  BENCH_DATA_DIR   folder with users_metadata.csv and apps_metadata.csv (the run's metadata)
  BENCH_FEATURES   the run's features/features.parquet (training rows, same engineered features)
  BENCH_PARAMS     the run's model.catboost block (JSON): the same iterations, depth, learning rate, seed
  BENCH_SENTINEL   the missing-category sentinel
CatBoost is trained at startup on the run's training rows, so both services score the same kind of model.
"""

import json
import os

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool
from fastapi import FastAPI
from pydantic import BaseModel

CATEGORICAL = ["appId", "managerId", "department_filled", "office_filled", "category", "manager_department", "manager_office"]
NUMERIC = ["isMachine", "seniority", "manager_seniority_diff"]
SENTINEL = os.environ.get("BENCH_SENTINEL", "__UNKNOWN__")
DATA = os.environ["BENCH_DATA_DIR"]

train = pd.read_parquet(os.environ["BENCH_FEATURES"])
params = {k: v for k, v in json.loads(os.environ.get("BENCH_PARAMS", "{}")).items() if k in ("iterations", "depth", "learning_rate", "random_seed", "l2_leaf_reg")}
model = CatBoostClassifier(**params, verbose=0, thread_count=1)
model.fit(Pool(train[CATEGORICAL + NUMERIC], train["label"], cat_features=CATEGORICAL))

users = pd.read_csv(os.path.join(DATA, "users_metadata.csv"), dtype=str).set_index("userId")
apps = pd.read_csv(os.path.join(DATA, "apps_metadata.csv"), dtype=str).set_index("appId")
managers = users.add_prefix("m_")
# Per-user features (seed-2: sentinel, manager backfill where the manager's value is known, seniority difference).
u = users.join(managers, on="managerId")
user_features = pd.DataFrame(
    {
        "managerId": u["managerId"].fillna(SENTINEL),
        "department_filled": u["department"].fillna(u["m_department"]).fillna(SENTINEL),
        "office_filled": u["officeLocation"].fillna(u["m_officeLocation"]).fillna(SENTINEL),
        "manager_department": u["m_department"].fillna(SENTINEL),
        "manager_office": u["m_officeLocation"].fillna(SENTINEL),
        "isMachine": pd.to_numeric(u["isMachine"], errors="coerce"),
        "seniority": pd.to_numeric(u["seniority"], errors="coerce"),
        "manager_seniority_diff": pd.to_numeric(u["seniority"], errors="coerce") - pd.to_numeric(u["m_seniority"], errors="coerce"),
    },
    index=users.index,
)
unknown_user = {c: (np.nan if c in NUMERIC else SENTINEL) for c in user_features.columns}
app_category = apps["category"].fillna(SENTINEL).to_dict()

app = FastAPI()


class PredictRequest(BaseModel):
    userId: str | int
    appId: str | int


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(requests: list[PredictRequest]):
    rows = []
    for r in requests:
        uid, aid = str(r.userId), str(r.appId)
        f = user_features.loc[uid].to_dict() if uid in user_features.index else dict(unknown_user)
        f["appId"] = aid
        f["category"] = app_category.get(aid, SENTINEL)
        rows.append(f)
    frame = pd.DataFrame(rows, columns=CATEGORICAL + NUMERIC)
    p = model.predict_proba(Pool(frame, cat_features=CATEGORICAL))[:, 1]
    return [
        {"userId": str(r.userId), "appId": str(r.appId), "approval_probability": float(pi)} for r, pi in zip(requests, p)
    ]
