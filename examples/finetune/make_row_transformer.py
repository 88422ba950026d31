#!/usr/bin/python3
"""Pre-trains a small transformer sequence classifier on Fashion-MNIST
classes 0-4 and writes it as TorchScript with LoRA adapters, for the
transformer rows of examples/finetune/run_finetune.sh.

The sequence: each image is read as 28 tokens, its rows (28 pixel values
each, as fedlearn's IDX reader gives them: [N, 1, 28, 28] in [0, 1]), as a
ViT does with patches (Dosovitskiy et al. 2021). The model: a linear token
embedding to d = 32, learned positions, 2 pre-norm encoder blocks (4-head
self-attention, GELU MLP of width 64), mean pooling, a linear head; 20,330
parameters. Attention's query and value projections carry LoRA adapters
(Hu et al. 2022, r = 4, alpha = 8: the paper's choice of W_q and W_v) with
the tensor names of fedlearn's zoo adapters (<layer>.weight, .bias,
.lora_A, .lora_B; B = 0, so the written model computes its base).

Pre-training (Adam, lr 2e-3, batch 64, adapters frozen) uses --images
training images of classes 0-4; then the head is replaced by a freshly
initialised one for the new labels, and the module is scripted and saved
to --out. fedlearn trains it as architecture = "torchscript" with
trainable = ["*.lora_A", "*.lora_B", "head.*"] (adapters and head) or
everything. Prints a JSON summary (parameters, adapter and head sizes,
pre-training time and test accuracy on classes 0-4).

Usage (Debian's python3-torch): make_row_transformer.py --out FILE.pt
    [--images 10000] [--epochs 1] [--seed 1]
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain  # noqa: E402  (the IDX reader and helpers beside this file)
from make_lora_model import LoraLinear  # noqa: E402  (the zoo's adapter)


class Block(nn.Module):
    """Pre-norm encoder block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    heads: torch.jit.Final[int]

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.q = LoraLinear(dim, dim, 4, 8.0)
        self.k = nn.Linear(dim, dim)
        self.v = LoraLinear(dim, dim, 4, 8.0)
        self.o = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, 2 * dim)
        self.ff2 = nn.Linear(2 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        y = self.ln1(x)
        q = self.q(y).view(b, t, h, d // h).transpose(1, 2)
        k = self.k(y).view(b, t, h, d // h).transpose(1, 2)
        v = self.v(y).view(b, t, h, d // h).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h), -1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))


class RowTransformer(nn.Module):
    def __init__(self, dim=32, heads=4, layers=2, classes=10):
        super().__init__()
        self.embed = nn.Linear(28, dim)
        self.pos = nn.Parameter(torch.zeros(28, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x.squeeze(1)) + self.pos  # [N, 28 tokens, dim]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x).mean(1))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    train_x, train_y = pretrain.load_split(args.source, "train")
    test_x, test_y = pretrain.load_split(args.source, "t10k")
    rng = np.random.default_rng(args.seed)
    keep = rng.permutation(np.flatnonzero(train_y < 5))[:args.images]
    x = pretrain.to_tensor(train_x[keep])
    y = torch.from_numpy(train_y[keep].astype(np.int64))

    torch.manual_seed(args.seed)
    model = RowTransformer()
    opt = torch.optim.Adam([t for n, t in model.named_parameters()
                            if "lora_" not in n], lr=2e-3)
    started = time.monotonic()
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(y))
        for start in range(0, len(y), 64):
            batch = order[start:start + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    seconds = time.monotonic() - started
    old = test_y < 5
    summary = {
        "out": args.out, "pretrain_images": int(len(y)),
        "seconds": round(seconds, 1),
        "test_accuracy_classes_0_4": pretrain.accuracy(model, test_x[old],
                                                       test_y[old]),
        "parameters": sum(t.numel() for t in model.parameters()),
        "adapter_parameters": sum(t.numel() for n, t in
                                  model.named_parameters() if "lora_" in n),
        "head_parameters": sum(t.numel() for n, t in
                               model.named_parameters()
                               if n.startswith("head.")),
    }
    torch.manual_seed(args.seed + 2)
    model.head.reset_parameters()  # new labels, new head
    model.eval()
    torch.jit.script(model).save(args.out)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
