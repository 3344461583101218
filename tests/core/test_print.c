/* Printing: born_format against strings PyTorch's repr produced for the same values.
 *
 * Every expected string below was made by torch 2.x with the Python shown above it, run through
 * this script, which renames the dtype and grad_fn suffixes to Born's names *before* torch lays
 * them out (so line wrapping is computed with Born's shorter suffixes):
 *
 *   import re, torch
 *   names = {'torch.float32': 'f32', 'torch.float64': 'f64', 'torch.float16': 'f16',
 *            'torch.bfloat16': 'bf16', 'torch.int8': 'i8', 'torch.int16': 'i16',
 *            'torch.int32': 'i32', 'torch.int64': 'i64', 'torch.uint8': 'u8', 'torch.bool': 'bool'}
 *   def rename(s):
 *       if s.startswith('dtype='): return 'dtype=' + names[s[6:]]
 *       m = re.match(r'grad_fn=<(\w+?)\d*>$', s)        # MulBackward0 -> MulBackward
 *       return f'grad_fn=<{m.group(1)}>' if m else s
 *   orig = torch._tensor_str._add_suffixes
 *   torch._tensor_str._add_suffixes = lambda ts, suf, ind, force_newline: \
 *       orig(ts, [rename(s) for s in suf], ind, force_newline)
 *   nan, inf = float('nan'), float('inf')
 *   print(repr(EXPR))     # after torch.set_printoptions(...) where the case sets options
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define T tensor_of
#define V(...) ((const double[]){__VA_ARGS__})

static void check_format_impl(const char *file, int line, born_tensor *t,
                              const born_print_params *p, const char *want) {
    if (!t) {
        test_fail(file, line, "building the tensor failed: %s", born_last_error());
        born_clear_error();
        return;
    }
    char *got = born_format(t, p);
    if (!got) {
        test_fail(file, line, "born_format failed: %s", born_last_error());
        born_clear_error();
        return;
    }
    if (strcmp(got, want) != 0) test_fail(file, line, "born_format gave\n%s\nexpected\n%s", got, want);
    free(got);
}
#define CHECK_FORMAT(t, p, want) check_format_impl(__FILE__, __LINE__, (t), (p), (want))

/* A leaf that requires grad. */
static born_tensor *leaf(born_tensor *t) { return born_requires_grad(t, true); }

static born_tensor *i64_extremes(void) {
    int64_t v[2] = {INT64_MIN, INT64_MAX};
    return born_from_data(BORN_I64, BORN_DIMS(2), v, sizeof v);
}

