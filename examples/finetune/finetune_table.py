#!/usr/bin/python3
"""Federates the fine-tuning runs of examples/finetune/run_finetune.sh and
prints their Markdown table.

  finetune_table.py BUILD_DIR WORK_DIR [--quick]

WORK_DIR holds what pretrain.py wrote (pretrained.safetensors,
finetune-data/, pretrain.json). First a check run: fedlearn-sim evaluates
the pre-trained file (learning rate 1e-9, one round, plaintext) on the
whole Fashion-MNIST test set; its test loss and accuracy must equal what
PyTorch computed for the same file (pretrain.json), so the C++ side loads
the tensors into the right places. Then one fedlearn-sim run per row, each
with secure aggregation, the same sites, data, rounds and training
hyper-parameters; only [model] differs. Last (not with --quick),
fedlearn-merge-lora folds the LoRA run's adapters into the base and a
second check run evaluates the merged plain LeNet-5: it must score what
the LoRA run's final model did. Writes WORK_DIR/<row>.toml, WORK_DIR/<row>/
(the run's state), WORK_DIR/lora-merged.fmodel, WORK_DIR/results.json and
WORK_DIR/table.md, and prints the table.

Columns: test accuracy after the last round on the server-side test set
(the 5,000 test images of classes 5-9); the trainable parameters (the
run's flat vector, as fedlearn-sim prints it); the bytes each client sent
per round, from the coordinator's Prometheus counter
fedlearn_rpc_received_bytes_total{rpc="PushResult"} (the masked update
upload) divided by clients x rounds, and the same over every RPC (with the
secure-aggregation key exchange); the mean round time from metrics.jsonl.
Standard library only (no torch needed).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

ROWS = [
    # name, label in the table, [model] lines beyond architecture
    ("scratch", "from scratch (no pre-training)", []),
    ("full", "full fine-tuning", ["initial_weights = {w}"]),
    ("fc3", "last layer only (fc3)",
     ["initial_weights = {w}", 'trainable = ["fc3.*"]']),
    ("fc2-fc3", "last two layers (fc2, fc3)",
     ["initial_weights = {w}", 'trainable = ["fc2.*", "fc3.*"]']),
    ("lora", "LoRA r=4 on fc1, fc2 + head fc3",
     ["initial_weights = {w}", "lora_rank = 4", "lora_alpha = 8.0",
      'lora_targets = ["fc1", "fc2"]', 'trainable = ["fc3.*"]']),
]

# The transformer rows (not with --quick): make_row_transformer.py's
# TorchScript module, pre-trained on the same classes 0-4.
TRANSFORMER_ROWS = [
    ("tx-full", "transformer: full fine-tuning",
     ['architecture = "torchscript"', "torchscript = {t}"]),
    ("tx-lora", "transformer: LoRA r=4 on q, v + head",
     ['architecture = "torchscript"', "torchscript = {t}",
      'trainable = ["*.lora_A", "*.lora_B", "head.*"]']),
]


def config_text(run_id, clients, rounds, model_lines, data, test_path,
                secure, learning_rate):
    lines = [
        "[run]", f'id = "{run_id}"', f"rounds = {rounds}", "seed = 1",
        "[rounds]", f"min_clients = {clients}",
        f"clients_per_round = {clients}", f"min_updates = {clients}",
        "timeout_s = 300",
        "[metrics]", 'listen = "127.0.0.1:0"', "linger_s = 1.0",
        "[model]", *([] if any(m.startswith("architecture") for m in
                               model_lines) else ['architecture = "lenet5"']),
        *model_lines,
        "[training]", 'optimizer = "sgd"', f"learning_rate = {learning_rate}",
        "momentum = 0.9",
        f"weight_decay = {1e-4 if learning_rate > 1e-6 else 0.0}",
        "local_epochs = 1", "batch_size = 32",
        "[evaluation]", 'dataset = "fashion-mnist"',
        f"path = {json.dumps(test_path)}",
        "[secagg]", f"enabled = {'true' if secure else 'false'}",
        "[simulation]", f"clients = {clients}", 'partition = "iid"',
        "workers = 2", 'dataset = "fashion-mnist"',
        f"path = {json.dumps(data)}",
    ]
    return "\n".join(lines) + "\n"


def scrape(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.read().decode()


def run_sim(build, toml, state):
    """Runs fedlearn-sim; returns (stdout, last /metrics text)."""
    proc = subprocess.Popen(
        [f"{build}/bin/fedlearn-sim", "--config", toml, "--state-dir", state,
         "--certs", f"{state}-certs"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, last = [], {"text": ""}
    done = threading.Event()

    def poll(url):
        # The counters are final once the rounds end; the coordinator keeps
        # serving them for linger_s (1 s), so the last scrape has them.
        while not done.is_set():
            try:
                last["text"] = scrape(url)
            except OSError:
                pass
            done.wait(0.1)

    scraper = None
    for line in proc.stdout:
        out.append(line)
        m = re.match(r"metrics on (http://\S+)", line)
        if m and scraper is None:
            scraper = threading.Thread(target=poll, args=(m.group(1),))
            scraper.start()
    err = proc.stderr.read()
    code = proc.wait()
    done.set()
    if scraper is not None:
        scraper.join()
    if code != 0:
        raise SystemExit(f"fedlearn-sim {toml} failed ({code}):\n"
                         + "".join(out) + err[-4000:])
    return "".join(out), last["text"]


def counter(text, rpc):
    total = 0.0
    pattern = r'^fedlearn_rpc_received_bytes_total\{rpc="(\w+)"\} (\S+)$'
    for m in re.finditer(pattern, text, re.M):
        if rpc is None or m.group(1) == rpc:
            total += float(m.group(2))
    return total


def metrics_lines(state):
    with open(f"{state}/metrics.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_pretrained(build, work, weights, pretrained):
    """C++ evaluates the pre-trained file as PyTorch did."""
    toml = f"{work}/check.toml"
    with open(toml, "w") as f:
        f.write(config_text("finetune-check", 2, 1,
                            [f"initial_weights = {json.dumps(weights)}"],
                            f"{work}/finetune-data", "", False, 1e-9))
    run_sim(build, toml, f"{work}/check")
    got = metrics_lines(f"{work}/check")[-1]
    want = pretrained["written_model"]
    print(f"check: fedlearn-sim evaluates {weights} on the full test set at "
          f"loss {got['test_loss']:.5f}, accuracy {got['test_accuracy']:.4f}; "
          f"PyTorch: loss {want['test_loss']:.5f}, accuracy "
          f"{want['test_accuracy']:.4f}")
    if (abs(got["test_loss"] - want["test_loss"]) > 1e-3 or
            abs(got["test_accuracy"] - want["test_accuracy"]) > 1e-3):
        raise SystemExit("the C++ model does not compute what PyTorch does "
                         "with the pre-trained file")


def check_merged(build, work, lora):
    """fedlearn-merge-lora folds the LoRA run's adapters into the base; the
    merged plain LeNet-5 must score what the LoRA run's final model did."""
    rounds = len(metrics_lines(f"{work}/lora"))
    merged = f"{work}/lora-merged.fmodel"
    # The base as a model file: the full run's round 0 is the pre-trained
    # file as the coordinator loaded it (all tensors, the model's order).
    subprocess.run(
        [f"{build}/bin/fedlearn-merge-lora", "--model",
         f"{work}/lora/models/round-{rounds:06d}.fmodel", "--base",
         f"{work}/full/models/round-000000.fmodel", "--alpha", "8",
         "--out", merged], check=True, stdout=subprocess.DEVNULL)
    toml = f"{work}/check-merged.toml"
    with open(toml, "w") as f:
        f.write(config_text("finetune-check-merged", 2, 1,
                            [f"initial_weights = {json.dumps(merged)}"],
                            f"{work}/finetune-data", f"{work}/finetune-data",
                            False, 1e-9))
    run_sim(build, toml, f"{work}/check-merged")
    got = metrics_lines(f"{work}/check-merged")[-1]["test_accuracy"]
    print(f"merged: fedlearn-merge-lora wrote {merged}, a plain LeNet-5; "
          f"test accuracy {got:.4f} (the LoRA run's final model: "
          f"{lora['test_accuracy']:.4f})")
    if abs(got - lora["test_accuracy"]) > 1e-3:
        raise SystemExit("the merged model does not score what the LoRA "
                         "model did")


