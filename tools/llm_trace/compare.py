#!/usr/bin/env python3
"""Compares llama.cpp's intermediates (lcdump.c) with Born's (borndump.c), op by op, for one step
and some layers: how many values differ, by how many units in the last place, and the largest
difference. The first op that differs by more than an f32 rounding is where the arithmetic parts.

    compare.py LLAMA_DIR BORN_DIR [STEP [LAYERS]]     e.g. compare.py lc born 0 0,1,29

Names: Born's Qcur_mm/Kcur_mm (the products) are llama.cpp's first Qcur/Kcur of a layer, Born's
Qcur/Kcur (after RoPE) its third (#3)."""
import numpy as np, sys, os
L, B = sys.argv[1], sys.argv[2]
step = int(sys.argv[3]) if len(sys.argv) > 3 else 0
layers = [int(x) for x in sys.argv[4].split(',')] if len(sys.argv) > 4 else [0]
def load(path):
    if not os.path.exists(path): return None
    ne = np.fromfile(path, dtype=np.int64, count=4)
    return np.fromfile(path, dtype=np.float32, offset=32).reshape(-1)
def ulps(a, b):
    ai = a.view(np.int32).astype(np.int64); bi = b.view(np.int32).astype(np.int64)
    ai = np.where(ai < 0, -(ai & 0x7fffffff), ai); bi = np.where(bi < 0, -(bi & 0x7fffffff), bi)
    return np.abs(ai - bi)
def cmp(name, lname, bname):
    a = load(f"{L}/s{step}_{lname}.bin"); b = load(f"{B}/s{step}_{bname}.bin")
    if a is None or b is None: print(f"{name:16s} missing {lname if a is None else ''} {bname if b is None else ''}"); return
    if a.size != b.size: print(f"{name:16s} size {a.size} vs {b.size}"); return
    d = np.abs(a.astype(np.float64) - b); u = ulps(a, b)
    print(f"{name:16s} n={a.size:8d} differ={np.count_nonzero(u):8d} ({100*np.count_nonzero(u)/a.size:5.1f}%) maxulp={u.max():8d} maxabs={d.max():.3e} rel={d.max()/max(np.abs(a).max(),1e-30):.2e}")
cmp("embd", "embd", "embd")
for l in layers:
    for nm, ln in [("attn_norm","attn_norm"),("Qcur_mm","Qcur"),("Kcur_mm","Kcur"),("Vcur","Vcur"),("Qcur","Qcur#3"),("Kcur","Kcur#3"),
                   ("kqv_out","kqv_out"),("attn_out","attn_out"),("ffn_inp","ffn_inp"),("ffn_norm","ffn_norm"),("ffn_gate","ffn_gate"),
                   ("ffn_up","ffn_up"),("ffn_swiglu","ffn_swiglu"),("ffn_out","ffn_out"),("l_out","l_out")]:
        cmp(f"{nm}-{l}", (f"{ln[:-2]}-{l}{ln[-2:]}" if "#" in ln else f"{ln}-{l}"), f"{nm}-{l}")
cmp("result_norm", "result_norm", "result_norm")
