#!/usr/bin/env python3
"""Fixtures for the ONNX operators added after the node tests' first pass (tests/onnx/test_onnx_ops.c):
cases the node tests do not cover, with expected outputs from numpy's FFT, the onnx package's
reference evaluator (onnx.reference) or onnxruntime, never from Born. onnxruntime agrees with the
reference on every case here that it can run, except TfIdfVectorizer's weights (see below); it
refuses ConvInteger with a per-channel w_zero_point.

Run by hand from the repository root:  python3 tools/gen_onnx_ops_fixtures.py
(pip install onnx onnxruntime)
It writes tests/fixtures/onnx/ops/NAME.onnx with NAME_in<i>.npy and NAME_out<i>.npy:
  dft_pad7       DFT opset 17, complex input, axis 2, dft_length 7 (zero-padding; Bluestein length)
  dft20_trunc    DFT opset 20, real input, axis as an input (-2), onesided, dft_length 3 (truncation)
  dft20_irfft    DFT opset 20, inverse onesided (a real inverse FFT), dft_length 9
  stft_complex   STFT of a complex signal, window of 12, frame_step 5, onesided 0
  qlinearconv_i8 QLinearConv int8, per-channel w_scale and w_zero_point, 2 groups, pads, strides, bias
  convint_same   ConvInteger int8, per-channel w_zero_point, dilation 2, auto_pad SAME_UPPER
  roialign_max   RoiAlign max mode, sampling_ratio 0 (adaptive), spatial_scale 0.5
  tfidf_tfidf    TfIdfVectorizer TFIDF with weights on [2, 8] int64 tokens, 1..3-grams, skip 1
  maxunpool_3d   MaxUnpool of a MaxPool with pads, 1-D
and bad_*.onnx models that must fail with an error naming the node (checked by the test).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

OUT = os.path.join("tests", "fixtures", "onnx", "ops")
rng = np.random.default_rng(11)


def save(name, nodes, inputs, outputs, feeds, opset=17, want=None, extra_opsets=()):
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), None)
           for n, v in feeds]
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]

    def model(types):
        outs = [helper.make_tensor_value_info(n, t, None) for n, t in zip(outputs, types)]
        m = helper.make_model(helper.make_graph(nodes, name, ins, outs), opset_imports=ops)
        m.ir_version = 8
        return m

    if want is None:
        want = ReferenceEvaluator(model([TensorProto.UNDEFINED] * len(outputs))).run(None, dict(feeds))
    types = [helper.np_dtype_to_tensor_dtype(v.dtype) for v in want] or [TensorProto.FLOAT] * len(outputs)
    onnx.save(model(types), os.path.join(OUT, name + ".onnx"))
    for i, (_, v) in enumerate(feeds):
        np.save(os.path.join(OUT, f"{name}_in{i}.npy"), v)
    for i, v in enumerate(want):
        np.save(os.path.join(OUT, f"{name}_out{i}.npy"), v)


def complex_last(z):
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    # DFT, padding to 7 along axis 2 of a complex [2, 3, 5, 2] input
    x = rng.standard_normal((2, 3, 5, 2)).astype(np.float32)
    z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
    save("dft_pad7", [helper.make_node("DFT", ["x", "n"], ["y"], axis=2)], ["x", "n"], ["y"],
         [("x", x), ("n", np.array(7, np.int64))], 17, [complex_last(np.fft.fft(z, 7, axis=2))])
    # DFT 20, real [2, 6, 4, 1], axis -2 (dim 2), onesided, truncated to 3
    x = rng.standard_normal((2, 6, 4, 1)).astype(np.float32)
    want = np.fft.fft(x[..., 0].astype(np.float64), 3, axis=2)[:, :, :2]
    save("dft20_trunc", [helper.make_node("DFT", ["x", "n", "a"], ["y"], onesided=1)],
         ["x", "n", "a"], ["y"],
         [("x", x), ("n", np.array(3, np.int64)), ("a", np.array(-2, np.int64))], 20,
         [complex_last(want)])
    # DFT 20, inverse onesided: [1, 5, 2] complex half spectrum -> 9 real samples
    x = rng.standard_normal((1, 5, 2)).astype(np.float32)
    z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
    want = np.fft.irfft(z, 9, axis=1)[..., np.newaxis].astype(np.float32)
    save("dft20_irfft",
         [helper.make_node("DFT", ["x", "n", "a"], ["y"], inverse=1, onesided=1)],
         ["x", "n", "a"], ["y"],
         [("x", x), ("n", np.array(9, np.int64)), ("a", np.array(1, np.int64))], 20, [want])
    # STFT of a complex [2, 40, 2] signal, window 12, step 5, two-sided
    x = rng.standard_normal((2, 40, 2)).astype(np.float32)
    w = np.hanning(12).astype(np.float32)
    z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
    frames = 1 + (40 - 12) // 5
    fr = np.stack([z[:, f * 5:f * 5 + 12] * w for f in range(frames)], axis=1)
    save("stft_complex", [helper.make_node("STFT", ["x", "s", "w"], ["y"], onesided=0)],
         ["x", "s", "w"], ["y"], [("x", x), ("s", np.array(5, np.int64)), ("w", w)], 17,
         [complex_last(np.fft.fft(fr, axis=-1))])
    # QLinearConv int8, per channel, 2 groups
    x = rng.integers(-128, 128, (2, 4, 7, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 2, 3, 2), dtype=np.int8)
    feeds = [("x", x), ("xs", np.array(0.02, np.float32)), ("xz", np.array(3, np.int8)),
             ("w", w), ("ws", rng.uniform(0.001, 0.01, 6).astype(np.float32)),
             ("wz", np.zeros(6, np.int8)), ("ys", np.array(0.9, np.float32)),
             ("yz", np.array(-5, np.int8)), ("b", rng.integers(-2000, 2000, 6).astype(np.int32))]
    save("qlinearconv_i8",
         [helper.make_node("QLinearConv", [n for n, _ in feeds], ["y"], group=2,
                           pads=[1, 0, 2, 1], strides=[2, 1])],
         [n for n, _ in feeds], ["y"], feeds, 13)
    # ConvInteger int8, per-channel w zero point, dilation 2, SAME_UPPER
    x = rng.integers(-128, 128, (1, 3, 9, 8), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int8)
    feeds = [("x", x), ("w", w), ("xz", np.array(-7, np.int8)),
             ("wz", np.array([1, -2, 3, 0], np.int8))]
    # expected from explicit pads (what SAME_UPPER gives: 2/2 rows, 1/2 columns), checked
    # against the reference's own SAME_UPPER result
    want = []
    for attrs in ({"pads": [2, 1, 2, 2]}, {"auto_pad": "SAME_UPPER"}):
        node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], dilations=[2, 2],
                                strides=[2, 2], **attrs)
        g = helper.make_graph([node], "r", [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(v.dtype), None) for n, v in feeds],
            [helper.make_tensor_value_info("y", TensorProto.INT32, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        want.append(ReferenceEvaluator(m).run(None, dict(feeds))[0])
    assert want[0].shape == (1, 4, 5, 4) and np.array_equal(want[0], want[1])
    want = want[:1]
    save("convint_same",
         [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], dilations=[2, 2],
                           strides=[2, 2], auto_pad="SAME_UPPER")],
         ["x", "w", "xz", "wz"], ["y"], feeds, 13, want)
    # RoiAlign max, adaptive sampling
    x = rng.standard_normal((2, 3, 12, 10)).astype(np.float32)
    rois = np.array([[1, 2, 15, 20], [0, 0, 19.5, 23], [4.2, 3.3, 8.8, 9.1]], np.float32)
    feeds = [("x", x), ("rois", rois), ("bi", np.array([1, 0, 1], np.int64))]
    save("roialign_max",
         [helper.make_node("RoiAlign", ["x", "rois", "bi"], ["y"], mode="max", output_height=3,
                           output_width=4, sampling_ratio=0, spatial_scale=0.5)],
         ["x", "rois", "bi"], ["y"], feeds, 16)
    # TfIdfVectorizer TFIDF with weights, 1..3-grams, skip 1
    toks = rng.integers(0, 5, (2, 8)).astype(np.int64)
    pool = [0, 1, 2, 3, 0, 1, 1, 2, 2, 2, 4, 0, 0, 1, 2]  # 4 unigrams, 4 bigrams, 1 trigram
    # weights belong to the pool's n-grams (the spec's words, and onnxruntime); onnx's reference
    # evaluator indexes them by output column, so onnxruntime gives the expected values here
    import onnxruntime as ort
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TFIDF", min_gram_length=1,
                            max_gram_length=3, max_skip_count=1, ngram_counts=[0, 4, 12],
                            ngram_indexes=[8, 7, 6, 5, 4, 3, 2, 1, 0], pool_int64s=pool,
                            weights=[0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5])
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.INT64, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    m.ir_version = 8
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    save("tfidf_tfidf", [node], ["x"], ["y"], [("x", toks)], 9, sess.run(None, {"x": toks}))
    # MaxUnpool 1-D with pads, indices from MaxPool
    x = rng.standard_normal((1, 2, 9)).astype(np.float32)
    pool = helper.make_node("MaxPool", ["x"], ["v", "i"], kernel_shape=[3], strides=[2],
                            pads=[1, 1])
    g = helper.make_graph([pool], "p", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("i", TensorProto.INT64, None)])
    v, i = ReferenceEvaluator(helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)])).run(None, {"x": x})
    save("maxunpool_1d",
         [helper.make_node("MaxUnpool", ["v", "i"], ["y"], kernel_shape=[3], strides=[2],
                           pads=[1, 1])],
         ["v", "i"], ["y"], [("v", v), ("i", i)], 11)
    # bad inputs: each must be an error naming the node
    x = rng.integers(0, 255, (1, 2, 5, 5), dtype=np.uint8)
    w = rng.integers(0, 255, (3, 2, 2, 2), dtype=np.uint8)
    feeds = [("x", x), ("xs", np.array(0.1, np.float32)), ("xz", np.array(1, np.uint8)),
             ("w", w), ("ws", np.ones(2, np.float32)), ("wz", np.array(0, np.uint8)),
             ("ys", np.array(1, np.float32)), ("yz", np.array(0, np.uint8))]
    save("bad_qlinearconv_wscale",
         [helper.make_node("QLinearConv", [n for n, _ in feeds], ["y"], name="qc")],
         [n for n, _ in feeds], ["y"], feeds, 13, [])
    save("bad_maxunpool_index",
         [helper.make_node("MaxUnpool", ["v", "i"], ["y"], kernel_shape=[2], name="mu")],
         ["v", "i"], ["y"],
         [("v", np.ones((1, 1, 3), np.float32)), ("i", np.array([[[0, 1, 99]]], np.int64))], 11, [])
    save("bad_dft_axis", [helper.make_node("DFT", ["x"], ["y"], axis=3, name="dft")], ["x"], ["y"],
         [("x", np.ones((1, 4, 4, 1), np.float32))], 17, [])
    save("bad_tfidf_counts",
         [helper.make_node("TfIdfVectorizer", ["x"], ["y"], name="tf", mode="TF",
                           min_gram_length=1, max_gram_length=2, max_skip_count=0,
                           ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3], pool_int64s=[1, 2, 3, 4])],
         ["x"], ["y"], [("x", np.ones(4, np.int64))], 9, [])
    save("bad_adam_groups",
         [helper.make_node("Adam", ["r", "t", "x", "g", "v"], ["xn"], name="adam",
                           domain="ai.onnx.preview.training")],
         ["r", "t", "x", "g", "v"], ["xn"],
         [("r", np.array(0.1, np.float32)), ("t", np.array(0, np.int64)),
          ("x", np.ones(2, np.float32)), ("g", np.ones(2, np.float32)),
          ("v", np.ones(2, np.float32))], 17, [], [("ai.onnx.preview.training", 1)])


if __name__ == "__main__":
    main()
