#!/usr/bin/env python3
"""scikit-learn's MLPClassifier (32+32, standardised inputs, Adam) and
HistGradientBoostingClassifier on the train/test files of bench/tabular/prepare.py, seeds 0,
1, 2 (random_state). Prints CSV: dataset,method,seed,test_accuracy,wall_seconds.

    /work/venv-sklearn/bin/python bench/tabular/sklearn_baselines.py DATA_DIR breast_cancer:diagnosis wine:cultivar
"""
import csv
import sys
import time
import warnings

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def read(path, target):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    t = header.index(target)
    x = np.array([[float(v) for i, v in enumerate(r) if i != t] for r in rows])
    y = np.array([r[t] for r in rows])
    return x, y


def main():
    data, specs = sys.argv[1], sys.argv[2:]
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("dataset,method,seed,test_accuracy,wall_seconds")
    for spec in specs:
        name, target = spec.split(":")
        xa, ya = read(f"{data}/{name}-train.csv", target)
        xb, yb = read(f"{data}/{name}-test.csv", target)
        for seed in (0, 1, 2):
            models = {
                "sklearn-mlp-32x32": make_pipeline(
                    StandardScaler(),
                    MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=500, random_state=seed)),
                "sklearn-hist-gradient-boosting": HistGradientBoostingClassifier(random_state=seed),
            }
            for method, model in models.items():
                start = time.time()
                model.fit(xa, ya)
                acc = float((model.predict(xb) == yb).mean())
                print(f"{name},{method},{seed},{acc:.6f},{time.time() - start:.3f}", flush=True)


if __name__ == "__main__":
    main()
