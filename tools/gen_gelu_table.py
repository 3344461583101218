#!/usr/bin/env python3
"""The piecewise polynomial of the AVX-512 gelu (erf) kernel (src/backend/cpu/vmath_avx512.h).

Run by hand from the repository root:  python3 tools/gen_gelu_table.py
It writes src/backend/cpu/gelu_table.c (numpy and Python's math only).

The kernel computes Phi(-t) = exp(-t^2 / 2) h(t) for t = |x| in [0, 12], where
h(t) = erfc(t / sqrt 2) exp(t^2 / 2) / 2 (half the scaled complementary error function). h is
smooth and falls from 0.5 to ~0.033 on [0, 12]; it is fitted here by one polynomial of degree
DEGREE in s = t - centre on each of 16 intervals: t + 1 in [1, 16) cut into four equal parts per
binade ([0, 0.25), ..., [0.75, 1), [1, 1.5), ..., [3, 4), [4, 5), ..., [7, 9), ..., [13, 15)),
so that the interval's number is bits 21-24 of t + 1 as an f32 (its exponent's two low bits and
the mantissa's two high bits), one shift, and every coefficient is one 16-lane permute. The
table is stored by that 4-bit number: interval j sits in slot (j + 12) mod 16, because the
exponent of 1.0 (127) contributes 508 mod 16 = 12.

Each interval's coefficients are fitted for the relative error (Lawson's iteration over 800
Chebyshev points, from a least-squares start) and rounded to f32 one at a time from the
constant up, the rest refitted after each rounding, so that the later coefficients absorb the
earlier ones' rounding. The comment the file starts with gives each interval's worst relative
error of the f32 Horner evaluation, in units of 2^-24.

The kernel's near path (|x| < 4, where nearly every activation falls) takes no exponential: it
reads Phi(-t) itself, and for the gradient Phi(-t) - t phi(t) (the gradient Phi(x) + x phi(x) at
x = -t, one minus it at x = t; fitted for the error relative to the terms' size Phi(-t) + t phi(t),
since it crosses zero near t = 0.75), from polynomials of the same degree on 16
intervals of q = t (t / 2 + 2) ([0, 1), [1, 2), ..., [15, 16); q = 16 at t = 4), so that the
interval's number is the low four bits of (q + 16 as an f32) >> 19: the intervals narrow from
t in [0, 0.45) to [3.87, 4) as the functions' relative slope (about t) grows (t^2 alone left the
first one [0, 1), too wide for degree 5). They are fitted the same way (relative error) in
s = t - centre.
"""
import math
import os

import numpy as np

DEGREE = 5
INTERVALS = 16


def h(t):
    return 0.5 * math.erfc(t / math.sqrt(2.0)) * math.exp(t * t / 2.0)


