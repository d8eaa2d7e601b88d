#!/usr/bin/env python3
"""libtorch's CPU log-softmax with 10 classes, plain and padded with -inf to 16 (docs/tiny.md §10).

    ~/.cache/grownet/torch-2.11.0/bin/python bench/padded_log_softmax.py [--threads 2]

Times the forward (and the forward + backward) of a cross-entropy's log-softmax on n x 10
logits as it is and padded to n x 16 with -inf, medians of 7 repeats of 300 calls, the two
interleaved, and the largest difference of the values (the padding changes only the order of
a sum). Growth's previews and statistics use the padded form under mixed precision
(`Loss::per_sample_padded`).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def per_call(f, calls=300):
    f()
    start = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - start) / calls * 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {a.threads} threads; microseconds per call (median of 7)")
    print("| rows | log-softmax | padded | ratio | fwd+bwd | padded | ratio | largest difference |")
    print("|---|---|---|---|---|---|---|---|")
    for n in [128, 512, 1000, 3000, 4096]:
        x = torch.randn(n, 10) * 5
        xg = x.clone().requires_grad_()
        g = torch.randn(n, 10)
        plain = lambda: x.log_softmax(-1)
        padded = lambda: F.pad(x, (0, 6), value=float("-inf")).log_softmax(-1)[:, :10]

        def plain_bwd():
            xg.grad = None
            xg.log_softmax(-1).backward(g)

        def padded_bwd():
            xg.grad = None
            F.pad(xg, (0, 6), value=float("-inf")).log_softmax(-1)[:, :10].backward(g)

        runs = {f: [] for f in (plain, padded, plain_bwd, padded_bwd)}
        for _ in range(7):
            for f in runs:
                runs[f].append(per_call(f))
        t = [statistics.median(runs[f]) for f in runs]
        diff = (plain() - padded()).abs().max().item()
        print(f"| {n} | {t[0]:.1f} | {t[1]:.1f} | {t[1] / t[0]:.2f} | {t[2]:.1f} | {t[3]:.1f} "
              f"| {t[3] / t[2]:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
