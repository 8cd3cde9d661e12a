"""Golden values for lib/monitor/stats.ts, computed by scipy/numpy.

Run: bench/.venv/bin/python bench/golden_drift.py && npx prettier --write tests/golden/drift.json

Writes tests/golden/drift.json; tests/drift.test.ts must match to 1e-9 (absolute, and relative for tiny p-values).
Covered: ks_2samp (exact and asymptotic, ties, small/large/unbalanced samples, tiny p-values), the
Kolmogorov limit (kstwobign.sf), wasserstein_distance (+ Evidently's normalization by the reference std),
chisquare (Evidently's two-sample form: expected = reference counts x n_cur/n_ref), the two-proportion
Z-test (2 * norm.sf), jensenshannon (base 2 and e), gammaincc, and PSI with Evidently's binning
(numpy 'sturges' edges over both samples, value counts for few-valued columns, reference quantiles) and
Evidently's empty-bin epsilon. PSI is written here from its definition on numpy primitives (Evidently is
not a dependency).
"""
import json
import math
import pathlib

import numpy as np
from scipy import special, stats
from scipy.spatial import distance

rng = np.random.default_rng(20260611)


def r6(x):
    """Inputs are rounded to 6 decimals before anything is computed, which keeps the JSON small."""
    return np.round(np.asarray(x, dtype=float), 6)


def ks_case(name, a, b, method="auto"):
    a = r6(a)
    b = r6(b)
    r = stats.ks_2samp(a, b, method=method)
    n1, n2 = len(a), len(b)
    en = n1 * n2 / (n1 + n2)
    return {
        "name": name,
        "reference": a.tolist(),
        "current": b.tolist(),
        "method": method,
        "statistic": float(r.statistic),
        "p_value": float(r.pvalue),
        # The Kolmogorov limit at sqrt(en) * D: what our 'asymp' computes.
        "p_limit": float(stats.kstwobign.sf(math.sqrt(en) * float(r.statistic))),
    }


ks = [
    ks_case("small_continuous_8_11", rng.normal(0, 1, 8), rng.normal(0.8, 1, 11)),
    ks_case("equal_n_50_shift", rng.normal(0, 1, 50), rng.normal(0.5, 1, 50)),
    ks_case("ties_integers_40_60", rng.integers(0, 6, 40), rng.integers(1, 7, 60)),
    ks_case("medium_300_500", rng.normal(0, 1, 300), rng.normal(0.15, 1.1, 500)),
    ks_case("tiny_p_200_250", rng.normal(0, 1, 200), rng.normal(2.5, 1, 250)),
    ks_case("null_1000_1000", rng.normal(0, 1, 1000), rng.normal(0, 1, 1000)),
    ks_case("unbalanced_7_1000", rng.normal(0, 1, 7), rng.normal(0.3, 1, 1000)),
    ks_case("ties_across_samples_120_90", np.round(rng.normal(0, 1, 120), 1), np.round(rng.normal(0.2, 1, 90), 1)),
    ks_case("coprime_997_1009", rng.exponential(1, 997), rng.exponential(1.15, 1009)),
    ks_case("asymp_12000_15000_ties", rng.integers(0, 1000, 12000), rng.integers(0, 1000, 15000) + (rng.random(15000) < 0.04) * 7),
]

wasserstein = []
for name, a, b in [
    ("continuous_100_150", rng.normal(0, 1, 100), rng.normal(0.3, 1.2, 150)),
    ("ties_integers", rng.integers(1, 11, 500).astype(float), rng.integers(2, 11, 400).astype(float)),
    ("single_values", np.array([3.0]), np.array([1.0, 2.0, 7.5])),
    ("constant_reference", np.full(50, 2.0), rng.normal(2, 0.01, 60)),
    ("skewed_2000_3000", rng.lognormal(0, 1, 2000), rng.lognormal(0.1, 1, 3000)),
]:
    a, b = r6(a), r6(b)
    w = float(stats.wasserstein_distance(a, b))
    wasserstein.append(
        {
            "name": name,
            "reference": a.tolist(),
            "current": b.tolist(),
            "distance": w,
            "normed": w / max(float(np.std(a)), 0.001),
        }
    )

