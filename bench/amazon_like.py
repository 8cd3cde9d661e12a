"""Amazon-Employee-Access-shaped synthetic data (train.csv 32,769 rows + a test file from the same process).

  bench/.venv/bin/python bench/amazon_like.py OUT_DIR [--seed 1] [--train 32769] [--test 10000]
  -> OUT_DIR/train.csv, OUT_DIR/test.csv: ACTION,RESOURCE,MGR_ID,ROLE_ROLLUP_1,ROLE_ROLLUP_2,ROLE_DEPTNAME,
     ROLE_TITLE,ROLE_FAMILY_DESC,ROLE_FAMILY,ROLE_CODE (integer ids, as Kaggle's file)

Generating process (everything from numpy default_rng(seed); deterministic):
- Hierarchies, fixed once: ROLE_ROLLUP_2 -> parent ROLE_ROLLUP_1, ROLE_DEPTNAME -> parent ROLE_ROLLUP_2;
  ROLE_FAMILY_DESC -> parent ROLE_FAMILY; ROLE_CODE -> parent ROLE_FAMILY; ROLE_TITLE = a bijection of ROLE_CODE.
  Each manager has a home department (-> rollups) and a main role family.
- A row (one access request): manager ~ Zipf(1.1) over the pool; department = the manager's home one (85%) or a
  Zipf draw; family = the manager's (70%) or Zipf; family desc / role code = Zipf among that family's children;
  resource = Zipf(1.05) over all resources (55%) or over the family's own 40-resource list (45%).
- Pools are larger than the target cardinalities so Zipf tails give ~RESOURCE 7.5k, MGR_ID 4.2k, ... distinct values.
- Label: logit = b + 1.0 a_res + 0.8 a_mgr + 0.5 a_dept + 0.4 a_fam + 0.3 a_desc
         + 1.6 i(resource, family) + 1.2 i(resource, rollup_2) + 1.0 i(manager, resource-cluster)
  with every a, i iid N(0,1) per value / pair (resource-cluster = resource mod 50); b is set by bisection so that
  E[ACTION] = 0.942. ACTION ~ Bernoulli(sigmoid(logit)). Train = the first --train rows, test = the next --test.
"""
import argparse
import os

import numpy as np
import pandas as pd

POOLS = dict(res=48000, mgr=8700, r1=215, r2=195, dept=455, fam=67, desc=3000, code=345)


def zipf_pick(rng, n_pool, size, a):
    w = 1.0 / np.arange(1, n_pool + 1) ** a
    perm = rng.permutation(n_pool)  # popularity order independent of id
    return perm[rng.choice(n_pool, size=size, p=w / w.sum())]


def children_pick(rng, parent_of, parents, a):
    """For each row's parent, a Zipf-ranked child of that parent."""
    out = np.empty(len(parents), dtype=np.int64)
    kids = {p: np.flatnonzero(parent_of == p) for p in np.unique(parents)}
    for p, rows in pd.Series(np.arange(len(parents))).groupby(parents).groups.items():
        k = kids[p]
        if len(k) == 0:
            k = np.array([rng.integers(len(parent_of))])
        w = 1.0 / np.arange(1, len(k) + 1) ** a
        out[np.asarray(rows)] = k[rng.choice(len(k), size=len(rows), p=w / w.sum())]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train", type=int, default=32769)
    ap.add_argument("--test", type=int, default=10000)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    P = POOLS
    n = a.train + a.test
    r2_parent = rng.integers(P["r1"], size=P["r2"])
    dept_parent = rng.integers(P["r2"], size=P["dept"])
    desc_parent = rng.integers(P["fam"], size=P["desc"])
    code_parent = rng.integers(P["fam"], size=P["code"])
    title_of_code = rng.permutation(P["code"])
    mgr_dept = zipf_pick(rng, P["dept"], P["mgr"], 0.8)
    mgr_fam = zipf_pick(rng, P["fam"], P["mgr"], 1.0)
    fam_res = rng.integers(P["res"], size=(P["fam"], 40))

    mgr = zipf_pick(rng, P["mgr"], n, 1.1)
    dept = np.where(rng.random(n) < 0.85, mgr_dept[mgr], zipf_pick(rng, P["dept"], n, 0.8))
    r2 = dept_parent[dept]
    r1 = r2_parent[r2]
    fam = np.where(rng.random(n) < 0.7, mgr_fam[mgr], zipf_pick(rng, P["fam"], n, 1.0))
    desc = children_pick(rng, desc_parent, fam, 1.0)
    code = children_pick(rng, code_parent, fam, 1.0)
    res = np.where(
        rng.random(n) < 0.55, zipf_pick(rng, P["res"], n, 1.05), fam_res[fam, rng.integers(40, size=n)]
    )

    def eff(size):
        return rng.standard_normal(size)

    lat = (
        1.0 * eff(P["res"])[res] + 0.8 * eff(P["mgr"])[mgr] + 0.5 * eff(P["dept"])[dept]
        + 0.4 * eff(P["fam"])[fam] + 0.3 * eff(P["desc"])[desc]
        + 1.6 * eff((P["res"], P["fam"]))[res, fam] + 1.2 * eff((P["res"], P["r2"]))[res, r2]
        + 1.0 * eff((P["mgr"], 50))[mgr, res % 50]
    )
    lo, hi = -20.0, 20.0
    for _ in range(60):
        b = (lo + hi) / 2
        if (1 / (1 + np.exp(-(b + lat)))).mean() < 0.942:
            lo = b
        else:
            hi = b
    y = (rng.random(n) < 1 / (1 + np.exp(-(b + lat)))).astype(int)
    # integer ids in disjoint-looking ranges, as in Kaggle's file
    df = pd.DataFrame(dict(
        ACTION=y, RESOURCE=res + 100, MGR_ID=mgr + 10, ROLE_ROLLUP_1=r1 + 117000, ROLE_ROLLUP_2=r2 + 118000,
        ROLE_DEPTNAME=dept + 119000, ROLE_TITLE=title_of_code[code] + 120000, ROLE_FAMILY_DESC=desc + 121000,
        ROLE_FAMILY=fam + 126000, ROLE_CODE=code + 130000,
    ))
    os.makedirs(a.out, exist_ok=True)
    df.iloc[: a.train].to_csv(os.path.join(a.out, "train.csv"), index=False)
    df.iloc[a.train:].to_csv(os.path.join(a.out, "test.csv"), index=False)
    tr = df.iloc[: a.train]
    print(f"b={b:.3f} train rows={len(tr)} ACTION mean={tr.ACTION.mean():.4f} test mean={df.iloc[a.train:].ACTION.mean():.4f}")
    print("distinct:", {c: int(tr[c].nunique()) for c in df.columns[1:]})


if __name__ == "__main__":
    main()
