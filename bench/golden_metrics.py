"""Golden values for lib/metrics.ts and lib/evaluation, computed by scikit-learn
(run: bench/.venv/bin/python bench/golden_metrics.py).

Writes tests/golden/metrics.json: several score vectors (with heavy ties, near-perfect and random
cases) and what sklearn reports for them; tests/metrics.test.ts must match to 1e-9.
Writes tests/golden/evaluation.json: for the same vectors, sklearn's roc_curve (drop_intermediate=False),
precision_recall_curve, calibration_curve (uniform and quantile bins), IsotonicRegression as
CalibratedClassifierCV uses it, and Platt scaling (sklearn's _sigmoid_calibration plus the exact optimum
by Newton's method on the same objective); tests/evaluation.test.ts checks them.
"""
import json
import pathlib

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.calibration import _sigmoid_calibration, calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


def brute_force_best(y, p, kind):
    """Best threshold among observed scores by exhaustive search (independent of our sweep)."""
    def value(pred):
        return accuracy_score(y, pred) if kind == "accuracy" else f1_score(y, pred, zero_division=0)

    # Candidates: approve nobody (a threshold above every score), then each observed score, highest first.
    best_t, best_v = 1 + 1e-9, value(np.zeros_like(y))
    for t in sorted(set(p.tolist()), reverse=True):
        v = value((p >= t).astype(int))
        if v > best_v + 1e-15:
            best_t, best_v = t, v
    return best_t, best_v


def case(name, y, p, threshold=0.5):
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    t_acc, v_acc = brute_force_best(y, p, "accuracy")
    t_f1, v_f1 = brute_force_best(y, p, "f1")
    return {
        "name": name,
        "labels": y.tolist(),
        "scores": p.tolist(),
        "threshold": threshold,
        "roc_auc": roc_auc_score(y, p),
        "average_precision": average_precision_score(y, p),
        "log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)),
        "brier": brier_score_loss(y, p),
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred, zero_division=0),
        "f1": f1_score(y, pred, zero_division=0),
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
        "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)},
        "max_accuracy": {"threshold": t_acc, "accuracy": v_acc},
        "max_f1": {"threshold": t_f1, "f1": v_f1},
    }


rng = np.random.default_rng(20261122)
cases = []
y = rng.integers(0, 2, 400)
cases.append(case("informative", y, np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.001, 0.999)))
y = rng.integers(0, 2, 300)
cases.append(case("heavy_ties", y, np.round(np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, 300), 0, 1), 1), 0.6))
y = rng.integers(0, 2, 200)
cases.append(case("random", y, rng.random(200), 0.3))
y = np.array([0, 0, 1, 1, 0, 1, 1, 1, 0, 1])
cases.append(case("small_hand", y, [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.65, 0.4, 0.2, 0.55]))
cases.append(case("imbalanced", (rng.random(250) < 0.1).astype(int), rng.beta(2, 5, 250), 0.25))

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden" / "metrics.json"
out.write_text(json.dumps({"generator": "bench/golden_metrics.py", "cases": cases}, indent=1) + "\n")
print(f"wrote {out} ({len(cases)} cases)")


def finite(values):
    """JSON has no infinity: +inf thresholds are written as null."""
    return [None if np.isinf(v) else float(v) for v in values]


def platt_exact(f, y):
    """The optimum of sklearn's Platt objective (smoothed targets) to machine precision, by Newton-CG."""
    prior1 = float(np.sum(y > 0))
    prior0 = len(y) - prior1
    t = np.where(y > 0, (prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0))

    def fun(ab):
        z = -(ab[0] * f + ab[1])
        return np.sum(np.logaddexp(0, z) - t * z)

    def jac(ab):
        z = -(ab[0] * f + ab[1])
        d = expit(z) - t
        return np.array([-(d @ f), -d.sum()])

    def hess(ab):
        z = -(ab[0] * f + ab[1])
        w = expit(z) * (1 - expit(z))
        return np.array([[w @ (f * f), w @ f], [w @ f, w.sum()]])

    res = minimize(fun, np.array([0.0, np.log((prior0 + 1) / (prior1 + 1))]), jac=jac, hess=hess,
                   method="trust-exact", options={"gtol": 1e-13})
    return res.x


def evaluation_case(c):
    y = np.asarray(c["labels"], dtype=int)
    p = np.asarray(c["scores"], dtype=float)
    fpr, tpr, roc_t = roc_curve(y, p, drop_intermediate=False)
    prec, rec, pr_t = precision_recall_curve(y, p)
    uni_true, uni_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    q_true, q_pred = calibration_curve(y, p, n_bins=5, strategy="quantile")
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, y)
    grid = np.linspace(-0.1, 1.1, 61)
    f = logit(np.clip(p, 1e-15, 1 - 1e-15))
    a_sk, b_sk = _sigmoid_calibration(f, y)
    a, b = platt_exact(f, y)
    return {
        "name": c["name"],
        "labels": c["labels"],
        "scores": c["scores"],
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": finite(roc_t)},
        "pr": {"precision": prec.tolist(), "recall": rec.tolist(), "thresholds": pr_t.tolist()},
        "calibration_uniform_10": {"prob_true": uni_true.tolist(), "prob_pred": uni_pred.tolist()},
        "calibration_quantile_5": {"prob_true": q_true.tolist(), "prob_pred": q_pred.tolist()},
        "isotonic": {"grid": grid.tolist(), "predict_grid": iso.predict(grid).tolist(),
                     "predict_train": iso.predict(p).tolist()},
        "platt": {"a": float(a), "b": float(b), "sklearn_a": float(a_sk), "sklearn_b": float(b_sk),
                  "predict_train": expit(-(a * f + b)).tolist()},
    }


eval_out = out.parent / "evaluation.json"
eval_out.write_text(json.dumps({"generator": "bench/golden_metrics.py",
                                "cases": [evaluation_case(c) for c in cases]}, indent=1) + "\n")
print(f"wrote {eval_out} ({len(cases)} cases)")
