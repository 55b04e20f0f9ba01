#!/usr/bin/env python3
"""Reference fixtures for mmpipe's logistic-regression head (Models/Heads): scikit-learn's
LogisticRegression (lbfgs, multinomial, L2) on StandardScaler'd features, on real labelled data:
the handwritten digits bundled with scikit-learn (`sklearn.datasets.load_digits`, 1797 8x8
images of 10 digits; from the UCI ML hand-written digits dataset, E. Alpaydin and C. Kaynak,
CC BY 4.0).

Writes Tests/ModelsTests/Fixtures/head/: digits-x.npy (uint8 pixels 0-16, [1797, 64]),
digits-y.npy (uint8 labels), and for each case CASE-proba.npy (float64, the test rows'
probabilities) and cases.json (split, C, class weights, sklearn's accuracy and iterations; the
mean accuracy of each C under stratified 5-fold cross-validation and the C chosen; test folds of
StratifiedKFold for three label vectors).
Run once (needs scikit-learn==1.5.2, numpy): python3 scripts/gen-head-fixtures.py"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

out = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "ModelsTests" / "Fixtures" / "head"
out.mkdir(parents=True, exist_ok=True)
d = load_digits()
x = d.data.astype(np.uint8)
y = d.target.astype(np.uint8)
np.save(out / "digits-x.npy", x)
np.save(out / "digits-y.npy", y)

n_train = 1200
cases = []
for name, c, weight, keep in [
    ("c1", 1.0, None, None),
    # Imbalanced: classes 0-4 keep a fifth of their training rows; balanced class weights.
    ("c01-balanced", 0.1, "balanced", lambda i: y[i] >= 5 or i % 5 == 0),
]:
    train = [i for i in range(n_train) if keep is None or keep(i)]
    test = list(range(n_train, len(y)))
    scaler = StandardScaler().fit(x[train].astype(np.float64))
    lr = LogisticRegression(C=c, class_weight=weight, solver="lbfgs", max_iter=10000, tol=1e-12)
    lr.fit(scaler.transform(x[train].astype(np.float64)), y[train])
    proba = lr.predict_proba(scaler.transform(x[test].astype(np.float64)))
    np.save(out / f"{name}-proba.npy", proba)
    acc = float((proba.argmax(1) == y[test]).mean())
    cases.append({"name": name, "train": train, "test_start": n_train, "C": c, "class_weight": weight,
                  "sklearn_accuracy": acc, "sklearn_iterations": int(lr.n_iter_[0])})
    print(f"{name}: {len(train)} train rows, accuracy {acc:.4f}, {lr.n_iter_[0]} iterations")

# Choosing C by stratified 5-fold cross-validation (mmpipe train --cv 5): GridSearchCV over
# LogisticRegressionCV's default grid, each fit to convergence (tol 1e-8), on the first 1200 rows; and StratifiedKFold's folds for
# label orders other than 0..9 (classes ranked by first appearance, imbalanced classes).
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

grid = np.logspace(-4, 4, 10)
search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=100000, tol=1e-8)),
                      {"logisticregression__C": grid}, cv=StratifiedKFold(5))
search.fit(x[:n_train].astype(np.float64), y[:n_train])
cv = {"rows": n_train, "folds": 5, "grid": grid.tolist(),
      "mean_accuracy": search.cv_results_["mean_test_score"].tolist(),
      "best_C": float(search.best_params_["logisticregression__C"])}
print(f"cv: best C {cv['best_C']:.4g}, mean accuracy {max(cv['mean_accuracy']):.4f}")
rng = np.random.default_rng(0)
fold_cases = []
for labels, k in [(y[:n_train], 5), (y[rng.permutation(n_train)[:200]], 3),
                  (np.array([3] * 7 + [1] * 12 + [2] * 4 + [1, 3, 2] * 5), 4)]:
    test_fold = np.empty(len(labels), dtype=int)
    for f, (_, test) in enumerate(StratifiedKFold(k).split(np.zeros(len(labels)), labels)):
        test_fold[test] = f
    fold_cases.append({"labels": labels.astype(int).tolist(), "folds": k, "test_fold": test_fold.tolist()})
(out / "cases.json").write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases, "cv": cv,
                                            "stratified_folds": fold_cases}) + "\n")