def run_row(build, work, row, clients, rounds, weights, torchscript=""):
    name, label, model = row
    toml = f"{work}/{name}.toml"
    lines = [m.format(w=json.dumps(weights), t=json.dumps(torchscript))
             for m in model]
    with open(toml, "w") as f:
        f.write(config_text(f"finetune-{name}", clients, rounds, lines,
                            f"{work}/finetune-data",
                            f"{work}/finetune-data", True, 0.05))
    started = time.monotonic()
    out, text = run_sim(build, toml, f"{work}/{name}")
    m = re.search(r"(?:lenet5|torchscript) \((\d+) params\)", out)
    metrics = metrics_lines(f"{work}/{name}")
    if len(metrics) != rounds or not all(x["secure_aggregation"]
                                         for x in metrics):
        raise SystemExit(f"{name}: expected {rounds} secure rounds")
    if not text:
        raise SystemExit(f"{name}: no scrape of the metrics endpoint")
    per = clients * rounds
    result = {
        "row": name, "label": label,
        "test_accuracy": metrics[-1]["test_accuracy"],
        "trainable_parameters": int(m.group(1)) if m else None,
        "push_result_bytes_per_client_round":
            counter(text, "PushResult") / per,
        "all_rpc_bytes_per_client_round": counter(text, None) / per,
        "mean_round_seconds":
            sum(x["seconds"] for x in metrics) / len(metrics),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print(f"{name}: accuracy {result['test_accuracy']:.4f}, "
          f"{result['trainable_parameters']} parameters, "
          f"{result['push_result_bytes_per_client_round']:.0f} bytes "
          f"per client per round", flush=True)
    return result


def table(results, clients, rounds, images):
    head = (f"| {clients} sites x {images // clients} images of classes "
            f"5-9, {rounds} rounds, secure aggregation | test accuracy | "
            "trainable "
            "parameters | bytes sent per client per round (PushResult) | "
            "all RPCs | s/round |")
    rows = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(
            f"| {r['label']} | {100 * r['test_accuracy']:.1f}% | "
            f"{r['trainable_parameters']:,} | "
            f"{r['push_result_bytes_per_client_round']:,.0f} | "
            f"{r['all_rpc_bytes_per_client_round']:,.0f} | "
            f"{r['mean_round_seconds']:.2f} |")
    return "\n".join(rows) + "\n"


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    build, work = argv[0], argv[1]
    quick = "--quick" in argv[2:]
    clients, rounds = (5, 1) if quick else (10, 5)
    weights = os.path.abspath(f"{work}/pretrained.safetensors")
    with open(f"{work}/pretrain.json") as f:
        pretrained = json.load(f)
    print(f"pre-trained in {pretrained['seconds']} s on "
          f"{pretrained['pretrain_images']} images: test accuracy "
          f"{100 * pretrained['test_accuracy_classes_0_4']:.1f}% on classes "
          f"0-4, {100 * pretrained['test_accuracy_classes_5_9']:.1f}% on "
          "5-9 (never seen); fc3 written freshly initialised"
          if pretrained["head"] == "fresh" else "", flush=True)
    check_pretrained(build, work, weights, pretrained)
    results = [run_row(build, work, row, clients, rounds, weights)
               for row in ROWS]
    transformer = os.path.abspath(f"{work}/row-transformer.pt")
    if not quick and os.path.exists(transformer):
        results += [run_row(build, work, row, clients, rounds, weights,
                            transformer) for row in TRANSFORMER_ROWS]
    if not quick:
        check_merged(build, work,
                     next(r for r in results if r["row"] == "lora"))
    text = table(results, clients, rounds,
                 pretrained["finetune_train_images"])
    with open(f"{work}/results.json", "w") as f:
        json.dump({"clients": clients, "rounds": rounds,
                   "pretrain": pretrained, "rows": results}, f, indent=1)
    with open(f"{work}/table.md", "w") as f:
        f.write(text)
    print()
    print(text, end="")


if __name__ == "__main__":
    main(sys.argv[1:])
