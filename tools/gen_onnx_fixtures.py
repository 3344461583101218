#!/usr/bin/env python3
"""Fixtures for Born's ONNX importer, built with the onnx package and run with onnxruntime.

Run by hand from the repository root:  python3 tools/gen_onnx_fixtures.py
(pip install onnx onnxruntime). It writes tests/fixtures/onnx/:
  small.onnx + small.weights   MatMul(x, Cast(W f16)) + b (b in an external data file), Relu
  small_x.npy, small_y.npy     an input and onnxruntime's output for it
  cycle.onnx                   two nodes that read each other's outputs (must be refused)
  unknown_op.onnx              a node of an op type that does not exist (must be refused)
  fused.onnx, fused_x/y.npy    Conv+BatchNorm+Relu, depthwise Conv+Clip, MatMul+Add whose bias is
                               computed from Constant nodes: what the load-time passes fold and fuse
  epilogue.onnx, epilogue_x/y.npy  Conv, Mul and Add by scalars, HardSwish written as Add, Clip,
                               Mul, Div (as PaddleOCR exports it), Mul, Add: fused into the conv
                               (alone with --epilogue)
  convt.onnx, convt_x/y.npy     PaddleOCR det's head: ConvTranspose, Add of a [1, M, 1, 1] bias,
                               BatchNormalization, Relu, ConvTranspose, Add, Sigmoid: the bias,
                               normalization and Relu fused into the first (alone with --convt)
  se_residual.onnx, se_residual_{x,s,t,y1,y2}.npy  x + x * s (PaddleOCR det's neck: Mul by one value
                               per channel, then Add of x) and x + t * x with t broadcast over the
                               channels: each Mul + Add made one step (alone with --se)
  resize_add.onnx, resize_add_{x,a,b,c,y1,y2,y3,y4}.npy  Add(a, Resize(x)) by 2 (det's FPN neck),
                               Add(Resize(x) by 3 along W only, b), Add(c, Resize(x)) with c
                               broadcast (the fused step's fallback through the Add), and a Resize
                               by 4 read by the Add and another node (not fused) (alone with
                               --resize-add)
  lstm.onnx, lstm_{x1,h1,c1,x2}.npy, lstm_out_{0..5}.npy  two LSTMs with initializer weights (packed
                               at load): bidirectional with bias and peepholes, H = 5 (gate rows
                               not a multiple of 8), and forward with H = 96;
                               onnxruntime's outputs (alone with --lstm)
  shape_memo.onnx              y = x * Cast(Gather(Shape(x), 1)): shape work that the executor
                               remembers between runs (alone with --lstm)
  bad_matmul.onnx, bad_add.onnx  shapes that cannot fit (refused at load, naming the node);
  sym_add.onnx                 symbolic dims with different names (loads)
With --models it also writes tests/fixtures/onnx/models/<name>_{in_*,out_*}.npy: random inputs
for the real models in ../shared/data/onnx-models and onnxruntime's outputs on them, and
ppocr_det_ref_0.npy (also alone with --det-ref): the detector's output as the exact logistic of
onnxruntime's last logits. onnxruntime's f32 Sigmoid (MLAS) has an absolute error of ~1.2e-7;
random inputs drive the detector's logits to -42..-7, where the outputs are ~1e-7 and that error
alone is a relative L2 error of 7.9e-4, while every op before it matches a float64 run within 1e-6
(docs/formats/onnx.md). Born is checked against this reference at 1e-4 and against onnxruntime's
own output at 1e-3.
With --node-tests DIR it writes the installed onnx package's node test cases (its wheel carries
the generators, not the data) as DIR/node/test_*/ folders for build/onnx_conformance; cases whose
data are sequences or optionals get no .pb files for them.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join("tests", "fixtures", "onnx")


def small():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4)).astype(np.float16)
    b = rng.standard_normal(4).astype(np.float32)
    wt = numpy_helper.from_array(w, "W")
    bt = numpy_helper.from_array(b, "b")
    bt.ClearField("raw_data")
    bt.data_location = TensorProto.EXTERNAL
    with open(os.path.join(OUT, "small.weights"), "wb") as f:
        f.write(b"\0" * 16)
        f.write(b.tobytes())
    for k, v in (("location", "small.weights"), ("offset", "16"), ("length", str(b.nbytes))):
        e = bt.external_data.add()
        e.key, e.value = k, v
    nodes = [
        helper.make_node("Cast", ["W"], ["Wf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("MatMul", ["x", "Wf"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["h2"], name="add"),
        helper.make_node("Relu", ["h2"], ["y"], name="relu"),
    ]
    g = helper.make_graph(nodes, "small",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
                          [wt, bt])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "small.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.save(os.path.join(OUT, "small_x.npy"), x)
    np.save(os.path.join(OUT, "small_y.npy"), y)


def cycle():
    nodes = [helper.make_node("Relu", ["a"], ["b"], name="first"),
             helper.make_node("Relu", ["b"], ["a"], name="second")]
    g = helper.make_graph(nodes, "cycle", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(OUT, "cycle.onnx"))
    nodes = [helper.make_node("NoSuchOp", ["x"], ["y"], name="mystery")]
    g = helper.make_graph(nodes, "unknown", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(OUT, "unknown_op.onnx"))


def fused():
    rng = np.random.default_rng(5)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = [numpy_helper.from_array(f(4, 3, 3, 3) * 0.3, "w1"), numpy_helper.from_array(f(4), "b1"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "gamma"),
             numpy_helper.from_array(f(4), "beta"), numpy_helper.from_array(f(4) * 0.1, "mean"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "var"),
             numpy_helper.from_array(f(4, 1, 3, 3), "w2"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(0.8, np.float32), "hi"),
             numpy_helper.from_array(f(64, 5) * 0.2, "w3")]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["n1"],
                         epsilon=1e-3, name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], group=4,
                         name="dwconv"),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="clip"),
        helper.make_node("Flatten", ["r2"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "w3"], ["mm"], name="mm"),
        helper.make_node("Constant", [], ["bc"], value=numpy_helper.from_array(f(5), "bc"), name="bconst"),
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2, np.float32), "two"),
                         name="two"),
        helper.make_node("Mul", ["bc", "two"], ["b3"], name="bias"),
        helper.make_node("Add", ["mm", "b3"], ["y"], name="add"),
    ]
    g = helper.make_graph(nodes, "fused",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "fused.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = f(1, 3, 8, 8)
    y = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.save(os.path.join(OUT, "fused_x.npy"), x)
    np.save(os.path.join(OUT, "fused_y.npy"), y)


def shapes():
    vi = helper.make_tensor_value_info
    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="proj")], "bad_matmul",
                          [vi("x", TensorProto.FLOAT, ["batch", 3])], [vi("y", TensorProto.FLOAT, None)], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(OUT, "bad_matmul.onnx"))
    for name, a, b in (("bad_add", ["n", 3], ["n", 4]), ("sym_add", ["n", 3], ["m", 3])):
        g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"], name="sum")], name,
                              [vi("a", TensorProto.FLOAT, a), vi("b", TensorProto.FLOAT, b)],
                              [vi("c", TensorProto.FLOAT, None)])
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(OUT, name + ".onnx"))


MODELS = {
    "ppocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": ((1, 3, 48, 192), "f")}),
    "ppocr_det": ("ch_PP-OCRv4_det_infer.onnx", {"x": ((1, 3, 160, 160), "n")}),
    "silero_vad": ("silero_vad_v5.onnx", {"input": ((1, 512), "f"), "state": ((2, 1, 128), "z"),
                                          "sr": ((), "sr")}),
}


def models():
    import onnxruntime as ort
    src = os.path.join("..", "shared", "data", "onnx-models")
    out = os.path.join(OUT, "models")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    for name, (fname, inputs) in MODELS.items():
        feed = {}
        for k, (shape, kind) in inputs.items():
            if kind == "f":
                feed[k] = rng.standard_normal(shape).astype(np.float32) * 0.5
            elif kind == "n":
                # unit scale: with smaller inputs the detector's sigmoid saturates near 0, where
                # onnxruntime's own optimized and unoptimized runs differ by more than 1e-4
                feed[k] = rng.standard_normal(shape).astype(np.float32)
            elif kind == "z":
                feed[k] = np.zeros(shape, np.float32)
            else:
                feed[k] = np.array(16000, np.int64)
        sess = ort.InferenceSession(os.path.join(src, fname), providers=["CPUExecutionProvider"])
        res = sess.run(None, feed)
        for i, (k, v) in enumerate(feed.items()):
            np.save(os.path.join(out, f"{name}_in_{i}_{k}.npy"), v)
        for i, (o, v) in enumerate(zip(sess.get_outputs(), res)):
            np.save(os.path.join(out, f"{name}_out_{i}.npy"), v)


def node_tests(root):
    import onnx.backend.test.case.node as node
    out = os.path.join(root, "node")
    os.makedirs(out, exist_ok=True)

    def save(v, name, path):
        if v is None or isinstance(v, (list, dict, tuple)):
            raise ValueError("not a tensor")
        with open(path, "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(v), name).SerializeToString())

    cases = node.collect_testcases(None)
    skipped = 0
    for c in cases:
        d = os.path.join(out, c.name)
        os.makedirs(d, exist_ok=True)
        onnx.save(c.model, os.path.join(d, "model.onnx"))
        for k, (ins, outs) in enumerate(c.data_sets):
            ds = os.path.join(d, f"test_data_set_{k}")
            os.makedirs(ds, exist_ok=True)
            try:
                for i, (v, vi) in enumerate(zip(ins, c.model.graph.input)):
                    save(v, vi.name, os.path.join(ds, f"input_{i}.pb"))
                for i, (v, vi) in enumerate(zip(outs, c.model.graph.output)):
                    save(v, vi.name, os.path.join(ds, f"output_{i}.pb"))
            except ValueError:
                skipped += 1
    print(f"{len(cases)} node tests from onnx {onnx.__version__} in {out} ({skipped} with "
          "sequence or optional data)")


def det_ref():
    import onnxruntime as ort
    from onnx import helper
    src = os.path.join("..", "shared", "data", "onnx-models", MODELS["ppocr_det"][0])
    out = os.path.join(OUT, "models")
    m = onnx.load(src)
    sig = [n for n in m.graph.node if n.op_type == "Sigmoid" and n.output[0] == m.graph.output[0].name]
    assert len(sig) == 1, "the detector's output is no longer a Sigmoid"
    logits = sig[0].input[0]
    m.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.load(os.path.join(out, "ppocr_det_in_0_x.npy"))
    z = sess.run(None, {"x": x})[1].astype(np.float64)
    np.save(os.path.join(out, "ppocr_det_ref_0.npy"), (1 / (1 + np.exp(-z))).astype(np.float32))


def epilogue():
    rng = np.random.default_rng(9)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    sc = lambda v, n: numpy_helper.from_array(np.array([v], np.float32), n)
    inits = [numpy_helper.from_array(f(4, 3, 3, 3), "w"), numpy_helper.from_array(f(4), "b"),
             sc(0.7, "s1"), sc(-0.4, "b1"), sc(3, "three"), sc(0, "zero"), sc(6, "six"),
             sc(1.3, "s2"), sc(0.25, "b2")]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Mul", ["s1", "c"], ["m1"], name="scale1"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="shift1"),
        helper.make_node("Add", ["a1", "three"], ["h0"], name="hs_add"),
        helper.make_node("Clip", ["h0", "zero", "six"], ["h1"], name="hs_clip"),
        helper.make_node("Mul", ["a1", "h1"], ["h2"], name="hs_mul"),
        helper.make_node("Div", ["h2", "six"], ["h3"], name="hs_div"),
        helper.make_node("Mul", ["h3", "s2"], ["m2"], name="scale2"),
        helper.make_node("Add", ["b2", "m2"], ["y"], name="shift2"),
    ]
    g = helper.make_graph(nodes, "epilogue",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "epilogue.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = f(1, 3, 6, 6) * 2
    y = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.save(os.path.join(OUT, "epilogue_x.npy"), x)
    np.save(os.path.join(OUT, "epilogue_y.npy"), y)


def se_residual():
    rng = np.random.default_rng(17)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["m1"], name="se_scale"),
        helper.make_node("Add", ["m1", "x"], ["y1"], name="se_residual"),
        helper.make_node("Mul", ["t", "x"], ["m2"], name="bc_scale"),
        helper.make_node("Add", ["x", "m2"], ["y2"], name="bc_residual"),
    ]
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
    g = helper.make_graph(nodes, "se_residual", [vi("x", [2, 4, 3, 5]), vi("s", [2, 4, 1, 1]), vi("t", [1, 1, 3, 5])],
                          [vi("y1", [2, 4, 3, 5]), vi("y2", [2, 4, 3, 5])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "se_residual.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    feed = {"x": f(2, 4, 3, 5), "s": f(2, 4, 1, 1), "t": f(1, 1, 3, 5)}
    y1, y2 = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feed)
    for k, v in list(feed.items()) + [("y1", y1), ("y2", y2)]:
        np.save(os.path.join(OUT, f"se_residual_{k}.npy"), v)


def resize_add():
    rng = np.random.default_rng(19)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    const = lambda n, v: helper.make_node("Constant", [], [n], value=helper.make_tensor(
        n, TensorProto.FLOAT, [len(v)], v))
    rs = lambda x, sc, y: helper.make_node("Resize", [x, "", sc], [y], mode="nearest",
                                           coordinate_transformation_mode="asymmetric",
                                           nearest_mode="floor")
    nodes = [
        const("s2", [1, 1, 2, 2]), const("s3", [1, 1, 1, 3]), const("s4", [1, 1, 4, 4]),
        rs("x", "s2", "r1"), helper.make_node("Add", ["a", "r1"], ["y1"]),
        rs("x", "s3", "r2"), helper.make_node("Add", ["r2", "b"], ["y2"]),
        rs("x", "s2", "r3"), helper.make_node("Add", ["c", "r3"], ["y3"]),
        rs("x", "s4", "r4"), helper.make_node("Add", ["r4", "r4"], ["y4"]),
    ]
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
    g = helper.make_graph(nodes, "resize_add",
                          [vi("x", [2, 3, 4, 5]), vi("a", [2, 3, 8, 10]), vi("b", [2, 3, 4, 15]),
                           vi("c", [1, 3, 1, 10])],
                          [vi("y1", [2, 3, 8, 10]), vi("y2", [2, 3, 4, 15]), vi("y3", [2, 3, 8, 10]),
                           vi("y4", [2, 3, 16, 20])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "resize_add.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    feed = {"x": f(2, 3, 4, 5), "a": f(2, 3, 8, 10), "b": f(2, 3, 4, 15), "c": f(1, 3, 1, 10)}
    ys = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feed)
    for k, v in list(feed.items()) + [(f"y{i + 1}", y) for i, y in enumerate(ys)]:
        np.save(os.path.join(OUT, f"resize_add_{k}.npy"), v)


def convt():
    rng = np.random.default_rng(13)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    C, M = 6, 5
    inits = [numpy_helper.from_array(f(C, M, 2, 2), "w1"), numpy_helper.from_array(f(1, M, 1, 1), "b1"),
             numpy_helper.from_array(f(M) * 0.5 + 1, "g"), numpy_helper.from_array(f(M), "beta"),
             numpy_helper.from_array(f(M), "mu"), numpy_helper.from_array(np.abs(f(M)) + 0.5, "var"),
             numpy_helper.from_array(f(M, 1, 2, 2), "w2"), numpy_helper.from_array(f(1, 1, 1), "b2")]
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w1"], ["t1"], kernel_shape=[2, 2], strides=[2, 2], name="up1"),
        helper.make_node("Add", ["t1", "b1"], ["a1"], name="bias1"),
        helper.make_node("BatchNormalization", ["a1", "g", "beta", "mu", "var"], ["n1"], epsilon=1e-5, name="bn"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu"),
        helper.make_node("ConvTranspose", ["r1", "w2"], ["t2"], kernel_shape=[2, 2], strides=[2, 2], name="up2"),
        helper.make_node("Add", ["b2", "t2"], ["a2"], name="bias2"),
        helper.make_node("Sigmoid", ["a2"], ["y"], name="prob"),
    ]
    g = helper.make_graph(nodes, "convt",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 5, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 20, 16])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "convt.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = f(1, C, 5, 4)
    y = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.save(os.path.join(OUT, "convt_x.npy"), x)
    np.save(os.path.join(OUT, "convt_y.npy"), y)


def lstm():
    rng = np.random.default_rng(11)
    f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    T, N, I1, H1, I2, H2 = 3, 2, 7, 5, 96, 96
    inits = [numpy_helper.from_array(f(2, 4 * H1, I1), "w1"), numpy_helper.from_array(f(2, 4 * H1, H1), "r1"),
             numpy_helper.from_array(f(2, 8 * H1), "b1"), numpy_helper.from_array(f(2, 3 * H1), "p1"),
             numpy_helper.from_array(f(1, 4 * H2, I2), "w2"), numpy_helper.from_array(f(1, 4 * H2, H2), "r2")]
    nodes = [
        helper.make_node("LSTM", ["x1", "w1", "r1", "b1", "", "h1", "c1", "p1"], ["y1", "yh1", "yc1"],
                         hidden_size=H1, direction="bidirectional", name="lstm_bi"),
        helper.make_node("LSTM", ["x2", "w2", "r2"], ["y2", "yh2", "yc2"], hidden_size=H2, name="lstm_big"),
    ]
    vi = helper.make_tensor_value_info
    g = helper.make_graph(nodes, "lstm",
                          [vi("x1", TensorProto.FLOAT, [T, N, I1]), vi("h1", TensorProto.FLOAT, [2, N, H1]),
                           vi("c1", TensorProto.FLOAT, [2, N, H1]), vi("x2", TensorProto.FLOAT, [2, 1, I2])],
                          [vi("y1", TensorProto.FLOAT, None), vi("yh1", TensorProto.FLOAT, None),
                           vi("yc1", TensorProto.FLOAT, None), vi("y2", TensorProto.FLOAT, None),
                           vi("yh2", TensorProto.FLOAT, None), vi("yc2", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="born-fixtures")
    m.ir_version = 8
    path = os.path.join(OUT, "lstm.onnx")
    onnx.save(m, path)
    import onnxruntime as ort
    feed = {"x1": f(T, N, I1) * 3, "h1": f(2, N, H1), "c1": f(2, N, H1), "x2": f(2, 1, I2) * 3}
    outs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)
    for k, v in feed.items():
        np.save(os.path.join(OUT, f"lstm_{k}.npy"), v)
    for i, v in enumerate(outs):
        np.save(os.path.join(OUT, f"lstm_out_{i}.npy"), v)


def shape_memo():
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "one"], ["n"], axis=0, name="cols"),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT, name="cast"),
             helper.make_node("Mul", ["x", "nf"], ["y"], name="scale")]
    g = helper.make_graph(nodes, "shape_memo", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", "b"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])], [one])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="born-fixtures")
    m.ir_version = 8
    onnx.save(m, os.path.join(OUT, "shape_memo.onnx"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    if "--node-tests" in sys.argv:
        node_tests(sys.argv[sys.argv.index("--node-tests") + 1])
        sys.exit(0)
    if "--epilogue" in sys.argv:
        epilogue()
        sys.exit(0)
    if "--convt" in sys.argv:
        convt()
        sys.exit(0)
    if "--se" in sys.argv:
        se_residual()
        sys.exit(0)
    if "--resize-add" in sys.argv:
        resize_add()
        sys.exit(0)
    if "--lstm" in sys.argv:
        lstm()
        shape_memo()
        sys.exit(0)
    if "--det-ref" not in sys.argv:
        epilogue()
        convt()
        se_residual()
        resize_add()
        lstm()
        shape_memo()
        small()
        cycle()
        fused()
        shapes()
    if "--models" in sys.argv:
        models()
    if "--models" in sys.argv or "--det-ref" in sys.argv:
        det_ref()
