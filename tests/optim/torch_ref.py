# Writes tests/optim/torch_ref.h: PyTorch's parameter trajectories, learning-rate sequences and
# clip_grad_norm_ results that tests/optim/ compare Born against. Run from the repository root:
#     python3 tests/optim/torch_ref.py > tests/optim/torch_ref.h
import math

import torch

STEPS = 10
NVALS = 9  # w (2x2), b (2), z (3) after each step

AW, CW = [1.0, 2.0, 0.5, 3.0], [1.0, -2.0, 0.0, 0.5]
AB, CB = [1.5, 0.25], [-1.0, 2.0]
AZ, CZ = [0.7, 1.3, 2.1], [0.3, 0.1, -0.4]
W0, B0, Z0 = [0.5, -1.0, 1.5, 2.0], [0.25, -0.75], [1.0, -2.0, 0.5]
Z_FROM = 4  # z gets a gradient from this step on (its state starts late)

SGD, ADAM, ADAMW, RMSPROP = "BORN_OPTIMIZER_SGD", "BORN_OPTIMIZER_ADAM", "BORN_OPTIMIZER_ADAMW", "BORN_OPTIMIZER_RMSPROP"
CASES = [
    ("sgd_plain", SGD, dict(lr=0.1)),
    ("sgd_momentum", SGD, dict(lr=0.05, momentum=0.9)),
    ("sgd_dampening", SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd_wd_maximize", SGD, dict(lr=0.02, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("sgd_wd", SGD, dict(lr=0.1, weight_decay=0.05)),
    ("adam_default", ADAM, dict(lr=0.1)),
    ("adam_amsgrad", ADAM, dict(lr=0.1, amsgrad=True)),
    ("adam_wd", ADAM, dict(lr=0.05, weight_decay=0.1)),
    ("adam_maximize", ADAM, dict(lr=0.05, maximize=True)),
    ("adam_small_betas", ADAM, dict(lr=0.1, betas=(0.3, 0.5))),
    ("adam_all", ADAM, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.2, amsgrad=True, maximize=True)),
    ("adamw_default", ADAMW, dict(lr=0.1)),
    ("adamw_amsgrad", ADAMW, dict(lr=0.1, weight_decay=0.5, amsgrad=True)),
    ("adamw_maximize", ADAMW, dict(lr=0.05, weight_decay=0.3, maximize=True)),
    ("rmsprop_default", RMSPROP, dict(lr=0.01)),
    ("rmsprop_centered", RMSPROP, dict(lr=0.01, centered=True)),
    ("rmsprop_momentum", RMSPROP, dict(lr=0.01, momentum=0.9)),
    ("rmsprop_all", RMSPROP, dict(lr=0.005, alpha=0.9, eps=1e-4, weight_decay=0.1, momentum=0.5, centered=True, maximize=True)),
    ("rmsprop_small_alpha", RMSPROP, dict(lr=0.01, alpha=0.3, centered=True)),
]
CTORS = {SGD: torch.optim.SGD, ADAM: torch.optim.Adam, ADAMW: torch.optim.AdamW, RMSPROP: torch.optim.RMSprop}


def trajectory(kind, kw, dtype):
    t = lambda v: torch.tensor(v, dtype=dtype)
    w = t(W0).reshape(2, 2).requires_grad_()
    b, z = t(B0).requires_grad_(), t(Z0).requires_grad_()
    opt = CTORS[kind]([w, b, z], foreach=False, **kw)
    out = []
    for step in range(1, STEPS + 1):
        opt.zero_grad(set_to_none=True)
        loss = (t(AW).reshape(2, 2) * (w - t(CW).reshape(2, 2)) ** 2).sum() + (t(AB) * (b - t(CB)) ** 2).sum()
        if step >= Z_FROM:
            loss = loss + (t(AZ) * (z - t(CZ)) ** 2).sum()
        loss.backward()
        opt.step()
        out += w.detach().flatten().tolist() + b.detach().tolist() + z.detach().tolist()
    return out


def c_params(kind, kw):
    """The C initializer of the case's params struct."""
    if kind == SGD:
        d = dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False) | kw
        return ".sgd = {%r, %r, %r, %r, %s, %s}" % (d["lr"], float(d["momentum"]), float(d["dampening"]), float(d["weight_decay"]), str(d["nesterov"]).lower(), str(d["maximize"]).lower())
    if kind in (ADAM, ADAMW):
        d = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0 if kind == ADAM else 1e-2, amsgrad=False, maximize=False) | kw
        return ".adam = {%r, {%r, %r}, %r, %r, %s, %s}" % (d["lr"], *d["betas"], d["eps"], float(d["weight_decay"]), str(d["amsgrad"]).lower(), str(d["maximize"]).lower())
    d = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False) | kw
    return ".rmsprop = {%r, %r, %r, %r, %r, %s, %s}" % (d["lr"], d["alpha"], d["eps"], float(d["weight_decay"]), float(d["momentum"]), str(d["centered"]).lower(), str(d["maximize"]).lower())


def lr_sequence(make_opt, make_sched, steps=50):
    p = torch.zeros(1, requires_grad=True)
    opt = make_opt([p])
    s = make_sched(opt)
    g = opt.param_groups[0]
    mom = lambda: g["betas"][0] if "betas" in g else g["momentum"]
    lrs, moms = [g["lr"]], [mom()]
    for _ in range(steps):
        opt.step()
        s.step()
        lrs.append(g["lr"])
        moms.append(mom())
    return lrs, moms


