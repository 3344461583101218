"""The PyTorch side of Born's training validation: the same models, data, normalisation,
optimizer and batch order policy as `born train`, on the same machine and thread count.

    python3 torch_train.py --model cnn --data DIR [--split 8000] --epochs 5 --seed 0 --threads 2 \
        [--schedule constant|cosine|onecycle]

Prints one line per epoch ("epoch E: loss L, test accuracy A, seconds S") and a final JSON line.
"""
import argparse
import glob
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(folder, *words):
    for name in sorted(os.listdir(folder)):
        if not name.startswith(".") and all(w in name for w in words):
            return os.path.join(folder, name)
    return None


def load(folder, split):
    """The same files and split as tools/born/datasets.c."""
    ti, tl = find(folder, "train", "images", "idx3"), find(folder, "train", "labels", "idx1")
    vi, vl = find(folder, "t10k", "images", "idx3"), find(folder, "t10k", "labels", "idx1")
    if ti and tl and vi and vl:
        xtr, ytr, xte, yte = read_idx(ti), read_idx(tl), read_idx(vi), read_idx(vl)
    else:
        x, y = read_idx(find(folder, "images", "idx3")), read_idx(find(folder, "labels", "idx1"))
        xtr, ytr, xte, yte = x[:split], y[:split], x[split:], y[split:]
    scaled = xtr.astype(np.float64) / 255.0
    mean, std = scaled.mean(), scaled.std()
    prep = lambda x: torch.from_numpy(((x.astype(np.float64) / 255.0 - mean) / std).astype(np.float32)).unsqueeze(1)
    return prep(xtr), torch.from_numpy(ytr.astype(np.int64)), prep(xte), torch.from_numpy(yte.astype(np.int64))


def model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine", "onecycle"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load(a.data, a.split)
    m = model(a.model)
    opt = torch.optim.Adam(m.parameters(), lr=a.lr)
    steps = a.epochs * ((len(xtr) + a.batch_size - 1) // a.batch_size)
    sched = None  # stepped after every batch, as born train --schedule
    if a.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0)
    elif a.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    g = torch.Generator().manual_seed(a.seed)
    total, acc = 0.0, 0.0
    for epoch in range(1, a.epochs + 1):
        m.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(xtr), generator=g)
        losses = []
        for i in range(0, len(xtr), a.batch_size):
            idx = order[i:i + a.batch_size]
            loss = F.cross_entropy(m(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            losses.append(loss.item())
        secs = time.perf_counter() - t0
        total += secs
        m.eval()
        with torch.no_grad():
            correct = sum((m(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item() for i in range(0, len(xte), 500))
        acc = correct / len(xte)
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}, test accuracy {100 * acc:.2f}%, seconds {secs:.2f}", flush=True)
    print(json.dumps({"accuracy": acc, "seconds_per_epoch": total / a.epochs}))


if __name__ == "__main__":
    main()
