#!/usr/bin/env python3
"""Write scikit-learn's bundled datasets as files grownet reads, into OUT (default
bench-runs/tabular/data):

- breast_cancer.csv (569 rows, 30 numeric features, target `diagnosis`: malignant / benign)
- wine.csv (178 rows, 13 features, target `cultivar`: class_0 / class_1 / class_2)
- diabetes.csv (442 rows, 10 features, target `progression`: a number, regression)
- digits/ (1797 8×8 grey images as PNG, one folder per digit: an image folder)
- NAME-train.csv and NAME-test.csv for each table: one stratified 80/20 split (random_state 0),
  the same for every seed and every method of bench/tabular/compare.sh

The data ship inside the scikit-learn wheel (sklearn/datasets/data/); nothing is downloaded.
Run it with a Python that has scikit-learn, e.g. a venv outside the repository:

    python3 -m venv /work/venv-sklearn && /work/venv-sklearn/bin/pip install scikit-learn
    /work/venv-sklearn/bin/python bench/tabular/prepare.py bench-runs/tabular/data
"""
import csv
import os
import struct
import sys
import zlib

from sklearn import datasets


def write_csv(path, names, target_name, x, y):
    """The table, and its 80/20 split as PATH-train.csv and PATH-test.csv."""
    from sklearn.model_selection import train_test_split

    def rows(f, xs, ys):
        w = csv.writer(f)
        w.writerow(list(names) + [target_name])
        for row, t in zip(xs, ys):
            w.writerow([repr(float(v)) for v in row] + [t])

    with open(path, "w", newline="") as f:
        rows(f, x, y)
    numeric = isinstance(y[0], str) and y[0].replace(".", "", 1).isdigit()
    stratify = None if numeric else y
    xa, xb, ya, yb = train_test_split(x, y, test_size=0.2, random_state=0, stratify=stratify)
    stem = path[:-len(".csv")]
    for suffix, xs, ys in (("-train.csv", xa, ya), ("-test.csv", xb, yb)):
        with open(stem + suffix, "w", newline="") as f:
            rows(f, xs, ys)


def png_grey(path, pixels, width, height):
    """A minimal 8-bit greyscale PNG (no dependency beyond zlib)."""
    raw = b"".join(b"\x00" + bytes(pixels[r * width:(r + 1) * width]) for r in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench-runs/tabular/data"
    os.makedirs(out, exist_ok=True)
    bc = datasets.load_breast_cancer()
    write_csv(os.path.join(out, "breast_cancer.csv"), bc.feature_names, "diagnosis", bc.data,
              [bc.target_names[t] for t in bc.target])
    wine = datasets.load_wine()
    write_csv(os.path.join(out, "wine.csv"), wine.feature_names, "cultivar", wine.data,
              [wine.target_names[t] for t in wine.target])
    diab = datasets.load_diabetes(scaled=False)
    write_csv(os.path.join(out, "diabetes.csv"), diab.feature_names, "progression", diab.data,
              [repr(float(t)) for t in diab.target])
    digits = datasets.load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(out, "digits", str(label))
        os.makedirs(folder, exist_ok=True)
        pixels = [int(round(v * 255 / 16)) for v in image.flatten()]
        png_grey(os.path.join(folder, f"{i:04d}.png"), pixels, 8, 8)
    print(f"wrote breast_cancer.csv, wine.csv, diabetes.csv and digits/ in {out}")


if __name__ == "__main__":
    main()