def tail(t):
    """Phi(-t), the normal distribution's upper tail."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


def density(t):
    """phi(t), the normal density."""
    return math.exp(-t * t / 2.0) / math.sqrt(2.0 * math.pi)


def slope(t):
    """Phi(-t) - t phi(t): the gelu gradient Phi(x) + x phi(x) at x = -t, and 1 minus it at t."""
    return tail(t) - t * density(t)


def slope_terms(t):
    """The size of the gradient's terms, Phi(-t) + t phi(t), that its error is measured against
    (the two cancel near t = 0.75, where no f32 evaluation does better)."""
    return tail(t) + t * density(t)


def f32(v):
    return float(np.float32(v))


def bounds():
    out = []
    for binade in range(4):
        for quarter in range(4):
            out.append(2.0**binade * (1.0 + quarter / 4.0) - 1.0)
    out.append(15.0)
    return out


def lawson(a, y, fixed, scale, iterations=60):
    """Coefficients c minimising max |(fixed + a c - y) / scale| (Lawson's reweighting)."""
    w = np.ones(len(y)) / len(y)
    c = None
    for _ in range(iterations):
        sw = np.sqrt(w)
        c = np.linalg.lstsq(a / scale[:, None] * sw[:, None], (y - fixed) / scale * sw,
                            rcond=None)[0]
        err = np.abs((fixed + a @ c - y) / scale)
        w = w * (err + 1e-30)
        w /= w.sum()
    return c


def horner_f32(coef, s):
    acc = np.full(s.shape, coef[-1], dtype=np.float64)
    for k in range(len(coef) - 2, -1, -1):
        acc = (acc * s + coef[k]).astype(np.float32).astype(np.float64)
    return acc


def near_bounds():
    """t where t (t / 2 + 2) = 0, 1, ..., 16."""
    return [-2.0 + math.sqrt(4.0 + 2.0 * i) for i in range(INTERVALS + 1)]


def fit_interval(lo, hi, func=h, centre=None, size=None, c0=None):
    """The interval's centre, coefficients and worst error of the f32 evaluation in units of
    2^-24 of size(t) (func(t) itself by default: relative error); c0, if given, is the constant."""
    size = size or func
    pad = max(1e-5 * (hi - lo), 2e-6)  # t + 1 (t^2 + 16) rounds: a t just outside may land here
    lo, hi = lo - pad, hi + pad
    if centre is None:
        centre = f32((lo + hi) / 2.0)
    n = 800
    t = (lo + hi) / 2.0 + np.cos(np.pi * (np.arange(n) + 0.5) / n) * (hi - lo) / 2.0
    s = np.array([f32(f32(v) - centre) for v in t])
    y = np.array([func(v) for v in s + centre])
    scale = np.array([abs(size(v)) for v in s + centre])
    fixed = np.zeros(n)
    coef = []
    for k in range(DEGREE + 1):
        a = np.vander(s, DEGREE + 1, increasing=True)[:, k:]
        ck = f32(c0) if k == 0 and c0 is not None else f32(lawson(a, y, fixed, scale)[0])
        coef.append(ck)
        fixed = fixed + ck * s**k
    tt = np.linspace(lo, hi, 20001)
    ss = np.array([f32(f32(v) - centre) for v in tt])
    yy = np.array([func(v) for v in ss + centre])
    sz = np.array([abs(size(v)) for v in ss + centre])
    worst = float(np.max(np.abs((horner_f32(coef, ss) - yy) / sz)) / 2.0**-24)
    return centre, coef, worst


def c_float(v):
    text = "%.9g" % v
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def write_table(f, name, rows, table):
    f.write("_Alignas(64) const float %s[%s][16] = {\n" % (name, rows))
    for row in table:
        cells = [c_float(v) for v in row]
        lines = [", ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]
        f.write("    {" + ",\n     ".join(lines) + "},\n")
    f.write("};\n")


def near_tables():
    """Rows: the centres, Phi(-t)'s coefficients, then Phi(-t) - t phi(t)'s; slot j: t (t / 2 + 2)
    in [j, j + 1)."""
    nb = near_bounds()
    table = [[0.0] * INTERVALS for _ in range(2 * DEGREE + 3)]
    worst_tail, worst_density = [], []
    for j in range(INTERVALS):
        # the first interval from t = 0 itself: s = t exactly and both constants exactly 0.5 (the
        # values at 0), so that small inputs (gelu about x / 2, its gradient about 0.5 + x / 1.25)
        # are not off by the minimax's error at the end of the interval
        first = j == 0
        centre, coef, w = fit_interval(nb[j], nb[j + 1], tail, 0.0 if first else None,
                                       c0=0.5 if first else None)
        _, dcoef, dw = fit_interval(nb[j], nb[j + 1], slope, centre, slope_terms,
                                    c0=0.5 if first else None)
        table[0][j] = centre
        for k in range(DEGREE + 1):
            table[k + 1][j] = coef[k]
            table[k + DEGREE + 2][j] = dcoef[k]
        worst_tail.append(w)
        worst_density.append(dw)
    return table, worst_tail, worst_density


def main():
    b = bounds()
    table = [[0.0] * INTERVALS for _ in range(DEGREE + 2)]  # row 0: centres, then c0..cD
    worst = []
    for j in range(INTERVALS):
        centre, coef, w = fit_interval(b[j], b[j + 1])
        slot = (j + 12) % INTERVALS
        table[0][slot] = centre
        for k, c in enumerate(coef):
            table[k + 1][slot] = c
        worst.append(w)
    near, near_tail, near_density = near_tables()
    out = os.path.join("src", "backend", "cpu", "gelu_table.c")
    with open(out, "w") as f:
        f.write("/* Generated by tools/gen_gelu_table.py: the AVX-512 gelu kernel's piecewise\n"
                " * polynomial (gelu_table.h). Worst relative error of each interval's f32\n"
                " * evaluation against h(t), in units of 2^-24, intervals in order of t:\n *  ")
        f.write(" ".join("%.2f" % w for w in worst) + "\n")
        f.write(" * The near path's Phi(-t) (relative) and Phi(-t) - t phi(t) (of Phi(-t) + t phi(t)),\n"
                " * intervals t (t / 2 + 2) in [0, 1), ..., [15, 16):\n *  ")
        f.write(" ".join("%.2f" % w for w in near_tail) + "\n *  ")
        f.write(" ".join("%.2f" % w for w in near_density) + "\n */\n")
        f.write('#include "backend/cpu/gelu_table.h"\n\n')
        write_table(f, "cpu_gelu_table", "CPU_GELU_TABLE_ROWS", table)
        f.write("\n")
        write_table(f, "cpu_gelu_near_table", "CPU_GELU_NEAR_ROWS", near)
    print("wrote %s (worst %.2f units of 2^-24; near %.2f and %.2f)" %
          (out, max(worst), max(near_tail), max(near_density)))


if __name__ == "__main__":
    main()
