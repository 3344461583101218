#!/usr/bin/env python3
"""Medians of bench/onnx_rounds.sh's rounds: per model and thread count, onnxruntime's median and
fastest-run times, and per Born binary its median time and the medians of the rounds' ratios
(wall, CPU time, fastest run).

    python3 bench/onnx_rounds_median.py rounds.txt
"""
import collections
import statistics as st
import sys


def main():
    ort, ortm = collections.defaultdict(list), collections.defaultdict(list)
    born, rat, crat, bmin, mrat = (collections.defaultdict(list) for _ in range(5))
    order = []
    for line in open(sys.argv[1]):
        f = line.split()
        if not f:
            continue
        if f[0] == "ORT":
            k = (f[1], f[2])
            ort[k].append(float(f[3]))
            if len(f) > 5:
                ortm[k].append(float(f[5]))
        elif f[0] == "BORN" and len(f) >= 13 and f[5] != "-":
            k = (f[1], f[2], f[3])
            if f[1] not in order:
                order.append(f[1])
            born[k].append(float(f[4]))
            rat[k].append(float(f[6]))
            crat[k].append(float(f[9]))
            bmin[k].append(float(f[10]))
            mrat[k].append(float(f[12]))
    print(f"{'model':11s} {'th':>2s} {'ort ms':>8s} {'ort min':>8s}" +
          "".join(f" | {b[-24:]:24s} {'ms':>7s} {'ratio':>6s} {'cpuR':>6s} {'min':>7s} {'minR':>6s}"
                  for b in order))
    for key in sorted(ort):
        row = f"{key[0]:11s} {key[1]:>2s} {st.median(ort[key]):8.3f} "
        row += f"{st.median(ortm[key]):8.3f}" if ortm[key] else f"{'-':>8s}"
        for b in order:
            k = (b,) + key
            if k in born:
                row += (f" | {'':24s} {st.median(born[k]):7.3f} {st.median(rat[k]):6.3f} "
                        f"{st.median(crat[k]):6.3f} {st.median(bmin[k]):7.3f} {st.median(mrat[k]):6.3f}")
        print(row)
    print(f"{len(next(iter(ort.values()), []))} rounds")


if __name__ == "__main__":
    main()