TEST(format_matches_torch_repr) {
    born_print_params p;
    /* basic 2-D, int mode: repr(torch.tensor([[1., 2.], [3., 4.]])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2, 2), V(1, 2, 3, 4)), NULL,
          "tensor([[1., 2.],\n"
          "        [3., 4.]])");
    /* 0-dim: repr(torch.tensor(3.5)) */
    CHECK_FORMAT(born_scalar(BORN_F32, 3.5), NULL,
          "tensor(3.5000)");
    /* fixed point, right-aligned: repr(torch.tensor([1.5, -2.25, 3.125])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(3), V(1.5, -2.25, 3.125)), NULL,
          "tensor([ 1.5000, -2.2500,  3.1250])");
    /* sci: min < 1e-4: repr(torch.tensor([1e-5, 1.0])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(1e-5, 1.0)), NULL,
          "tensor([1.0000e-05, 1.0000e+00])");
    /* sci: max / min > 1000 (zero ignored): repr(torch.tensor([[123456.789, 1.5], [-7.25, 0.]])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2, 2), V(123456.789, 1.5, -7.25, 0)), NULL,
          "tensor([[ 1.2346e+05,  1.5000e+00],\n"
          "        [-7.2500e+00,  0.0000e+00]])");
    /* sci: max > 1e8: repr(torch.tensor([2e8, 3e8])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(2e8, 3e8)), NULL,
          "tensor([2.0000e+08, 3.0000e+08])");
    /* sci in int mode: repr(torch.tensor([1e10, 1.])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(1e10, 1)), NULL,
          "tensor([1.0000e+10, 1.0000e+00])");
    /* mixed integers: repr(torch.tensor([1., -20., 300.])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(3), V(1, -20, 300)), NULL,
          "tensor([  1., -20., 300.])");
    /* negative numbers: repr(torch.tensor([[-1.5, 2.], [3., -4.25]])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2, 2), V(-1.5, 2, 3, -4.25)), NULL,
          "tensor([[-1.5000,  2.0000],\n"
          "        [ 3.0000, -4.2500]])");
    /* nan sticks out of the int-mode width: repr(torch.tensor([nan, 1.])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(NAN, 1)), NULL,
          "tensor([nan, 1.])");
    /* nan and inf: repr(torch.tensor([nan, 1.5, -inf, inf])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(4), V(NAN, 1.5, -INFINITY, INFINITY)), NULL,
          "tensor([   nan, 1.5000,   -inf,    inf])");
    /* nan in sci mode: repr(torch.tensor([1e-5, nan, 1.0])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(3), V(1e-5, NAN, 1)), NULL,
          "tensor([1.0000e-05,        nan, 1.0000e+00])");
    /* all zeros: repr(torch.zeros(3)) */
    CHECK_FORMAT(born_zeros(BORN_F32, BORN_DIMS(3)), NULL,
          "tensor([0., 0., 0.])");
    /* negative zero: repr(torch.tensor([-0.0, 1.5])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(-0.0, 1.5)), NULL,
          "tensor([-0.0000, 1.5000])");
    /* precision=2: torch.set_printoptions(precision=2); repr(torch.tensor([1.23456, 2.5])) */
    p = born_print_default_params();
    p.precision = 2;
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(2), V(1.23456, 2.5)), &p,
          "tensor([1.23, 2.50])");
    /* precision=0: torch.set_printoptions(precision=0); repr(torch.tensor([1.5, 2.5, 0.25])) */
    p = born_print_default_params();
    p.precision = 0;
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(3), V(1.5, 2.5, 0.25)), &p,
          "tensor([2, 2, 0])");
    /* rounding of exact binary values: repr(torch.tensor([0.00005, 0.00015, 1.00025])) */
    CHECK_FORMAT(T(BORN_F32, BORN_DIMS(3), V(0.00005, 0.00015, 1.00025)), NULL,
          "tensor([5.0000e-05, 1.5000e-04, 1.0002e+00])");
    /* summarized 1-D (sci: 1999 / 1 > 1000), wrapped: repr(torch.arange(2000.)) */
    CHECK_FORMAT(born_arange(0, 2000, 1, BORN_F32), NULL,
          "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
          "        1.9990e+03])");
    /* summarized 1-D i64: repr(torch.arange(1001)) */
    CHECK_FORMAT(born_arange(0, 1001, 1, BORN_I64), NULL,
          "tensor([   0,    1,    2,  ...,  998,  999, 1000])");
    /* summarized 2-D i32: repr(torch.arange(1200, dtype=torch.int32).reshape(30, 40)) */
    CHECK_FORMAT(born_reshape(born_arange(0, 1200, 1, BORN_I32), BORN_DIMS(30, 40)), NULL,
          "tensor([[   0,    1,    2,  ...,   37,   38,   39],\n"
          "        [  40,   41,   42,  ...,   77,   78,   79],\n"
          "        [  80,   81,   82,  ...,  117,  118,  119],\n"
          "        ...,\n"
          "        [1080, 1081, 1082,  ..., 1117, 1118, 1119],\n"
          "        [1120, 1121, 1122,  ..., 1157, 1158, 1159],\n"
          "        [1160, 1161, 1162,  ..., 1197, 1198, 1199]], dtype=i32)");
    /* summarized 2-D f32, rows wrapped: repr(torch.arange(1200.).reshape(30, 40) / 7) */
    CHECK_FORMAT(born_div_scalar(born_reshape(born_arange(0, 1200, 1, BORN_F32), BORN_DIMS(30, 40)), 7), NULL,
          "tensor([[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 5.2857e+00, 5.4286e+00,\n"
          "         5.5714e+00],\n"
          "        [5.7143e+00, 5.8571e+00, 6.0000e+00,  ..., 1.1000e+01, 1.1143e+01,\n"
          "         1.1286e+01],\n"
          "        [1.1429e+01, 1.1571e+01, 1.1714e+01,  ..., 1.6714e+01, 1.6857e+01,\n"
          "         1.7000e+01],\n"
          "        ...,\n"
          "        [1.5429e+02, 1.5443e+02, 1.5457e+02,  ..., 1.5957e+02, 1.5971e+02,\n"
          "         1.5986e+02],\n"
          "        [1.6000e+02, 1.6014e+02, 1.6029e+02,  ..., 1.6529e+02, 1.6543e+02,\n"
          "         1.6557e+02],\n"
          "        [1.6571e+02, 1.6586e+02, 1.6600e+02,  ..., 1.7100e+02, 1.7114e+02,\n"
          "         1.7129e+02]])");
    /* summarized 3-D: repr(torch.arange(3000).reshape(10, 15, 20)) */
    CHECK_FORMAT(born_reshape(born_arange(0, 3000, 1, BORN_I64), BORN_DIMS(10, 15, 20)), NULL,
          "tensor([[[   0,    1,    2,  ...,   17,   18,   19],\n"
          "         [  20,   21,   22,  ...,   37,   38,   39],\n"
          "         [  40,   41,   42,  ...,   57,   58,   59],\n"
          "         ...,\n"
          "         [ 240,  241,  242,  ...,  257,  258,  259],\n"
          "         [ 260,  261,  262,  ...,  277,  278,  279],\n"
          "         [ 280,  281,  282,  ...,  297,  298,  299]],\n"
          "\n"
          "        [[ 300,  301,  302,  ...,  317,  318,  319],\n"
          "         [ 320,  321,  322,  ...,  337,  338,  339],\n"
          "         [ 340,  341,  342,  ...,  357,  358,  359],\n"
          "         ...,\n"
          "         [ 540,  541,  542,  ...,  557,  558,  559],\n"
          "         [ 560,  561,  562,  ...,  577,  578,  579],\n"
          "         [ 580,  581,  582,  ...,  597,  598,  599]],\n"
          "\n"
          "        [[ 600,  601,  602,  ...,  617,  618,  619],\n"
          "         [ 620,  621,  622,  ...,  637,  638,  639],\n"
          "         [ 640,  641,  642,  ...,  657,  658,  659],\n"
          "         ...,\n"
          "         [ 840,  841,  842,  ...,  857,  858,  859],\n"
          "         [ 860,  861,  862,  ...,  877,  878,  879],\n"
          "         [ 880,  881,  882,  ...,  897,  898,  899]],\n"
          "\n"
          "        ...,\n"
          "\n"
          "        [[2100, 2101, 2102,  ..., 2117, 2118, 2119],\n"
          "         [2120, 2121, 2122,  ..., 2137, 2138, 2139],\n"
          "         [2140, 2141, 2142,  ..., 2157, 2158, 2159],\n"
          "         ...,\n"
          "         [2340, 2341, 2342,  ..., 2357, 2358, 2359],\n"
          "         [2360, 2361, 2362,  ..., 2377, 2378, 2379],\n"
          "         [2380, 2381, 2382,  ..., 2397, 2398, 2399]],\n"
          "\n"
          "        [[2400, 2401, 2402,  ..., 2417, 2418, 2419],\n"
          "         [2420, 2421, 2422,  ..., 2437, 2438, 2439],\n"
          "         [2440, 2441, 2442,  ..., 2457, 2458, 2459],\n"
          "         ...,\n"
          "         [2640, 2641, 2642,  ..., 2657, 2658, 2659],\n"
          "         [2660, 2661, 2662,  ..., 2677, 2678, 2679],\n"
          "         [2680, 2681, 2682,  ..., 2697, 2698, 2699]],\n"
          "\n"
          "        [[2700, 2701, 2702,  ..., 2717, 2718, 2719],\n"
          "         [2720, 2721, 2722,  ..., 2737, 2738, 2739],\n"
          "         [2740, 2741, 2742,  ..., 2757, 2758, 2759],\n"
          "         ...,\n"
          "         [2940, 2941, 2942,  ..., 2957, 2958, 2959],\n"
          "         [2960, 2961, 2962,  ..., 2977, 2978, 2979],\n"
          "         [2980, 2981, 2982,  ..., 2997, 2998, 2999]]])");
    /* summarized 2-D bool: repr(torch.arange(1100).reshape(11, 100) % 3 == 0) */
    CHECK_FORMAT(born_eq_scalar(born_remainder(born_reshape(born_arange(0, 1100, 1, BORN_I64), BORN_DIMS(11, 100)), born_scalar(BORN_I64, 3)), 0), NULL,
          "tensor([[ True, False, False,  ..., False, False,  True],\n"
          "        [False, False,  True,  ..., False,  True, False],\n"
          "        [False,  True, False,  ...,  True, False, False],\n"
          "        ...,\n"
          "        [False,  True, False,  ...,  True, False, False],\n"
          "        [ True, False, False,  ..., False, False,  True],\n"
          "        [False, False,  True,  ..., False,  True, False]])");
    /* edgeitems=2, threshold=5: torch.set_printoptions(edgeitems=2, threshold=5); repr(torch.arange(10)) */
    p = born_print_default_params();
    p.edgeitems = 2;
    p.threshold = 5;
    CHECK_FORMAT(born_arange(0, 10, 1, BORN_I64), &p,
          "tensor([0, 1,  ..., 8, 9])");
    /* edgeitems=0 (1-D): torch.set_printoptions(edgeitems=0, threshold=5); repr(torch.arange(10.) + 0.5) */
    p = born_print_default_params();
    p.edgeitems = 0;
    p.threshold = 5;
    CHECK_FORMAT(born_arange(0.5, 10, 1, BORN_F32), &p,
          "tensor([...], size=(10,))");
    /* edgeitems=0 (2-D): torch.set_printoptions(edgeitems=0, threshold=5); repr(torch.arange(12).reshape(3, 4)) */
    p = born_print_default_params();
    p.edgeitems = 0;
    p.threshold = 5;
    CHECK_FORMAT(born_reshape(born_arange(0, 12, 1, BORN_I64), BORN_DIMS(3, 4)), &p,
          "tensor([...], size=(3, 4))");
    /* line wrapping: repr(torch.arange(30.) * 1.5) */
    CHECK_FORMAT(born_mul_scalar(born_arange(0, 30, 1, BORN_F32), 1.5), NULL,
          "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
          "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
          "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
          "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000])");
    /* linewidth=40: torch.set_printoptions(linewidth=40); repr(torch.arange(12.) + 0.5) */
    p = born_print_default_params();
    p.linewidth = 40;
    CHECK_FORMAT(born_arange(0.5, 12, 1, BORN_F32), &p,
          "tensor([ 0.5000,  1.5000,  2.5000,\n"
          "         3.5000,  4.5000,  5.5000,\n"
          "         6.5000,  7.5000,  8.5000,\n"
          "         9.5000, 10.5000, 11.5000])");
    /* 3-D, blank lines between blocks: repr(torch.arange(24.).reshape(2, 3, 4)) */
    CHECK_FORMAT(born_reshape(born_arange(0, 24, 1, BORN_F32), BORN_DIMS(2, 3, 4)), NULL,
          "tensor([[[ 0.,  1.,  2.,  3.],\n"
          "         [ 4.,  5.,  6.,  7.],\n"
          "         [ 8.,  9., 10., 11.]],\n"
          "\n"
          "        [[12., 13., 14., 15.],\n"
          "         [16., 17., 18., 19.],\n"
          "         [20., 21., 22., 23.]]])");
    /* 4-D: repr(torch.arange(16).reshape(2, 2, 2, 2)) */
    CHECK_FORMAT(born_reshape(born_arange(0, 16, 1, BORN_I64), BORN_DIMS(2, 2, 2, 2)), NULL,
          "tensor([[[[ 0,  1],\n"
          "          [ 2,  3]],\n"
          "\n"
          "         [[ 4,  5],\n"
          "          [ 6,  7]]],\n"
          "\n"
          "\n"
          "        [[[ 8,  9],\n"
          "          [10, 11]],\n"
          "\n"
          "         [[12, 13],\n"
          "          [14, 15]]]])");
    /* transposed (non-contiguous): repr(torch.arange(6.).reshape(2, 3).t()) */
    CHECK_FORMAT(born_transpose(born_reshape(born_arange(0, 6, 1, BORN_F32), BORN_DIMS(2, 3)), 0, 1), NULL,
          "tensor([[0., 3.],\n"
          "        [1., 4.],\n"
          "        [2., 5.]])");
    /* sliced with a step: repr(torch.arange(20.)[1::3]) */
    CHECK_FORMAT(born_slice(born_arange(0, 20, 1, BORN_F32), 0, 1, 20, 3), NULL,
          "tensor([ 1.,  4.,  7., 10., 13., 16., 19.])");
    /* f64: repr(torch.tensor([1.5, 2.], dtype=torch.float64)) */
    CHECK_FORMAT(T(BORN_F64, BORN_DIMS(2), V(1.5, 2)), NULL,
          "tensor([1.5000, 2.0000], dtype=f64)");
    /* f16 prints its exact value: torch.set_printoptions(precision=10); repr(torch.tensor([0.1, 2.], dtype=torch.float16)) */
    p = born_print_default_params();
    p.precision = 10;
    CHECK_FORMAT(T(BORN_F16, BORN_DIMS(2), V(0.1, 2)), &p,
          "tensor([0.0999755859, 2.0000000000], dtype=f16)");
    /* bf16 prints its exact value: torch.set_printoptions(precision=10); repr(torch.tensor([0.1, -3.], dtype=torch.bfloat16)) */
    p = born_print_default_params();
    p.precision = 10;
    CHECK_FORMAT(T(BORN_BF16, BORN_DIMS(2), V(0.1, -3)), &p,
          "tensor([ 0.1000976562, -3.0000000000], dtype=bf16)");
    /* f16 largest value: repr(torch.tensor([65504., 1.], dtype=torch.float16)) */
    CHECK_FORMAT(T(BORN_F16, BORN_DIMS(2), V(65504, 1)), NULL,
          "tensor([6.5504e+04, 1.0000e+00], dtype=f16)");
    /* f16 subnormal: repr(torch.tensor([1e-5, 0.5], dtype=torch.float16)) */
    CHECK_FORMAT(T(BORN_F16, BORN_DIMS(2), V(1e-5, 0.5)), NULL,
          "tensor([1.0014e-05, 5.0000e-01], dtype=f16)");
    /* i8: repr(torch.tensor([-1, 2, 100], dtype=torch.int8)) */
    CHECK_FORMAT(T(BORN_I8, BORN_DIMS(3), V(-1, 2, 100)), NULL,
          "tensor([ -1,   2, 100], dtype=i8)");
    /* i16: repr(torch.tensor([-300, 2], dtype=torch.int16)) */
    CHECK_FORMAT(T(BORN_I16, BORN_DIMS(2), V(-300, 2)), NULL,
          "tensor([-300,    2], dtype=i16)");
    /* i32: repr(torch.tensor([[1, -2], [30, 4]], dtype=torch.int32)) */
    CHECK_FORMAT(T(BORN_I32, BORN_DIMS(2, 2), V(1, -2, 30, 4)), NULL,
          "tensor([[ 1, -2],\n"
          "        [30,  4]], dtype=i32)");
    /* i64 (default: no suffix): repr(torch.tensor([1, 2, -3])) */
    CHECK_FORMAT(T(BORN_I64, BORN_DIMS(3), V(1, 2, -3)), NULL,
          "tensor([ 1,  2, -3])");
    /* i64 extremes: repr(torch.tensor([-9223372036854775808, 9223372036854775807])) */
    CHECK_FORMAT(i64_extremes(), NULL,
          "tensor([-9223372036854775808,  9223372036854775807])");
    /* u8: repr(torch.tensor([0, 255, 7], dtype=torch.uint8)) */
    CHECK_FORMAT(T(BORN_U8, BORN_DIMS(3), V(0, 255, 7)), NULL,
          "tensor([  0, 255,   7], dtype=u8)");
    /* bool: repr(torch.tensor([True, False, True])) */
    CHECK_FORMAT(T(BORN_BOOL, BORN_DIMS(3), V(1, 0, 1)), NULL,
          "tensor([ True, False,  True])");
    /* 0-dim i32: repr(torch.tensor(5, dtype=torch.int32)) */
    CHECK_FORMAT(born_scalar(BORN_I32, 5), NULL,
          "tensor(5, dtype=i32)");
    /* 0-dim bool: repr(torch.tensor(True)) */
    CHECK_FORMAT(born_scalar(BORN_BOOL, 1), NULL,
          "tensor(True)");
    /* 0-dim nan: repr(torch.tensor(nan)) */
    CHECK_FORMAT(born_scalar(BORN_F32, NAN), NULL,
          "tensor(nan)");
    /* empty 1-D: repr(torch.zeros(0)) */
    CHECK_FORMAT(born_zeros(BORN_F32, BORN_DIMS(0)), NULL,
          "tensor([])");
    /* empty 2-D: repr(torch.zeros(0, 3)) */
    CHECK_FORMAT(born_zeros(BORN_F32, BORN_DIMS(0, 3)), NULL,
          "tensor([], size=(0, 3))");
    /* empty i32: repr(torch.zeros(2, 0, dtype=torch.int32)) */
    CHECK_FORMAT(born_zeros(BORN_I32, BORN_DIMS(2, 0)), NULL,
          "tensor([], size=(2, 0), dtype=i32)");
    /* empty i64 names its dtype: repr(torch.zeros(0, dtype=torch.int64)) */
    CHECK_FORMAT(born_zeros(BORN_I64, BORN_DIMS(0)), NULL,
          "tensor([], dtype=i64)");
    /* dtype suffix wraps to a new line: repr(torch.arange(14, dtype=torch.int32) * 100000) */
    CHECK_FORMAT(born_arange(0, 1400000, 100000, BORN_I32), NULL,
          "tensor([      0,  100000,  200000,  300000,  400000,  500000,  600000,  700000,\n"
          "         800000,  900000, 1000000, 1100000, 1200000, 1300000], dtype=i32)");
    /* long dtype suffix wraps: repr(torch.arange(14, dtype=torch.int16) * 2000) */
    CHECK_FORMAT(born_arange(0, 28000, 2000, BORN_I16), NULL,
          "tensor([    0,  2000,  4000,  6000,  8000, 10000, 12000, 14000, 16000, 18000,\n"
          "        20000, 22000, 24000, 26000], dtype=i16)");
    /* requires_grad: repr(torch.tensor([1., 2.], requires_grad=True)) */
    CHECK_FORMAT(leaf(T(BORN_F32, BORN_DIMS(2), V(1, 2))), NULL,
          "tensor([1., 2.], requires_grad=True)");
    /* 0-dim requires_grad: repr(torch.tensor(2.5, requires_grad=True)) */
    CHECK_FORMAT(leaf(born_scalar(BORN_F32, 2.5)), NULL,
          "tensor(2.5000, requires_grad=True)");
    /* grad_fn: repr(torch.tensor([1., 2.], requires_grad=True) * 2) */
    CHECK_FORMAT(born_mul_scalar(leaf(T(BORN_F32, BORN_DIMS(2), V(1, 2))), 2), NULL,
          "tensor([2., 4.], grad_fn=<MulBackward>)");
    /* grad_fn wraps to a new line: repr((torch.arange(16.) * 1.25).requires_grad_() * 3) */
    CHECK_FORMAT(born_mul_scalar(leaf(born_mul_scalar(born_arange(0, 16, 1, BORN_F32), 1.25)), 3), NULL,
          "tensor([ 0.0000,  3.7500,  7.5000, 11.2500, 15.0000, 18.7500, 22.5000, 26.2500,\n"
          "        30.0000, 33.7500, 37.5000, 41.2500, 45.0000, 48.7500, 52.5000, 56.2500],\n"
          "       grad_fn=<MulBackward>)");
    /* f16 with grad_fn: repr(torch.tensor([1.5, -2.], dtype=torch.float16, requires_grad=True).exp()) */
    CHECK_FORMAT(born_exp(leaf(T(BORN_F16, BORN_DIMS(2), V(1.5, -2)))), NULL,
          "tensor([4.4805, 0.1354], dtype=f16, grad_fn=<ExpBackward>)");
}

