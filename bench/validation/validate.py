"""Training validation: Born against PyTorch on the same machine, data, models and settings.

For each dataset folder, model (mlp, cnn) and seed, runs `born train` and torch_train.py with
Adam lr 1e-3, batch 64, the given epochs and threads, and prints a Markdown table with each
side's mean test accuracy, the difference, and the seconds per epoch with their ratio.

    python3 bench/validation/validate.py --data /usr/share/datasets/fashion-mnist \
        --epochs 5 --seeds 0 1 2 --threads 2 [--models mlp cnn] [--born build/born] \
        [--schedule constant|cosine|onecycle]

Run it by hand (it takes a while); docs/BENCHMARKS.md records its output. Born passes when its
mean accuracy is at least PyTorch's minus 0.3 points.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_born(born, data, model, epochs, seed, threads, split, schedule):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([born, "train", "--model", model, "--data", data, "--epochs", str(epochs),
                              "--seed", str(seed), "--threads", str(threads), "--split", str(split),
                              "--schedule", schedule, "--out", os.path.join(tmp, "m.born")],
                             capture_output=True, text=True, check=True).stdout
    m = re.search(r"trained in ([0-9.]+) s \(([0-9.]+) s per epoch\); test accuracy ([0-9.]+)%", out)
    return float(m.group(3)) / 100.0, float(m.group(2))


def run_torch(data, model, epochs, seed, threads, split, schedule):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run([sys.executable, os.path.join(HERE, "torch_train.py"), "--model", model, "--data", data,
                          "--epochs", str(epochs), "--seed", str(seed), "--threads", str(threads),
                          "--split", str(split), "--schedule", schedule], capture_output=True, text=True, check=True, env=env).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["accuracy"], r["seconds_per_epoch"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", type=int, default=8000)
    ap.add_argument("--born", default="build/born")
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine", "onecycle"],
                    help="lr per batch on both sides (the issue's recipe is constant)")
    a = ap.parse_args()
    print(f"| dataset | model | Born accuracy (mean of {len(a.seeds)}) | PyTorch accuracy | difference | "
          f"Born s/epoch | PyTorch s/epoch | time ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    failed = False
    for model in a.models:
        born_acc, born_t, torch_acc, torch_t = [], [], [], []
        for seed in a.seeds:
            acc, t = run_born(a.born, a.data, model, a.epochs, seed, a.threads, a.split, a.schedule)
            born_acc.append(acc)
            born_t.append(t)
            acc, t = run_torch(a.data, model, a.epochs, seed, a.threads, a.split, a.schedule)
            torch_acc.append(acc)
            torch_t.append(t)
            print(f"<!-- {model} seed {seed}: born {100 * born_acc[-1]:.2f}% {born_t[-1]:.2f}s, "
                  f"torch {100 * torch_acc[-1]:.2f}% {torch_t[-1]:.2f}s -->", flush=True)
        b, t = 100 * statistics.mean(born_acc), 100 * statistics.mean(torch_acc)
        bt, tt = statistics.median(born_t), statistics.median(torch_t)
        failed |= b < t - 0.3
        print(f"| {os.path.basename(os.path.normpath(a.data))} | {model} | {b:.2f}% | {t:.2f}% | {b - t:+.2f} | "
              f"{bt:.2f} | {tt:.2f} | {bt / tt:.2f} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
