#!/usr/bin/env python3
"""GroMo (the reference library of TINY, `gromo` 0.1.0) on issue 12's MNIST protocol.

grownet's own harness, written for bench/gromo/compare.py: an MLP 784-[1,1]-10 (ReLU, biases)
trained by SGD (lr 0.05, momentum 0.9, batch 128) for 10 epochs; at the end of epochs 1-8 each
hidden layer grows in turn: statistics on 10 000 fresh training samples (batches of 1 000,
sum-reduced cross-entropy), GroMo's default TINY update (optimal δ), at most 32 neurons a step
and 256 per layer, eigenvalue cut 1e-6, statistical threshold 1e-3; the amplitude is the best
of the grid {0, 0.1, 0.25, 0.5, 1, 2} on the next 2 000 samples (0: the step is dropped); the
optimiser is rebuilt after growth (GroMo replaces the layers). Timers for the whole run and
for growth; one JSON object on stdout's last line.

Needs torch and gromo (see bench/gromo/README.md). Data: the gzip IDX files of MNIST.
"""
import argparse
import gzip
import json
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(folder, split):
    images = read_idx(folder / f"{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    x = (torch.from_numpy(images) - 0.1307) / 0.3081
    y = torch.from_numpy(read_idx(folder / f"{split}-labels-idx1-ubyte.gz").astype(np.int64))
    return x.reshape(x.shape[0], -1).contiguous(), y


def minibatches(x, y, idx, size):
    return [(x[idx[i : i + size]], y[idx[i : i + size]]) for i in range(0, idx.numel(), size)]


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = sum((model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
                  for i in range(0, x.shape[0], 1000))
    model.train()
    return correct / x.shape[0]


def grow_layer(model, index, xtr, ytr, gen, a):
    """One TINY step of hidden layer `index + 1`; returns whether neurons were added."""
    from gromo.utils.training_utils import compute_statistics, evaluate_model

    room = min(a.max_added, a.max_width - model.layers[index].out_features)
    if room <= 0:
        return False
    model.set_growing_layers(index=index)
    perm = torch.randperm(xtr.shape[0], generator=gen).to(xtr.device)
    stats = minibatches(xtr, ytr, perm[: a.stats_samples], 1000)
    held_out = minibatches(xtr, ytr, perm[a.stats_samples : a.stats_samples + a.ls_samples], 1000)
    compute_statistics(model, stats, loss_function=nn.CrossEntropyLoss(reduction="sum"),
                       device=xtr.device)
    model.compute_optimal_updates(maximum_added_neurons=room, numerical_threshold=1e-6,
                                  statistical_threshold=1e-3)
    model.reset_computation()
    model.select_update(0)
    losses = []
    for s in a.grid:
        model.set_scaling_factor(s)
        losses.append(evaluate_model(model, held_out, nn.CrossEntropyLoss(),
                                     use_extended_model=True, device=xtr.device)[0])
    best = a.grid[int(np.argmin(losses))]
    layer = model._growing_layers[0]
    if best == 0.0:
        layer.delete_update(include_previous=True)
        model.currently_updated_layer_index = None
    else:
        model.set_scaling_factor(best)
        model.apply_change()
    model.set_scaling_factor(0.0)
    model.train()
    return best != 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="folder of MNIST's IDX files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--growth-epochs", type=int, default=8)
    p.add_argument("--max-added", type=int, default=32)
    p.add_argument("--max-width", type=int, default=256)
    p.add_argument("--stats-samples", type=int, default=10_000)
    p.add_argument("--ls-samples", type=int, default=2000)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (data and model there)")
    a = p.parse_args()
    a.grid = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    import warnings
    warnings.simplefilter("ignore")
    from gromo.containers.growing_mlp import GrowingMLP

    device = torch.device(a.device)
    xtr, ytr = (t.to(device) for t in load(a.data_dir, "train"))
    xte, yte = (t.to(device) for t in load(a.data_dir, "t10k"))
    model = GrowingMLP(in_features=784, out_features=10, hidden_size=1, number_hidden_layers=2,
                       activation=nn.ReLU(), use_bias=True, flatten=True, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen_train = torch.Generator().manual_seed(a.seed)
    gen_growth = torch.Generator().manual_seed(10_000 + a.seed)
    growth = 0.0
    start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        perm = torch.randperm(xtr.shape[0], generator=gen_train).to(device)
        for i in range(0, xtr.shape[0], 128):
            idx = perm[i : i + 128]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        acc = accuracy(model, xte, yte)
        if epoch <= a.growth_epochs:
            sync()
            t = time.perf_counter()
            for index in (0, 1):
                grow_layer(model, index, xtr, ytr, gen_growth, a)
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            sync()
            growth += time.perf_counter() - t
    sync()
    total = time.perf_counter() - start
    widths = [layer.out_features for layer in model.layers[:-1]]
    print(json.dumps(dict(seed=a.seed, test_accuracy=acc, widths=widths, total_seconds=total,
                          growth_seconds=growth, torch=torch.__version__,
                          device=str(device))))


if __name__ == "__main__":
    main()
