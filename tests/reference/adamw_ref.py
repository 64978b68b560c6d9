#!/usr/bin/env python3
"""Independent reference for np::AdamW: torch.optim.AdamW on a small two-tensor problem.

Writes a JSON case: tensor shapes and whether each receives weight decay, per-tensor LR multipliers,
the per-step scheduled LR, the initial parameters, the gradient of every step, and the parameters
torch.optim.AdamW produced after the last step (one param group per tensor: lr = lr_step * mult,
weight_decay = wd on matrices, 0 elsewhere). The C++ test AdamWTorch.MatchesCaseFile replays it.

Usage: adamw_ref.py --out case.json [--seed N] [--steps N]
"""
import argparse
import json

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(a.seed)
    betas, eps, wd = (0.9, 0.95), 1e-8, 0.1
    shapes = [[6, 5], [7], [3, 4]]
    matrix = [len(s) == 2 for s in shapes]
    mults = [1.0, 0.5, 0.25]
    params = [torch.randn(*s, generator=g) for s in shapes]
    init = [p.clone() for p in params]
    groups = [{"params": [p], "lr": 1.0, "weight_decay": wd if m else 0.0}
              for p, m in zip(params, matrix)]
    opt = torch.optim.AdamW(groups, betas=betas, eps=eps)
    lrs, grads = [], []
    for t in range(a.steps):
        lr = 1e-2 * (0.5 + 0.5 * (t + 1) / a.steps)  # a changing LR, as under a schedule
        lrs.append(lr)
        step_grads = []
        for i, p in enumerate(params):
            # Mixed magnitudes, some exact zeros: exercises eps and the bias corrections.
            gr = torch.randn(*shapes[i], generator=g) * (10.0 ** (i - 1))
            gr.view(-1)[::5] = 0.0
            p.grad = gr
            step_grads.append(gr.flatten().tolist())
        for grp, m in zip(opt.param_groups, mults):
            grp["lr"] = lr * m
        opt.step()
        grads.append(step_grads)
    case = {
        "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": wd,
        "shapes": shapes, "matrix": matrix, "mults": mults, "lrs": lrs,
        "init": [p.flatten().tolist() for p in init],
        "grads": grads,
        "expected": [p.detach().flatten().tolist() for p in params],
        "torch": torch.__version__,
    }
    with open(a.out, "w") as f:
        json.dump(case, f)


if __name__ == "__main__":
    main()
