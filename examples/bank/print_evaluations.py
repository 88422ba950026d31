#!/usr/bin/python3
"""Prints the federated evaluations of a run, one line each.

    python3 examples/bank/print_evaluations.py STATE_DIR

reads STATE_DIR/metrics.jsonl (the evaluations piggybacked on training
rounds: "federated_eval") and STATE_DIR/evaluation.jsonl (evaluation-only
rounds, e.g. the final model), and prints, per evaluated model version:
the banks, held-out examples, the fraud base rate among them, PR-AUC,
ROC-AUC, recall and precision at P(fraud) >= 0.5, example-weighted and
worst-bank accuracy, and the largest accuracy / true-positive-rate gap
between customer age bands. Exits 1 if no evaluation is recorded.
Standard library only.
"""

import json
import os
import sys


def evaluations(state_dir):
    out = []
    for name in ("metrics.jsonl", "evaluation.jsonl"):
        path = os.path.join(state_dir, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                ev = record.get("federated_eval")
                if isinstance(ev, dict):
                    version = ev.get("model_version",
                                     record.get("model_version", "?"))
                    out.append((version, record.get("round"),
                                record.get("kind", "train"), ev))
    return out


def fmt(value, pattern="{:.3f}"):
    return "n/a" if value is None else pattern.format(value)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = evaluations(sys.argv[1])
    if not rows:
        print("no federated evaluation recorded in " + sys.argv[1])
        sys.exit(1)
    print("model  round  kind        banks  examples  fraud%  pr-auc  roc-auc"
          "  recall  precision  accuracy  worst-bank  age-gap(acc/tpr)")
    for version, round_, kind, ev in rows:
        b = ev.get("binary") or {}
        examples = ev.get("examples") or 0
        positives = (b.get("tp") or 0) + (b.get("fn") or 0)
        base = 100.0 * positives / examples if examples else None
        spread = ev.get("accuracy_spread") or {}
        print(f"{version:>5}  {round_:>5}  {kind:<10}"
              f"  {ev.get('sites', 0):>5}  {examples:>8}  {fmt(base, '{:.2f}'):>6}"
              f"  {fmt(b.get('pr_auc')):>6}  {fmt(b.get('roc_auc')):>7}"
              f"  {fmt(b.get('recall')):>6}  {fmt(b.get('precision')):>9}"
              f"  {fmt(ev.get('accuracy')):>8}  {fmt(spread.get('min')):>10}"
              f"  {fmt(ev.get('accuracy_gap'))}/"
              f"{fmt(ev.get('equal_opportunity_difference'))}")


if __name__ == "__main__":
    main()