S = torch.optim.lr_scheduler
SCHEDULES = [
    ("step", lambda ps: torch.optim.SGD(ps, lr=0.1), lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    ("cosine", lambda ps: torch.optim.SGD(ps, lr=0.1), lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
    ("linear", lambda ps: torch.optim.SGD(ps, lr=0.1), lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10)),
    ("linear_down", lambda ps: torch.optim.Adam(ps, lr=0.05), lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=30)),
    ("one_cycle_cos", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=50)),
    ("one_cycle_linear_3", lambda ps: torch.optim.Adam(ps, lr=1e-3), lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=50, pct_start=0.25, anneal_strategy="linear", three_phase=True)),
    ("one_cycle_no_momentum", lambda ps: torch.optim.RMSprop(ps, lr=0.01), lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=50, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0)),
    ("warmup_cosine", lambda ps: torch.optim.SGD(ps, lr=0.1), lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=5), S.CosineAnnealingLR(o, T_max=45, eta_min=1e-4)], milestones=[5])),
    ("sequential_3", lambda ps: torch.optim.SGD(ps, lr=0.2), lambda o: S.SequentialLR(o, [S.StepLR(o, 3, 0.5), S.LinearLR(o, 0.5, 1.0, 4), S.CosineAnnealingLR(o, 10, 0.0)], milestones=[6, 20])),
]


def clip_reference():
    rows = []
    for dtype, dname in ((torch.float64, "f64"), (torch.float32, "f32")):
        for norm_type, max_norm in ((2.0, 5.0), (math.inf, 5.0), (1.0, 7.5), (3.0, 2.0), (2.0, 100.0)):
            a = torch.zeros(2, 2, dtype=dtype, requires_grad=True)
            b = torch.zeros(3, dtype=dtype, requires_grad=True)
            a.grad = torch.tensor([[3.0, -4.0], [1.0, 2.5]], dtype=dtype)
            b.grad = torch.tensor([0.5, -12.0, 0.25], dtype=dtype)
            total = torch.nn.utils.clip_grad_norm_([a, b], max_norm, norm_type=norm_type, foreach=False)
            rows.append((dname, norm_type, max_norm, total.item(), a.grad.flatten().tolist() + b.grad.tolist()))
    return rows


def fmt(vals, per_line=4, digits=17):
    """Doubles as C literals; f32 values need only 9 significant digits to round-trip."""
    lines = []
    num = lambda v: (repr(v) if digits == 17 else "%.*g" % (digits, v)) if math.isfinite(v) else ("INFINITY" if v > 0 else "-INFINITY")
    for i in range(0, len(vals), per_line):
        lines.append("    " + ", ".join(num(float(v)) for v in vals[i:i + per_line]) + ",")
    return "\n".join(lines)


def main():
    torch.set_default_dtype(torch.float32)
    open_c, close_c = "/" + "*", "*" + "/"  # not spelled out: this file is pasted into the comment
    print(open_c + " Generated by tests/optim/torch_ref.py with torch %s; do not edit. The script:" % torch.__version__)
    print()
    for line in open(__file__).read().splitlines():
        print("   " + line if line else "")
    print(close_c)
    print("#ifndef BORN_TESTS_OPTIM_TORCH_REF_H\n#define BORN_TESTS_OPTIM_TORCH_REF_H\n")
    print("#include <math.h>\n\n#include \"born/optim.h\"\n")
    print("enum { REF_STEPS = %d, REF_NVALS = %d, REF_Z_FROM = %d };\n" % (STEPS, NVALS, Z_FROM))
    for name, arr in (("AW", AW), ("CW", CW), ("AB", AB), ("CB", CB), ("AZ", AZ), ("CZ", CZ), ("W0", W0), ("B0", B0), ("Z0", Z0)):
        print("static const double REF_%s[%d] = {%s};" % (name, len(arr), ", ".join(repr(v) for v in arr)))
    print()
    print("typedef struct ref_case {\n    const char *name;\n    born_optimizer_kind kind;\n    born_sgd_params sgd;\n    born_adam_params adam;\n    born_rmsprop_params rmsprop;\n    double f64[REF_STEPS * REF_NVALS];\n    double f32[REF_STEPS * REF_NVALS];\n} ref_case;\n")
    print("static const ref_case REF_CASES[] = {")
    for name, kind, kw in CASES:
        print("{\"%s\", %s, %s,\n  .f64 = {\n%s\n  },\n  .f32 = {\n%s\n  }}," % (name, kind, c_params(kind, kw), fmt(trajectory(kind, kw, torch.float64), 3), fmt(trajectory(kind, kw, torch.float32), 6, 9)))
    print("};\n")
    print("typedef struct ref_schedule {\n    const char *name;\n    double lr[51];\n    double momentum[51];\n} ref_schedule;\n")
    print("static const ref_schedule REF_SCHEDULES[] = {")
    for name, mo, ms in SCHEDULES:
        lrs, moms = lr_sequence(mo, ms)
        print("{\"%s\",\n  .lr = {\n%s\n  },\n  .momentum = {\n%s\n  }}," % (name, fmt(lrs, 3), fmt(moms, 3)))
    print("};\n")
    print("typedef struct ref_clip {\n    born_dtype dtype;\n    double norm_type, max_norm, total;\n    double grads[7];\n} ref_clip;\n")
    print("static const ref_clip REF_CLIPS[] = {")
    for dname, nt, mn, total, grads in clip_reference():
        print("{BORN_%s, %s, %r, %r, {%s}}," % (dname.upper(), "INFINITY" if math.isinf(nt) else repr(nt), mn, total, ", ".join(repr(v) for v in grads)))
    print("};\n")
    print("#endif")


main()