TEST(format_default_params) {
    born_print_params p = born_print_default_params();
    CHECK_EQ_INT(p.precision, 4);
    CHECK_EQ_INT(p.threshold, 1000);
    CHECK_EQ_INT(p.edgeitems, 3);
    CHECK_EQ_INT(p.linewidth, 80);
}

TEST(format_errors_are_recorded_not_printed) {
    CHECK(born_format(NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(2));
    born_print_params p = born_print_default_params();
    p.precision = -1;
    CHECK(born_format(t, &p) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "precision");
    p = born_print_default_params();
    p.edgeitems = -2;
    CHECK(born_format(t, &p) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "edgeitems");
    CHECK(born_fprint(NULL, t) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "stream");
    CHECK(born_print(NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    /* a NULL that comes from a failed op keeps the op's error */
    CHECK(born_format(born_reshape(t, BORN_DIMS(3)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_reshape");
}

TEST(fprint_writes_format_and_newline) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    born_tensor *t = born_reshape(born_arange(0, 4, 1, BORN_I32), BORN_DIMS(2, 2));
    CHECK_OK(born_fprint(f, t));
    rewind(f);
    char buf[200] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    const char *want = "tensor([[0, 1],\n        [2, 3]], dtype=i32)\n";
    CHECK_EQ_INT(n, strlen(want));
    CHECK_MSG(strcmp(buf, want) == 0, "born_fprint wrote \"%s\"", buf);
}

/* A huge tensor is summarized without visiting (or copying) every element. */
TEST(format_large_tensor_is_summarized) {
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(1000, 1000, 10));
    char *s = born_format(t, NULL);
    CHECK(s != NULL);
    if (s) CHECK(strlen(s) < 2000);
    free(s);
}
