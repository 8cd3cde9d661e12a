"""The seed's stack for the benches: CatBoost trained with the run's parameters, features built the seed-2 way in
pandas, served by FastAPI (bench/serve.ts --fastapi) or scored in batch (bench/catboost_batch.py, which imports
`SeedFeatures` and `train_model` from here: one feature code path for both peers).

Service, started by bench/serve.ts --fastapi (uvicorn, one worker, the seed's setup) with:
  BENCH_DATA_DIR   folder with users_metadata.csv and apps_metadata.csv (the run's metadata)
  BENCH_FEATURES   the run's features/features.parquet (training rows, same engineered features)
  BENCH_PARAMS     the run's model.catboost block (JSON): the same iterations, depth, learning rate, seed
  BENCH_SENTINEL   the missing-category sentinel
CatBoost is trained at startup on the run's training rows, so both services score the same kind of model.
Importing this module does no work: the model and the tables are built in the app's lifespan.
"""

import json
import os
from contextlib import asynccontextmanager

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool
from fastapi import FastAPI
from pydantic import BaseModel

CATEGORICAL = ["appId", "managerId", "department_filled", "office_filled", "category", "manager_department", "manager_office"]
NUMERIC = ["isMachine", "seniority", "manager_seniority_diff"]
COLUMNS = CATEGORICAL + NUMERIC
SMALL_BATCH = 32
CATBOOST_PARAMS = ("iterations", "depth", "learning_rate", "random_seed", "l2_leaf_reg")


def train_model(features_parquet: str, params_json: str, thread_count: int) -> CatBoostClassifier:
    """CatBoost with the run's parameters, fitted on the run's feature table (the training rows)."""
    train = pd.read_parquet(features_parquet)
    params = {k: v for k, v in json.loads(params_json or "{}").items() if k in CATBOOST_PARAMS}
    model = CatBoostClassifier(**params, verbose=0, thread_count=thread_count, allow_writing_files=False)
    model.fit(Pool(train[COLUMNS], train["label"], cat_features=CATEGORICAL))
    return model


class SeedFeatures:
    """Per-user and per-app features from the metadata (seed-2: sentinel for missing categories, department and
    office backfilled from the manager where the manager's value is known, seniority difference to the manager);
    unknown users and apps take the sentinel / missing numerics, as the training SQL does."""

    def __init__(self, data_dir: str, sentinel: str):
        self.sentinel = sentinel
        users = pd.read_csv(os.path.join(data_dir, "users_metadata.csv"), dtype=str).set_index("userId")
        apps = pd.read_csv(os.path.join(data_dir, "apps_metadata.csv"), dtype=str).set_index("appId")
        u = users.join(users.add_prefix("m_"), on="managerId")
        seniority = pd.to_numeric(u["seniority"], errors="coerce")
        self.users = pd.DataFrame(
            {
                "managerId": u["managerId"].fillna(sentinel),
                "department_filled": u["department"].fillna(u["m_department"]).fillna(sentinel),
                "office_filled": u["officeLocation"].fillna(u["m_officeLocation"]).fillna(sentinel),
                "manager_department": u["m_department"].fillna(sentinel),
                "manager_office": u["m_officeLocation"].fillna(sentinel),
                "isMachine": pd.to_numeric(u["isMachine"], errors="coerce"),
                "seniority": seniority,
                "manager_seniority_diff": seniority - pd.to_numeric(u["m_seniority"], errors="coerce"),
            },
            index=users.index,
        )
        self.app_category = apps["category"].fillna(sentinel)
        # Small requests (the service's single calls) go through dicts: pandas' per-call overhead dominates there.
        self.user_rows = self.users.to_dict("index")
        self.app_rows = self.app_category.to_dict()
        self.unknown_user = {c: (np.nan if c in NUMERIC else sentinel) for c in self.users.columns}

    def frame(self, user_ids: pd.Series, app_ids: pd.Series) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """The model inputs of (user_ids[i], app_ids[i]) in order, and the unknown-user / unknown-app flags."""
        if len(user_ids) <= SMALL_BATCH:
            rows, unknown_user, unknown_app = [], [], []
            for uid, aid in zip(user_ids.astype(str), app_ids.astype(str)):
                known = self.user_rows.get(uid)
                row = dict(known if known is not None else self.unknown_user)
                row["appId"] = aid
                row["category"] = self.app_rows.get(aid, self.sentinel)
                rows.append(row)
                unknown_user.append(known is None)
                unknown_app.append(aid not in self.app_rows)
            return pd.DataFrame(rows, columns=COLUMNS), np.array(unknown_user), np.array(unknown_app)
        user_ids = user_ids.astype(str).reset_index(drop=True)
        app_ids = app_ids.astype(str).reset_index(drop=True)
        f = self.users.reindex(user_ids.to_numpy()).reset_index(drop=True)
        unknown_user = ~user_ids.isin(self.users.index).to_numpy()
        unknown_app = ~app_ids.isin(self.app_category.index).to_numpy()
        for c in ("managerId", "department_filled", "office_filled", "manager_department", "manager_office"):
            f[c] = f[c].fillna(self.sentinel)
        f["appId"] = app_ids
        f["category"] = app_ids.map(self.app_category).fillna(self.sentinel)
        return f[COLUMNS], unknown_user, unknown_app


state: dict = {}


@asynccontextmanager
async def lifespan(_app: FastAPI):
    state["model"] = train_model(os.environ["BENCH_FEATURES"], os.environ.get("BENCH_PARAMS", "{}"), thread_count=1)
    state["features"] = SeedFeatures(os.environ["BENCH_DATA_DIR"], os.environ.get("BENCH_SENTINEL", "__UNKNOWN__"))
    yield
    state.clear()


app = FastAPI(lifespan=lifespan)


class PredictRequest(BaseModel):
    userId: str | int
    appId: str | int


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(requests: list[PredictRequest]):
    user_ids = pd.Series([str(r.userId) for r in requests], dtype=object)
    app_ids = pd.Series([str(r.appId) for r in requests], dtype=object)
    frame, _, _ = state["features"].frame(user_ids, app_ids)
    p = state["model"].predict_proba(Pool(frame, cat_features=CATEGORICAL))[:, 1]
    return [
        {"userId": u, "appId": a, "approval_probability": float(pi)} for u, a, pi in zip(user_ids, app_ids, p)
    ]
