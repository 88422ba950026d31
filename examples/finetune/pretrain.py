#!/usr/bin/python3
"""Pre-trains fedlearn's zoo LeNet-5 centrally on Fashion-MNIST classes 0-4
and writes the data of the task it was not trained for (classes 5-9), for
examples/finetune/run_finetune.sh.

Writes, under --out-dir:
  pretrained.safetensors   the trained weights, with exactly the tensor
                           names, shapes and order of the zoo's "lenet5"
                           (conv1.weight [6,1,5,5], ..., fc3.bias [10]),
                           float32, for [model] initial_weights
  finetune-data/           Fashion-MNIST IDX files (the names the
                           fashion-mnist loader reads) holding only classes
                           5-9 (labels kept: 5 sandal ... 9 ankle boot):
                           --finetune-train images of the training split,
                           all 5,000 test images of those classes
  pretrain.json            what was trained: images, epochs, seconds, and
                           the accuracy on the test images of classes 0-4
                           and 5-9 (the latter near 0: never seen)

The network is the zoo's (common/models/torch_model.cc): conv 6@5x5 pad 2,
ReLU, max-pool 2, conv 16@5x5, ReLU, max-pool 2, fc 400-120-84-10 with
ReLU; pixels scaled to [0, 1] as the C++ IDX reader does, no normalisation.
The safetensors file is written from the format's specification
(github.com/huggingface/safetensors, "Format"): Debian ships no safetensors
package; fedlearn's reader (common/wire/safetensors_reader.h) checks it.

Usage (Debian's python3-torch): pretrain.py --out-dir DIR
    [--source /usr/share/datasets/fashion-mnist] [--pretrain-images 30000]
    [--epochs 2] [--finetune-train 5000] [--head fresh|trained] [--seed 1]
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGES_MAGIC = 0x803
LABELS_MAGIC = 0x801


class LeNet5(nn.Module):
    """The zoo's lenet5; registration order = the zoo's spec order."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def read_idx(path, magic, rank):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise SystemExit(f"{path}: IDX magic {got:#x}, expected {magic:#x}")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def write_idx(path, array, magic):
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(struct.pack(">I", magic))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(np.ascontiguousarray(array, np.uint8).tobytes())


def load_split(source, prefix):
    images = read_idx(f"{source}/{prefix}-images-idx3-ubyte.gz",
                      IMAGES_MAGIC, 3)
    labels = read_idx(f"{source}/{prefix}-labels-idx1-ubyte.gz",
                      LABELS_MAGIC, 1)
    return images, labels


def write_safetensors(path, named_tensors):
    """float32, little-endian, in the given order (offsets ascending)."""
    header, blobs, offset = {}, [], 0
    for name, tensor in named_tensors:
        raw = tensor.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt",
                              "writer": "examples/finetune/pretrain.py"}
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def to_tensor(images):
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        pred = model(to_tensor(images)).argmax(1).numpy()
    return float((pred == labels).mean())


def loss_and_accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        logits = model(to_tensor(images))
        y = torch.from_numpy(labels.astype(np.int64))
        loss = F.cross_entropy(logits, y).item()
    return {"test_loss": loss,
            "test_accuracy": float((logits.argmax(1) == y).float().mean())}


def pretrain(args, images, labels):
    """SGD with momentum on the first --pretrain-images of classes 0-4."""
    rng = np.random.default_rng(args.seed)
    keep = np.flatnonzero(labels < 5)
    keep = rng.permutation(keep)[:args.pretrain_images]
    x, y = to_tensor(images[keep]), torch.from_numpy(labels[keep].astype(
        np.int64))
    torch.manual_seed(args.seed)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                          weight_decay=1e-4)
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(y))
        for start in range(0, len(y), 64):
            batch = order[start:start + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    return model, len(y)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", required=True)
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--pretrain-images", type=int, default=30000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--finetune-train", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--head", choices=["fresh", "trained"], default="fresh",
                   help="fresh: write fc3 freshly initialised (PyTorch's "
                   "default), for the new label set; trained: as trained")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(f"{args.out_dir}/finetune-data", exist_ok=True)

    train_x, train_y = load_split(args.source, "train")
    test_x, test_y = load_split(args.source, "t10k")
    started = time.monotonic()
    model, seen = pretrain(args, train_x, train_y)
    seconds = time.monotonic() - started

    old, new = test_y < 5, test_y >= 5
    summary = {
        "pretrain_classes": [0, 1, 2, 3, 4], "pretrain_images": seen,
        "epochs": args.epochs, "seconds": round(seconds, 1),
        "parameters": sum(t.numel() for t in model.parameters()),
        "test_accuracy_classes_0_4": accuracy(model, test_x[old],
                                              test_y[old]),
        "test_accuracy_classes_5_9": accuracy(model, test_x[new],
                                              test_y[new]),
        "test_accuracy_all": accuracy(model, test_x, test_y),
        "head": args.head,
    }
    if args.head == "fresh":
        # The new task has a new label set: replace the classifier (as
        # one does when fine-tuning to new classes), keep the backbone.
        torch.manual_seed(args.seed + 2)
        model.fc3.reset_parameters()
    # What the written file computes on the whole test set: the check run
    # of finetune_table.py compares fedlearn's C++ evaluation with it.
    summary["written_model"] = loss_and_accuracy(model, test_x, test_y)
    write_safetensors(f"{args.out_dir}/pretrained.safetensors",
                      list(model.named_parameters()))

    # The new task: classes 5-9, a random --finetune-train of the training
    # split (the sites share it out) and every test image of those classes.
    rng = np.random.default_rng(args.seed + 1)
    pick = rng.permutation(np.flatnonzero(train_y >= 5))[:args.finetune_train]
    pick.sort()
    data = f"{args.out_dir}/finetune-data"
    write_idx(f"{data}/train-images-idx3-ubyte.gz", train_x[pick],
              IMAGES_MAGIC)
    write_idx(f"{data}/train-labels-idx1-ubyte.gz", train_y[pick],
              LABELS_MAGIC)
    write_idx(f"{data}/t10k-images-idx3-ubyte.gz", test_x[new], IMAGES_MAGIC)
    write_idx(f"{data}/t10k-labels-idx1-ubyte.gz", test_y[new], LABELS_MAGIC)
    summary.update({"finetune_classes": [5, 6, 7, 8, 9],
                    "finetune_train_images": int(len(pick)),
                    "finetune_test_images": int(new.sum())})
    with open(f"{args.out_dir}/pretrain.json", "w") as f:
        json.dump(summary, f, indent=1)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
