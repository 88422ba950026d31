#!/usr/bin/env python3
"""Converts scikit-learn's copy of the Wisconsin breast-cancer table to a CSV
that fedlearn's LoadCsvDataset reads directly.

scikit-learn ships the data (sklearn/datasets/data/breast_cancer.csv, e.g. in
Debian's python3-sklearn) without feature names: its first line is a summary
"569,30,malignant,benign" (rows, features, then the names of targets 0 and 1),
followed by rows of 30 features and a 0/1 target. This writes a header of the
feature names (scikit-learn's, with '_' for spaces) plus a `diagnosis` column
holding the target's name, so the file is self-describing.

Usage: convert_sklearn_breast_cancer.py SKLEARN_CSV OUTPUT_CSV
"""
import csv
import sys

MEASUREMENTS = [
    "radius", "texture", "perimeter", "area", "smoothness", "compactness",
    "concavity", "concave_points", "symmetry", "fractal_dimension",
]
# Same order as sklearn.datasets.load_breast_cancer().feature_names.
FEATURE_NAMES = ([f"mean_{m}" for m in MEASUREMENTS] +
                 [f"{m}_error" for m in MEASUREMENTS] +
                 [f"worst_{m}" for m in MEASUREMENTS])


def main(source, destination):
    with open(source, newline="") as f:
        rows = list(csv.reader(f))
    num_rows, num_features, *target_names = rows[0]
    data = rows[1:]
    if int(num_features) != len(FEATURE_NAMES) or int(num_rows) != len(data):
        sys.exit(f"{source}: summary row {rows[0]} does not match the data")
    with open(destination, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(FEATURE_NAMES + ["diagnosis"])
        for row in data:
            if len(row) != len(FEATURE_NAMES) + 1:
                sys.exit(f"{source}: row with {len(row)} fields")
            out.writerow(row[:-1] + [target_names[int(row[-1])]])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
