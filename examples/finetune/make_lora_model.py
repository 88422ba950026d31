#!/usr/bin/python3
"""Writes a TorchScript LeNet-5 for Fashion-MNIST whose linear layers carry
LoRA adapters (Hu et al., "LoRA: Low-Rank Adaptation of Large Language
Models", ICLR 2022), for fedlearn's TorchScript path (architecture =
"torchscript").

Each adapted layer <name> computes W x + b + (alpha / r) B A x with the
parameters <name>.weight [out, in], <name>.bias [out], <name>.lora_A [r, in]
(kaiming-uniform with a = sqrt(5), as microsoft/LoRA's loralib) and
<name>.lora_B [out, r] (zeros), registered in that order: the naming
convention of fedlearn's zoo adapters (common/models/lora_linear.h) and of
fedlearn-merge-lora. B = 0 makes the written model compute exactly its base.

The layers, names and order are those of fedlearn's zoo "lenet5", so the
zoo's pre-trained weights and the merged model of a run fit either. Train
only the adapters with, in the coordinator's [model] section:
    architecture = "torchscript"
    torchscript = "lenet5-lora.pt"
    trainable = ["*.lora_A", "*.lora_B"]

Usage (Debian's python3-torch, /usr/bin/python3):
    make_lora_model.py --out lenet5-lora.pt --rank 4 --alpha 8 \
        [--targets 'fc*'] [--base-weights pretrained.pt] [--plain-out base.pt]
        [--check]
--base-weights takes a TorchScript module or a torch.save'd state_dict
with the base tensors (conv1.weight, ..., fc3.bias); --plain-out also writes
the same network without adapters (the form fedlearn-merge-lora's output
fits); --check verifies, with random nonzero B, that the adapted forward
equals the merged model's forward (max abs diff < 1e-5) and that the saved
file reloads to the same outputs. Prints a JSON summary on stdout.
"""

import argparse
import copy
import fnmatch
import json
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn


class LoraLinear(nn.Module):
    """y = x W^T + b + scaling (x A^T) B^T, scaling = alpha / rank."""

    scaling: torch.jit.Final[float]

    def __init__(self, in_features, out_features, rank, alpha):
        super().__init__()
        # Registration order is named_parameters() order: weight, bias,
        # lora_A, lora_B.
        base = nn.Linear(in_features, out_features)  # PyTorch's default init
        self.weight = nn.Parameter(base.weight.detach().clone())
        self.bias = nn.Parameter(base.bias.detach().clone())
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        self.scaling = float(alpha) / float(rank)

    def forward(self, x):
        delta = F.linear(F.linear(x, self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + delta * self.scaling


class LeNet5(nn.Module):
    """fedlearn's zoo lenet5: ReLU, max-pooling, padding 2 on conv1."""

    def __init__(self, channels, classes, make_linear):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = make_linear("fc1", 16 * 5 * 5, 120)
        self.fc2 = make_linear("fc2", 120, 84)
        self.fc3 = make_linear("fc3", 84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def is_target(targets, name):
    if not targets:
        return True
    return any(fnmatch.fnmatchcase(name, t) or
               fnmatch.fnmatchcase(name + ".weight", t) for t in targets)


def build(channels, classes, rank, alpha, targets):
    adapted = []

    def make_linear(name, in_features, out_features):
        if rank > 0 and is_target(targets, name):
            if rank > min(in_features, out_features):
                raise SystemExit(f"--rank {rank} exceeds min(in, out) = "
                                 f"{min(in_features, out_features)} of {name}")
            adapted.append(name)
            return LoraLinear(in_features, out_features, rank, alpha)
        return nn.Linear(in_features, out_features)

    model = LeNet5(channels, classes, make_linear)
    if rank > 0 and not adapted:
        raise SystemExit(f"--targets {targets} match none of fc1, fc2, fc3")
    return model, adapted


def load_base(path):
    """The base tensors of a TorchScript module or a saved state_dict."""
    try:
        state = torch.jit.load(path, map_location="cpu").state_dict()
    except (RuntimeError, ValueError):
        state = torch.load(path, map_location="cpu")
    if not isinstance(state, dict):
        raise SystemExit(f"{path}: neither a TorchScript module nor a "
                         "state_dict")
    if any(k.endswith((".lora_A", ".lora_B")) for k in state):
        raise SystemExit(f"{path} carries LoRA adapters: merge them first "
                         "(fedlearn-merge-lora)")
    return state


def apply_base(model, state, path):
    own = {k: v for k, v in model.state_dict().items()
           if not k.endswith((".lora_A", ".lora_B"))}
    for name, tensor in own.items():
        if name not in state:
            raise SystemExit(f"{path}: no tensor {name}")
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise SystemExit(f"{path}: {name} is {list(state[name].shape)}, "
                             f"the model needs {list(tensor.shape)}")
    extra = [k for k in state if k not in own]
    if extra:
        raise SystemExit(f"{path}: tensor {extra[0]} is not in the model")
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name in own:
                tensor.copy_(state[name].to(torch.float32))


def merged_state(model, adapted):
    """W' = W + scaling B A per adapted layer; adapters dropped."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith((".lora_A", ".lora_B")):
            continue
        state[name] = tensor.detach().clone()
    for layer in adapted:
        module = getattr(model, layer)
        state[layer + ".weight"] += module.scaling * (
            module.lora_B.detach() @ module.lora_A.detach())
    return state


def check(model, adapted, args, path):
    """On a copy: the written model's adapters stay zero."""
    model = copy.deepcopy(model)
    torch.manual_seed(args.seed + 1)
    x = torch.randn(64, args.channels, 28, 28)
    model.eval()
    with torch.no_grad():
        base_out = model(x)
        for layer in adapted:
            getattr(model, layer).lora_B.normal_(0.0, 0.1)
        lora_out = model(x)
    plain, _ = build(args.channels, args.classes, 0, 1.0, [])
    plain.load_state_dict(merged_state(model, adapted))
    plain.eval()
    with torch.no_grad():
        merged_out = plain(x)
        reloaded = torch.jit.load(path)
        reloaded.eval()
        reloaded_out = reloaded(x)
    diff = (lora_out - merged_out).abs().max().item()
    moved = (lora_out - base_out).abs().max().item()
    if diff >= 1e-5 or moved <= 1e-3:
        raise SystemExit(f"check failed: merged differs by {diff}, "
                         f"adapters moved the output by {moved}")
    return {"merged_max_abs_diff": diff,
            "reloaded_max_abs_diff":
                (reloaded_out - base_out).abs().max().item()}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="TorchScript file to write")
    p.add_argument("--rank", type=int, default=4, help="0 = no adapters")
    p.add_argument("--alpha", type=float, default=8.0,
                   help="scaling = alpha / rank (default 8)")
    p.add_argument("--targets", nargs="*", default=[],
                   help="globs over fc1, fc2, fc3 (default: all)")
    p.add_argument("--base-weights", help="pre-trained base tensors")
    p.add_argument("--plain-out", help="also write the network without "
                   "adapters, with the written model's merged weights")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    if args.rank < 0 or not (args.alpha > 0):
        raise SystemExit("--rank must be >= 0 and --alpha > 0")

    torch.manual_seed(args.seed)
    model, adapted = build(args.channels, args.classes, args.rank,
                           args.alpha, args.targets)
    if args.base_weights:
        apply_base(model, load_base(args.base_weights), args.base_weights)
    model.eval()
    scripted = torch.jit.script(model)
    scripted.save(args.out)
    summary = {
        "out": args.out, "rank": args.rank, "alpha": args.alpha,
        "adapted_layers": adapted,
        "parameters": sum(t.numel() for t in model.parameters()),
        "adapter_parameters": sum(
            t.numel() for n, t in model.named_parameters()
            if n.endswith((".lora_A", ".lora_B"))),
        "tensors": [n for n, _ in model.named_parameters()],
    }
    if args.check and adapted:
        summary.update(check(model, adapted, args, args.out))
    if args.plain_out:
        plain, _ = build(args.channels, args.classes, 0, 1.0, [])
        plain.load_state_dict(merged_state(model, adapted))
        plain.eval()
        torch.jit.script(plain).save(args.plain_out)
        summary["plain_out"] = args.plain_out
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
