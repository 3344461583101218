#!/usr/bin/env python3
"""Trains the same GPT with `born train-lm` and with its PyTorch twin (train_lm_torch.py) from the
same initial weights on the same batches, one after the other, and prints the validation-loss curves
side by side, the final ratio (Born / PyTorch) and the tokens/s of both.

  python3 bench/validation/train_lm_compare.py [TEXT] [--born build/born] [--out build/trainlm-run]
        [--layers 6 --dim 384 --heads 6 --context 256 --steps 300 --batch 8 --threads 2 ...]
  python3 bench/validation/train_lm_compare.py --table-only --out DIR   (just the table of DIR's CSVs)

TEXT defaults to the King James Bible from the Debian package bible-kjv, written to
build/trainlm-data/kjv.txt when missing (`bible -f gen1:1-rev22:21`, 4,404,412 bytes with
bible-kjv 4.38).
"""
import argparse
import csv
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
KJV = os.path.join(ROOT, "build", "trainlm-data", "kjv.txt")

# options passed to both sides unchanged
SHARED = ["steps", "batch", "lr", "min_lr", "warmup", "weight_decay", "beta1", "beta2", "clip", "seed",
          "threads", "eval_every", "eval_windows"]
MODEL = ["arch", "layers", "heads", "kv_heads", "dim", "context"]


def kjv_text():
    if not os.path.exists(KJV):
        os.makedirs(os.path.dirname(KJV), exist_ok=True)
        with open(KJV + ".tmp", "wb") as f:
            subprocess.run(["bible", "-f", "gen1:1-rev22:21"], stdout=f, check=True)
        os.replace(KJV + ".tmp", KJV)
    return KJV


def flags(a, names):
    out = []
    for n in names:
        v = getattr(a, n)
        if v is not None:
            out += ["--" + n.replace("_", "-"), str(v)]
    return out


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    val = {int(r["step"]): float(r["val_loss"]) for r in rows if r["val_loss"]}
    last = [r for r in rows if r["tokens_per_s"]]
    tps = float(last[-1]["tokens_per_s"]) if last else float("nan")
    train = {int(r["step"]): float(r["train_loss"]) for r in rows if r["train_loss"]}
    return val, train, tps


def table(out):
    bv, bt, btps = read_csv(os.path.join(out, "born.csv"))
    tv, tt, ttps = read_csv(os.path.join(out, "torch.csv"))
    print(f"{'step':>6} {'Born val':>10} {'PyTorch val':>12} {'ratio':>7}   {'Born train':>10} {'PyTorch train':>13}")
    for s in sorted(set(bv) & set(tv)):
        bts = f"{bt[s]:10.4f}" if s in bt else " " * 10
        tts = f"{tt[s]:13.4f}" if s in tt else " " * 13
        print(f"{s:6d} {bv[s]:10.4f} {tv[s]:12.4f} {bv[s] / tv[s]:7.4f}   {bts} {tts}")
    final = max(set(bv) & set(tv))
    ratio = bv[final] / tv[final]
    print(f"final (step {final}): Born {bv[final]:.4f}, PyTorch {tv[final]:.4f}, ratio {ratio:.4f} "
          f"({100 * abs(ratio - 1):.2f}% apart; {'within' if abs(ratio - 1) <= 0.02 else 'NOT within'} 2%)")
    print(f"training tokens/s: Born {btps:.0f}, PyTorch {ttps:.0f} (Born / PyTorch {btps / ttps:.2f}x)")
    return ratio


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text", nargs="?")
    ap.add_argument("--born", default=os.path.join(ROOT, "build", "born"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "trainlm-run"))
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--parallel", action="store_true",
                    help="run both at once (each with --threads), so that both see the same machine load")
    ap.add_argument("--arch", default="gpt2")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", dest="kv_heads", type=int)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", dest="min_lr", type=float)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--weight-decay", dest="weight_decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", dest="eval_every", type=int, default=25)
    ap.add_argument("--eval-windows", dest="eval_windows", type=int, default=32)
    ap.add_argument("--sample-tokens", dest="sample_tokens", type=int, default=200)
    a = ap.parse_args()
    if a.table_only:
        table(a.out)
        return
    text = a.text or kjv_text()
    os.makedirs(a.out, exist_ok=True)
    init = os.path.join(a.out, "init.safetensors")
    if os.path.exists(init):
        os.remove(init)
    born = [a.born, "train-lm", text, "--init-out", init, "--log", os.path.join(a.out, "born.csv"),
            "--save", os.path.join(a.out, "born_lm.born"), "--sample-tokens", str(a.sample_tokens)]
    born += flags(a, MODEL + SHARED)
    torch_cmd = [sys.executable, os.path.join(HERE, "train_lm_torch.py"), text, "--init", init,
                 "--log", os.path.join(a.out, "torch.csv")] + flags(a, SHARED)
    runs = (("Born", born, "born.out"), ("PyTorch", torch_cmd, "torch.out"))
    if a.parallel:
        # Born writes the initial weights that PyTorch starts from: a run of Born with --steps 1
        # would draw the same ones, but it is simpler to wait for the file
        procs = []
        for name, cmd, log in runs:
            print(f"=== {name}: {' '.join(cmd)}  (output in {os.path.join(a.out, log)})", flush=True)
            if name == "PyTorch":
                while not os.path.exists(init):
                    time.sleep(1)
            procs.append((name, subprocess.Popen(cmd, stdout=open(os.path.join(a.out, log), "w"),
                                                 stderr=subprocess.STDOUT), time.time()))
        print(f"    started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load {os.getloadavg()[0]:.2f}", flush=True)
        for name, p, t0 in procs:
            if p.wait() != 0:
                sys.exit(f"{name} failed: see {a.out}")
            print(f"=== {name}: {time.time() - t0:.0f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
    else:
        for name, cmd, log in runs:
            print(f"=== {name}: {' '.join(cmd)}", flush=True)
            print(f"    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load {os.getloadavg()[0]:.2f}", flush=True)
            t0 = time.time()
            subprocess.run(cmd, check=True)
            print(f"=== {name}: {time.time() - t0:.0f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
    table(a.out)


if __name__ == "__main__":
    main()