chisquare = []
for name, ref, cur in [
    ("three_categories", [30, 50, 20], [40, 45, 35]),
    ("df1", [600, 400], [280, 320]),
    ("many_categories_df40", rng.integers(5, 60, 41).tolist(), rng.integers(5, 60, 41).tolist()),
    ("large_df300", rng.integers(20, 80, 301).tolist(), rng.integers(20, 80, 301).tolist()),
    ("huge_statistic", [500, 500, 1], [10, 10, 800]),
    ("identical_shares", [10, 20, 30], [20, 40, 60]),
]:
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    exp = ref * (cur.sum() / ref.sum())
    r = stats.chisquare(cur, exp)
    chisquare.append(
        {"name": name, "reference": ref.tolist(), "current": cur.tolist(), "statistic": float(r.statistic), "p_value": float(r.pvalue)}
    )

def pool_sparse(ref, cur, min_expected=5.0):
    """Categories with expected count < min_expected in either row go to one bin (joining the smallest other if still small)."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    n_ref, n_cur = ref.sum(), cur.sum()
    small = min(n_ref, n_cur) * (ref + cur) / (n_ref + n_cur) < min_expected
    r, c = list(ref[~small]), list(cur[~small])
    if small.any():
        pr, pc = ref[small].sum(), cur[small].sum()
        if min(n_ref, n_cur) * (pr + pc) / (n_ref + n_cur) < min_expected and r:
            j = int(np.argmin(np.array(r) + np.array(c)))
            r[j] += pr
            c[j] += pc
        else:
            r.append(pr)
            c.append(pc)
    return r, c


homogeneity = []
for name, ref, cur, pool in [
    ("table_3x2", [30, 50, 20], [40, 45, 35], False),
    ("category_only_in_current", [300, 200, 0], [280, 190, 30], False),
    ("df1", [600, 400], [280, 320], False),
    ("sparse_pooled", [400, 300, 3, 2, 1, 0, 90], [380, 310, 0, 4, 2, 6, 70], True),
    ("high_cardinality_pooled", rng.integers(0, 12, 200).tolist(), rng.integers(0, 12, 200).tolist(), True),
]:
    r, c = pool_sparse(ref, cur) if pool else (ref, cur)
    res = stats.chi2_contingency(np.array([r, c], dtype=float), correction=False)
    homogeneity.append(
        {"name": name, "reference": list(map(float, ref)), "current": list(map(float, cur)), "pooled": pool, "statistic": float(res.statistic), "p_value": float(res.pvalue), "df": int(res.dof)}
    )

ztest = []
for name, s1, n1, s2, n2 in [
    ("approval_rates", 510, 1000, 455, 1000),
    ("small", 3, 10, 7, 12),
    ("far_tail", 900, 1000, 100, 1000),
    ("equal", 50, 100, 100, 200),
]:
    p1, p2 = s1 / n1, s2 / n2
    pooled = (s1 + s2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    ztest.append({"name": name, "s1": s1, "n1": n1, "s2": s2, "n2": n2, "z": z, "p_value": float(2 * stats.norm.sf(abs(z)))})

js = []
for name, p, q, base in [
    ("shares_base2", [0.1, 0.4, 0.5], [0.2, 0.3, 0.5], 2),
    ("counts_with_zeros_base2", [10, 0, 30, 5], [0, 12, 25, 9], 2),
    ("disjoint_base2", [1, 0], [0, 1], 2),
    ("many_bins_base_e", rng.integers(0, 50, 60).tolist(), rng.integers(0, 50, 60).tolist(), math.e),
]:
    js.append({"name": name, "p": list(map(float, p)), "q": list(map(float, q)), "base": base, "distance": float(distance.jensenshannon(p, q, base))})


def fill_zeros(x):
    x = x.copy()
    nz = x[x != 0]
    m = nz.min()
    x[x == 0] = m / 1e6 if m <= 1e-4 else 1e-4
    return x


def psi_from(ref_perc, cur_perc):
    r, c = fill_zeros(ref_perc), fill_zeros(cur_perc)
    return float(np.sum((r - c) * np.log(r / c)))


def psi_case(name, ref, cur, kind, binning="sturges", bins=10):
    ref = r6(ref) if kind == "numeric" else np.asarray(ref)
    cur = r6(cur) if kind == "numeric" else np.asarray(cur)
    if kind == "numeric" and len(np.unique(ref)) > 20:
        if binning == "sturges":
            edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        else:
            q = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
            q[0] = min(q[0], cur.min())
            q[-1] = max(q[-1], cur.max())
            edges = q
        rp = np.histogram(ref, edges)[0] / len(ref)
        cp = np.histogram(cur, edges)[0] / len(cur)
    else:
        keys = sorted(set(ref.tolist()) | set(cur.tolist()))
        rp = np.array([np.sum(ref == k) for k in keys]) / len(ref)
        cp = np.array([np.sum(cur == k) for k in keys]) / len(cur)
    return {
        "name": name,
        "kind": kind,
        "binning": binning,
        "bins": bins,
        "reference": ref.tolist(),
        "current": cur.tolist(),
        "psi": psi_from(rp.astype(float), cp.astype(float)),
    }


cats = np.array(["a", "b", "c", "d", "e"])
psi = [
    psi_case("numeric_sturges_continuous", rng.normal(0, 1, 800), rng.normal(0.3, 1.1, 600), "numeric"),
    psi_case("numeric_sturges_integers_ties", rng.integers(0, 40, 700), rng.integers(3, 45, 500), "numeric"),
    psi_case("numeric_sturges_empty_bins", np.concatenate([rng.normal(0, 1, 300), rng.normal(8, 0.2, 5)]), rng.normal(0.2, 1, 400), "numeric"),
    psi_case("numeric_few_values", rng.integers(1, 11, 1000), rng.integers(1, 13, 800), "numeric"),
    psi_case("numeric_quantile_bins", rng.normal(0, 1, 1000), rng.normal(0.25, 1, 700), "numeric", "quantile", 10),
    psi_case("categorical_new_and_missing", rng.choice(cats[:4], 500, p=[0.4, 0.3, 0.2, 0.1]), rng.choice(cats[1:], 400, p=[0.3, 0.3, 0.2, 0.2]), "categorical"),
    psi_case("categorical_tiny_share_fill", np.array(["x"] * 12000 + ["y"]), np.array(["x"] * 50 + ["z"] * 50), "categorical"),
]

gamma = [
    {"a": a, "x": x, "q": float(special.gammaincc(a, x))}
    for a, x in [(0.5, 0.1), (0.5, 12.5), (1, 3), (2.5, 1.2), (20, 35), (150, 120), (150, 400), (0.5, 300), (1000, 1100)]
]
kolmogorov = [{"x": x, "sf": float(stats.kstwobign.sf(x))} for x in [0.2, 0.5, 0.8, 0.99, 1.0, 1.36, 1.8, 3.0, 6.0]]

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden" / "drift.json"
doc = {
    "generator": "bench/golden_drift.py",
    "scipy": __import__("scipy").__version__,
    "numpy": np.__version__,
    "ks": ks,
    "wasserstein": wasserstein,
    "chisquare": chisquare,
    "homogeneity": homogeneity,
    "ztest": ztest,
    "jensenshannon": js,
    "psi": psi,
    "gammaincc": gamma,
    "kstwobign": kolmogorov,
}
def compact(values):
    """Large tie-heavy samples are stored as [value, count] runs (tests expand them) to keep the JSON small."""
    v, c = np.unique(np.asarray(values), return_counts=True)
    return {"runs": [[x, int(k)] for x, k in zip(v.tolist(), c.tolist())]}


for group in (ks, psi):
    for case in group:
        for side in ("reference", "current"):
            if len(case[side]) > 5000:
                case[side] = compact(case[side])

out.write_text(json.dumps(doc, indent=1) + "\n")
print(f"wrote {out}: " + ", ".join(f"{k}={len(v)}" for k, v in doc.items() if isinstance(v, list)))
for c in ks:
    print(f"  ks {c['name']}: D={c['statistic']:.6g} p={c['p_value']:.6g} limit={c['p_limit']:.6g}")
