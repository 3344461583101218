/* Every layer's forward against torch: the module is built in torch and in Born, both get the
 * same parameters and inputs (nn_pattern, which Python rebuilds exactly), and the outputs are
 * compared. The reference values come from this Python (torch 2.x, CPU):
 *
 * import torch, torch.nn as nn, torch.nn.functional as F
 * torch.set_printoptions(precision=10)
 * def pat(shape, a, b, s=1.0):
 *     n = 1
 *     for d in shape: n *= d
 *     return (torch.sin(a*torch.arange(n, dtype=torch.float64) + b) * s).reshape(shape).float()
 * def out(name, t):
 *     v = t.detach().double().flatten().tolist()
 *     print(f"static const double {name}[] = {{" + ", ".join("%.9g" % x for x in v) + "};")
 * with torch.no_grad():
 *     l = nn.Linear(4, 3); l.weight.copy_(pat([3,4],0.7,0.1,0.5)); l.bias.copy_(pat([3],1.3,0.2,0.5))
 *     x = pat([2,4],0.37,0.5)
 *     out("linear_out", l(x))
 *     c = nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2)
 *     c.weight.copy_(pat([4,1,3,3],0.9,0.3,0.4)); c.bias.copy_(pat([4],1.1,0.7,0.3))
 *     x = pat([1,2,5,5],0.23,0.1)
 *     out("conv_a_out", c(x))
 *     c = nn.Conv2d(2, 3, (2,3), stride=(1,2), padding=(1,0), dilation=(2,1), bias=False)
 *     c.weight.copy_(pat([3,2,2,3],0.61,0.2,0.4))
 *     x = pat([2,2,5,6],0.19,0.4)
 *     out("conv_b_out", c(x))
 *     x = pat([1,2,5,5],0.83,0.3)
 *     out("maxpool_out", nn.MaxPool2d(3, stride=2, padding=1)(x))
 *     out("avgpool_out", nn.AvgPool2d(3, stride=2, padding=1)(x))
 *     x = pat([1,2,5,7],0.47,0.9)
 *     out("adaptive_out", nn.AdaptiveAvgPool2d((3,2))(x))
 *     out("adaptive_1x4_out", nn.AdaptiveAvgPool2d((1,4))(x))
 *     bn = nn.BatchNorm1d(3); bn.weight.copy_(pat([3],0.5,0.5,1.0)+1); bn.bias.copy_(pat([3],0.3,0.1,0.5))
 *     x = pat([4,3],0.71,0.2,2.0)
 *     out("bn1_train_out", bn(x)); out("bn1_rm", bn.running_mean); out("bn1_rv", bn.running_var)
 *     x3 = pat([2,3,4],0.29,0.6,1.5)
 *     out("bn1_train3_out", bn(x3)); out("bn1_rm2", bn.running_mean); out("bn1_rv2", bn.running_var)
 *     bn.eval(); out("bn1_eval_out", bn(x))
 *     bn2 = nn.BatchNorm2d(2); bn2.weight.copy_(pat([2],0.5,0.5,1.0)+1); bn2.bias.copy_(pat([2],0.3,0.1,0.5))
 *     x = pat([2,2,3,3],0.41,0.3,2.0)
 *     out("bn2_train_out", bn2(x)); out("bn2_rm", bn2.running_mean); out("bn2_rv", bn2.running_var)
 *     bn2.eval(); out("bn2_eval_out", bn2(x))
 *     bnc = nn.BatchNorm1d(3, momentum=None, affine=False)
 *     bnc(pat([4,3],0.71,0.2,2.0)); bnc(pat([4,3],0.33,0.1,1.0))
 *     out("bn_cma_rm", bnc.running_mean); out("bn_cma_rv", bnc.running_var)
 *     ln = nn.LayerNorm([3,4]); ln.weight.copy_(pat([3,4],0.5,0.5,0.5)+1); ln.bias.copy_(pat([3,4],0.3,0.1,0.5))
 *     x = pat([2,3,4],0.53,0.2,2.0)
 *     out("ln_out", ln(x))
 *     rn = nn.RMSNorm([4]); rn.weight.copy_(pat([4],0.5,0.5,0.5)+1)
 *     out("rms_out", rn(x))
 *     acts = [("relu", nn.ReLU()), ("leaky", nn.LeakyReLU(0.2)), ("gelu", nn.GELU()), ("gelu_tanh", nn.GELU('tanh')),
 *             ("silu", nn.SiLU()), ("sigmoid", nn.Sigmoid()), ("tanh", nn.Tanh()), ("softplus", nn.Softplus(2.0, 1.0)), ("elu", nn.ELU(0.7))]
 *     x = pat([7],0.9,0.1,3.0)
 *     for n, m in acts: out("act_"+n, m(x))
 *     out("softmax_out", nn.Softmax(dim=1)(pat([2,3],0.9,0.1,2.0)))
 * e = nn.Embedding(5, 3, padding_idx=1)
 * with torch.no_grad(): e.weight.copy_(pat([5,3],0.8,0.2))
 * idx = torch.tensor([[0,1,4],[2,1,3]])
 * y = e(idx); (y * pat([2,3,3],0.3,0.3)).sum().backward()
 * out("emb_grad", e.weight.grad)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_test_util.h"

static const double linear_out[] = {1.27305913, -0.525358319, 0.923640311, 0.625261486, 0.238895148, 0.13124454};
static const double conv_a_out[] = {0.528594077, 0.0363340229, -0.103581682, 0.236943826, 0.634886384, 0.738282502, 0.503595471, 0.0341040492, -0.148527607, 0.677137673, 0.893430829, 0.45807749, -0.180285782, -0.348397404, 0.00509345531, 0.525922656, 0.779611468, 0.38148886, -0.666785419, -0.489310563, 0.0314139426, 0.299507737, 0.151255429, -0.210494414, -0.598370671, -0.495779812, 0.0185366422, -0.188194945, -0.72278589, -0.715904415, -0.0890406072, 0.288964033, 0.261413693, 0.00483109057, -0.510647535, -0.575911939};
static const double conv_b_out[] = {0.559223533, 0.491030067, 0.606771946, 0.208086833, -0.617230892, -0.926114738, -1.12227654, -0.981567681, -0.310607135, -0.0942004919, 0.330764353, 0.489739031, 1.18133867, 1.10480177, 0.512266934, 0.0808064267, -0.753499031, -1.0373131, -0.604867518, -0.542283475, -0.222528711, 0.00748970127, 0.595747471, 0.916523397, 1.13868248, 1.00837004, 0.355267644, -0.0743437931, -0.305105269, -0.457805783, 0.290193498, 0.449050218, 1.11962235, 1.10681462, 0.631825328, 0.237410963, -0.59192872, -0.908531487, -0.603669345, -0.590087354, -0.322347701, -0.114723407, 0.445676684, 0.819761395, 1.1803782, 1.11546087, 0.540162146, 0.111859247, -0.286181092, -0.464377016, -0.618320704, -0.565830588, -0.665954947, -0.272355348, 0.569716334, 0.898049355, 1.14177573, 1.02239633, 0.312357217, 0.117384352};
static const double maxpool_out[] = {0.90441221, 0.925211549, 0.996475637, 0.848756611, 0.963011384, 0.996475637, 0.848756611, 0.963011384, 0.979996562, 0.80823499, 0.987784684, 0.551643908, 0.871140003, 0.987784684, 0.950261176, 0.871140003, 0.99919641, 0.644756377};
static const double avgpool_out[] = {-0.0676698163, 0.196567327, 0.165677845, -0.00538110733, 0.0128570395, 0.011791613, -0.088630572, 0.176880077, 0.176822588, 0.196442544, 0.0859653875, -0.153580397, 0.0134632671, 0.00684724934, -0.0100492435, 0.194613323, 0.112920746, -0.138311282};
static const double adaptive_out[] = {0.00695481151, 0.0641920343, -0.267321616, 0.0478841327, -0.0337971225, -0.0593838915, -0.0483112931, -0.0495902821, 0.134957135, -0.223557994, 0.0618626401, 0.0271423757};
static const double adaptive_1x4_out[] = {0.18001613, 0.146352842, 0.011224322, -0.108583882, -0.149706036, -0.0450356491, 0.108659588, 0.178547755};
static const double bn1_train_out[] = {0.366093725, 1.70736945, 2.32699585, 1.6067673, -0.0920164511, -1.90977979, -2.38273811, -2.70322895, -1.4262718, 0.609543979, 1.86671269, 2.29749107};
static const double bn1_rm[] = {0.0128879342, 0.0422123931, 0.0511366017};
static const double bn1_rv[] = {1.11038685, 1.16446173, 1.19234157};
static const double bn1_train3_out[] = {1.09321868, 1.44960535, 1.69711947, 1.81509054, 2.50032783, 2.24863839, 1.8001852, 1.19242001, 0.63792187, -0.631990314, -1.87674391, -2.99238658, -1.20730591, -1.43435788, -1.52943611, -1.48460054, -2.40157247, -1.92351723, -1.29379964, -0.565008819, 0.1829357, 1.41317844, 2.49778318, 3.34617233};
static const double bn1_rm2[] = {0.00301427487, 0.0550620705, 0.0682419911};
static const double bn1_rv2[] = {1.19930863, 1.1716994, 1.12592626};
static const double bn1_eval_out[] = {0.582612753, 2.78724241, 3.95403481, 2.00570011, 0.446101874, -1.95825255, -2.57037449, -2.95128798, -1.28353238, 0.861857057, 2.99456024, 3.91286159};
static const double bn2_train_out[] = {0.101614825, 0.901394486, 1.45865262, 1.68101895, 1.53163469, 1.03526115, 0.274176627, -0.62546283, -1.51453447, -1.58393669, -2.09318614, -2.2035408, -1.89670801, -1.22354829, -0.295643181, 0.73319906, 1.69243932, 2.42307568, 1.64900076, 1.62065923, 1.23057187, 0.543399155, -0.326954395, -1.23622036, -2.03368044, -2.58714867, -2.80488324, -2.04037237, -1.47662556, -0.616183758, 0.3983275, 1.39874458, 2.21924019, 2.72380996, 2.82881737, 2.51685643};
static const double bn2_rm[] = {0.0544975884, -0.0093788458};
static const double bn2_rv[] = {1.08398879, 1.12457204};
static const double bn2_eval_out[] = {0.812317193, 1.82492459, 2.53047347, 2.81201339, 2.62287664, 1.99441421, 1.03079903, -0.108241603, -1.23390222, -2.39451456, -3.09387684, -3.2454288, -2.82404971, -1.89958644, -0.625276566, 0.787652254, 2.10499525, 3.10839224, 2.77147484, 2.73559141, 2.24169874, 1.37166381, 0.269702286, -0.88152653, -1.89119697, -2.59194756, -2.86762309, -3.02134657, -2.24714231, -1.06548107, 0.327766687, 1.70165873, 2.82846093, 3.52139616, 3.66560483, 3.23718309};
static const double bn_cma_rm[] = {0.3058303, 0.438316584, 0.444277406};
static const double bn_cma_rv[] = {1.15714121, 1.461725, 1.68414342};
static const double ln_out[] = {0.401020736, 1.54379642, 2.35366654, 2.44216418, 1.83635521, 0.938297749, 0.196378127, -0.210306615, -0.401305258, -0.548662305, -0.628822684, -0.434069484, 0.531019926, 1.65351772, 2.3956883, 2.39967036, 1.73395813, 0.823581278, 0.108588524, -0.258122087, -0.414926708, -0.532744646, -0.577661872, -0.343345463};
static const double rms_out[] = {0.321781397, 1.23783636, 1.86429954, 1.85501993, 1.68741667, 0.759225428, -0.657929063, -1.87927449, -1.53404391, -1.76510978, -1.35856891, -0.468142629, 0.43227011, 1.30890632, 1.86009777, 1.77521622, 1.5599401, 0.562132359, -0.86259824, -2.02026486, -1.60142529, -1.7672807, -1.28106046, -0.336105257};
static const double act_relu[] = {0.299500257, 2.52441287, 2.83890033, 1.00496447, 0, 0, 0};
static const double act_leaky[] = {0.299500257, 2.52441287, 2.83890033, 1.00496447, -0.317901701, -0.596214592, -0.423324198};
static const double act_gelu[] = {0.185007542, 2.50978494, 2.83247447, 0.846725762, -0.0889692605, -0.00428160559, -0.0362915024};
static const double act_gelu_tanh[] = {0.185005054, 2.51023269, 2.83293319, 0.846571386, -0.0891578421, -0.00386244478, -0.0360932425};
static const double act_silu[] = {0.172009096, 2.33719134, 2.68202877, 0.735667706, -0.269347072, -0.143950924, -0.227519438};
static const double act_sigmoid[] = {0.574320376, 0.925835669, 0.944742084, 0.732033551, 0.16945307, 0.0482882969, 0.107491814};
static const double act_tanh[] = {0.290855199, 0.987248123, 0.993181169, 0.763671219, -0.920073926, -0.994864464, -0.971404195};
static const double act_softplus[] = {0.518421412, 2.52441287, 2.83890033, 1.00496447, 0.0203917455, 0.00128553691, 0.0072005461};
static const double act_elu[] = {0.299500257, 2.52441287, 2.83890033, 1.00496447, -0.557181895, -0.66448313, -0.61569345};
static const double softmax_out[] = {0.092227459, 0.406479299, 0.501293242, 0.801616132, 0.142163992, 0.0562199354};
static const double emb_grad[] = {0.295520216, 0.564642489, 0.783326924, 0, 0, 0, 0.141120002, -0.157745689, -0.44252044, -0.99616462, -0.925814688, -0.772764504, 0.863209367, 0.6754632, 0.427379876};

#define CHECK_OUT(t, ref) CHECK_TENSOR_NEAR((t), (ref), N_OF(ref), 1e-5, 1e-5)

TEST(nn_linear_forward_matches_torch) {
    born_module *l = born_linear_new(4, 3, true, NULL);
    CHECK_OK_TENSOR(born_module_get_parameter(l, "weight"));
    nn_set(l, "weight", PAT(0.7, 0.1, 0.5, 3, 4));
    nn_set(l, "bias", PAT(1.3, 0.2, 0.5, 3));
    born_tensor *y = born_module_forward(l, PAT(0.37, 0.5, 1.0, 2, 4));
    CHECK_SHAPE(y, 2, 3);
    CHECK_OUT(y, linear_out);
    CHECK(born_grad_fn_name(y) != NULL);
    CHECK(born_module_forward(l, PAT(0.37, 0.5, 1.0, 2, 5)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "[2, 5] f32");
    born_module_free(l);
}

TEST(nn_conv2d_forward_matches_torch) {
    born_conv2d_options o = born_conv2d_default_options(3, 3);
    o.stride[0] = o.stride[1] = 2;
    o.padding[0] = o.padding[1] = 1;
    o.groups = 2;
    born_module *c = born_conv2d_new(2, 4, &o, NULL);
    CHECK_SHAPE(born_module_get_parameter(c, "weight"), 4, 1, 3, 3);
    nn_set(c, "weight", PAT(0.9, 0.3, 0.4, 4, 1, 3, 3));
    nn_set(c, "bias", PAT(1.1, 0.7, 0.3, 4));
    born_tensor *y = born_module_forward(c, PAT(0.23, 0.1, 1.0, 1, 2, 5, 5));
    CHECK_SHAPE(y, 1, 4, 3, 3);
    CHECK_OUT(y, conv_a_out);
    born_module_free(c);

    o = born_conv2d_default_options(2, 3);
    o.stride[1] = 2;
    o.padding[0] = 1;
    o.dilation[0] = 2;
    o.bias = false;
    c = born_conv2d_new(2, 3, &o, NULL);
    CHECK(born_module_get_parameter(c, "bias") == NULL);
    born_clear_error();
    nn_set(c, "weight", PAT(0.61, 0.2, 0.4, 3, 2, 2, 3));
    y = born_module_forward(c, PAT(0.19, 0.4, 1.0, 2, 2, 5, 6));
    CHECK_SHAPE(y, 2, 3, 5, 2);
    CHECK_OUT(y, conv_b_out);
    CHECK(born_module_forward(c, PAT(0.19, 0.4, 1.0, 2, 3, 5, 6)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "Conv2d(2, 3)");
    born_module_free(c);

    o = born_conv2d_default_options(3, 3);
    o.groups = 2;
    CHECK(born_conv2d_new(3, 4, &o, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "groups 2");
}

TEST(nn_pooling_forward_matches_torch) {
    born_pool2d_params p = born_pool2d_default_params(3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    born_module *mp = born_max_pool2d_new(&p), *ap = born_avg_pool2d_new(&p);
    born_tensor *x = PAT(0.83, 0.3, 1.0, 1, 2, 5, 5);
    CHECK_OUT(born_module_forward(mp, x), maxpool_out);
    CHECK_OUT(born_module_forward(ap, x), avgpool_out);
    born_module_free(mp);
    born_module_free(ap);

    born_module *ad = born_adaptive_avg_pool2d_new(3, 2);
    x = PAT(0.47, 0.9, 1.0, 1, 2, 5, 7);
    born_tensor *y = born_module_forward(ad, x);
    CHECK_SHAPE(y, 1, 2, 3, 2);
    CHECK_OUT(y, adaptive_out);
    born_module_free(ad);
    CHECK_OUT(born_adaptive_avg_pool2d(x, 1, 4), adaptive_1x4_out);
    /* divisible sizes take the average-pooling path; unbatched input keeps its rank */
    born_tensor *x3 = PAT(0.47, 0.9, 1.0, 2, 4, 6);
    y = born_adaptive_avg_pool2d(x3, 1, 1);
    CHECK_SHAPE(y, 2, 1, 1);
    double want[2], got[2];
    CHECK(test_read(born_mean(x3, BORN_DIMS(1, 2), false), want, 2) && test_read(y, got, 2));
    CHECK_NEAR(got[0], want[0], 1e-6);
    CHECK_NEAR(got[1], want[1], 1e-6);
    CHECK(born_adaptive_avg_pool2d(PAT(0.1, 0, 1, 4, 4), 2, 2) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "[4, 4] f32");
    CHECK(born_adaptive_avg_pool2d(x, 0, 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "output size (0, 2)");
}

TEST(nn_batch_norm_matches_torch_in_training_and_eval) {
    born_module *bn = born_batch_norm1d_new(3, NULL);
    nn_set(bn, "weight", born_add_scalar(PAT(0.5, 0.5, 1.0, 3), 1.0));
    nn_set(bn, "bias", PAT(0.3, 0.1, 0.5, 3));
    born_tensor *x = PAT(0.71, 0.2, 2.0, 4, 3);
    CHECK_OUT(born_module_forward(bn, x), bn1_train_out);
    CHECK_OUT(born_module_get_buffer(bn, "running_mean"), bn1_rm);
    CHECK_OUT(born_module_get_buffer(bn, "running_var"), bn1_rv);
    CHECK_OUT(born_module_forward(bn, PAT(0.29, 0.6, 1.5, 2, 3, 4)), bn1_train3_out);
    CHECK_OUT(born_module_get_buffer(bn, "running_mean"), bn1_rm2);
    CHECK_OUT(born_module_get_buffer(bn, "running_var"), bn1_rv2);
    born_tensor *nbt = born_module_get_buffer(bn, "num_batches_tracked");
    CHECK(born_tensor_dtype(nbt) == BORN_I64 && born_tensor_ndim(nbt) == 0);
    CHECK_EQ_INT(born_item(nbt), 2);
    born_module_eval(bn);
    CHECK_OUT(born_module_forward(bn, x), bn1_eval_out);
    CHECK_OUT(born_module_get_buffer(bn, "running_mean"), bn1_rm2); /* eval leaves them alone */
    CHECK_EQ_INT(born_item(nbt), 2);
    CHECK(born_module_forward(bn, PAT(0.1, 0, 1, 2, 3, 4, 5)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "BatchNorm1d(3)");
    CHECK(born_module_forward(bn, PAT(0.1, 0, 1, 2, 4)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "has 4 channels");
    born_module_free(bn);

    bn = born_batch_norm2d_new(2, NULL);
    nn_set(bn, "weight", born_add_scalar(PAT(0.5, 0.5, 1.0, 2), 1.0));
    nn_set(bn, "bias", PAT(0.3, 0.1, 0.5, 2));
    x = PAT(0.41, 0.3, 2.0, 2, 2, 3, 3);
    CHECK_OUT(born_module_forward(bn, x), bn2_train_out);
    CHECK_OUT(born_module_get_buffer(bn, "running_mean"), bn2_rm);
    CHECK_OUT(born_module_get_buffer(bn, "running_var"), bn2_rv);
    born_module_train(bn, false);
    CHECK(!born_module_is_training(bn));
    CHECK_OUT(born_module_forward(bn, x), bn2_eval_out);
    born_module_free(bn);

    /* momentum None: a cumulative average; affine = false: no parameters */
    born_batch_norm_options o = born_batch_norm_default_options();
    o.momentum = -1;
    o.affine = false;
    bn = born_batch_norm1d_new(3, &o);
    CHECK_EQ_INT(born_module_num_parameters(bn), 0);
    born_module_forward(bn, PAT(0.71, 0.2, 2.0, 4, 3));
    born_module_forward(bn, PAT(0.33, 0.1, 1.0, 4, 3));
    CHECK_OUT(born_module_get_buffer(bn, "running_mean"), bn_cma_rm);
    CHECK_OUT(born_module_get_buffer(bn, "running_var"), bn_cma_rv);
    born_module_free(bn);

    /* one value per channel cannot be normalised in training */
    bn = born_batch_norm1d_new(3, NULL);
    CHECK(born_module_forward(bn, PAT(0.1, 0, 1, 1, 3)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "more than 1 value per channel");
    born_module_free(bn);
}

/* One training-mode batch norm of x with weight w and bias b (either may be NULL) and its
 * backward from dy: the output, the three gradients (NULL where not asked) and the running
 * statistics after the update, as f64 copies. */
typedef struct bn_result {
    double *v[6]; /* y, dx, dw, db, running mean, running var */
    int64_t n[6];
} bn_result;

static double *bn_copy(born_tensor *t, int64_t *n) {
    if (!t) return NULL;
    born_tensor *d = born_contiguous(born_to_dtype(t, BORN_F64));
    *n = d ? born_tensor_numel(d) : 0;
    double *out = malloc(sizeof(double) * (size_t)(*n ? *n : 1));
    if (d && out) memcpy(out, born_data_f64(d), sizeof(double) * (size_t)*n);
    born_free(d);
    return out;
}

static bn_result bn_run(born_dtype dt, born_tensor *x0, born_tensor *w0, born_tensor *b0,
                        born_tensor *dy0) {
    bn_result r;
    memset(&r, 0, sizeof r);
    born_scope_begin();
    int64_t c = born_tensor_shape(x0)[1];
    born_tensor *x = born_to_dtype(x0, dt), *dy = born_to_dtype(dy0, dt);
    born_tensor *w = w0 ? born_to_dtype(w0, dt) : NULL, *b = b0 ? born_to_dtype(b0, dt) : NULL;
    born_tensor *rm = born_full(dt, BORN_DIMS(c), 0.25), *rv = born_full(dt, BORN_DIMS(c), 2.0);
    born_requires_grad(x, true);
    if (w) born_requires_grad(w, true);
    if (b) born_requires_grad(b, true);
    born_tensor *y = born_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    CHECK(y != NULL);
    if (y) {
        born_backward_params bp = born_backward_default_params();
        bp.grad = dy;
        CHECK_OK(born_backward_ex(y, &bp));
        born_tensor *t[6] = {y, born_grad(x), w ? born_grad(w) : NULL, b ? born_grad(b) : NULL, rm,
                             rv};
        for (int k = 0; k < 6; k++)
            r.v[k] = bn_copy(t[k], &r.n[k]);
    }
    born_scope_end();
    return r;
}

static void bn_free(bn_result *r) {
    for (int k = 0; k < 6; k++)
        free(r->v[k]);
}

/* f32 batch norm in training (the backend's fused kernels on the CPU) against the f64
 * composition of ops, forward, all three gradients and the running statistics, with and without
 * the affine parameters, over runs longer than the kernel's chunks; and the same bits on 1 and 3
 * threads. */
TEST(nn_batch_norm_f32_matches_the_f64_composition) {
    static const int64_t shapes[][4] = {{4, 3, 5, 7}, {6, 5, 1, 1}, {2, 2, 23, 29}, {3, 17, 2, 1}};
    int saved = born_get_num_threads();
    for (int s = 0; s < 4; s++)
        for (int affine = 0; affine < 3; affine++) { /* none, weight and bias, weight only */
            const int64_t *sh = shapes[s];
            born_tensor *x = born_add_scalar(PAT(0.37, 0.9, 3.0, sh[0], sh[1], sh[2], sh[3]), 2.5);
            born_tensor *dy = PAT(0.61, 0.3, 1.7, sh[0], sh[1], sh[2], sh[3]);
            born_tensor *w = affine ? born_add_scalar(PAT(0.5, 0.5, 1.0, sh[1]), 0.75) : NULL;
            born_tensor *b = affine == 1 ? PAT(0.3, 0.1, 0.5, sh[1]) : NULL;
            CHECK_OK(born_set_num_threads(1));
            bn_result f = bn_run(BORN_F32, x, w, b, dy), d = bn_run(BORN_F64, x, w, b, dy);
            CHECK_OK(born_set_num_threads(3));
            bn_result f3 = bn_run(BORN_F32, x, w, b, dy);
            const char *what[6] = {"output",        "input gradient", "weight gradient",
                                   "bias gradient", "running mean",   "running var"};
            for (int k = 0; k < 6; k++) {
                CHECK(!f.v[k] == !d.v[k] && f.n[k] == d.n[k]);
                if (!f.v[k] || !d.v[k] || f.n[k] != d.n[k]) continue;
                double scale = 0, worst = 0;
                for (int64_t i = 0; i < d.n[k]; i++)
                    scale = fmax(scale, fabs(d.v[k][i]));
                for (int64_t i = 0; i < d.n[k]; i++)
                    worst = fmax(worst, fabs(f.v[k][i] - d.v[k][i]) / (scale > 0 ? scale : 1));
                CHECK_MSG(worst < 2e-5, "shape %d, affine %d: %s off by %.3g of its largest value",
                          s, affine, what[k], worst);
                CHECK_MSG(f3.v[k] && memcmp(f3.v[k], f.v[k], sizeof(double) * (size_t)f.n[k]) == 0,
                          "shape %d, affine %d: %s differs on 3 threads", s, affine, what[k]);
            }
            bn_free(&f), bn_free(&d), bn_free(&f3);
            born_free(x), born_free(dy), born_free(w), born_free(b);
        }
    CHECK_OK(born_set_num_threads(saved));
}

TEST(nn_layer_norm_and_rms_norm_match_torch) {
    born_module *ln = born_layer_norm_new(BORN_DIMS(3, 4), 1e-5, true, true);
    nn_set(ln, "weight", born_add_scalar(PAT(0.5, 0.5, 0.5, 3, 4), 1.0));
    nn_set(ln, "bias", PAT(0.3, 0.1, 0.5, 3, 4));
    born_tensor *x = PAT(0.53, 0.2, 2.0, 2, 3, 4);
    CHECK_OUT(born_module_forward(ln, x), ln_out);
    CHECK(born_module_forward(ln, PAT(0.1, 0, 1, 2, 4, 3)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "does not end with the normalized shape [3, 4]");
    born_module_free(ln);

    born_module *rn = born_rms_norm_new(BORN_DIMS(4), BORN_RMS_NORM_EPS_DEFAULT, true);
    nn_set(rn, "weight", born_add_scalar(PAT(0.5, 0.5, 0.5, 4), 1.0));
    CHECK_OUT(born_module_forward(rn, x), rms_out);
    born_module_free(rn);
}

TEST(nn_activation_modules_match_torch) {
    struct {
        born_module *m;
        const double *ref;
    } cases[] = {
        {born_relu_new(), act_relu},           {born_leaky_relu_new(0.2), act_leaky},
        {born_gelu_new(false), act_gelu},      {born_gelu_new(true), act_gelu_tanh},
        {born_silu_new(), act_silu},           {born_sigmoid_new(), act_sigmoid},
        {born_tanh_new(), act_tanh},           {born_softplus_new(2.0, 1.0), act_softplus},
        {born_elu_new(0.7), act_elu},
    };
    born_tensor *x = PAT(0.9, 0.1, 3.0, 7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        born_tensor *y = born_module_forward(cases[i].m, x);
        CHECK_MSG(y != NULL, "%s: %s", born_module_type_name(cases[i].m), born_last_error());
        CHECK_TENSOR_NEAR(y, cases[i].ref, 7, 1e-5, 1e-6);
        born_module_free(cases[i].m);
    }
    born_module *sm = born_softmax_new(1);
    CHECK_OUT(born_module_forward(sm, PAT(0.9, 0.1, 2.0, 2, 3)), softmax_out);
    born_module_free(sm);

    born_module *id = born_identity_new();
    born_tensor *xi = born_requires_grad(PAT64(0.3, 0.1, 1.0, 2, 2), true);
    born_tensor *yi = born_module_forward(id, xi);
    CHECK(yi != xi && born_tensor_shares_storage(yi, xi) && born_tensor_requires_grad(yi));
    born_module_free(id);

    born_module *fl = born_flatten_new(1, -1);
    CHECK_SHAPE(born_module_forward(fl, PAT(0.1, 0, 1, 2, 3, 4, 5)), 2, 60);
    born_module_free(fl);
    fl = born_flatten_new(0, 1);
    CHECK_SHAPE(born_module_forward(fl, PAT(0.1, 0, 1, 2, 3, 4)), 6, 4);
    born_module_free(fl);
}

TEST(nn_embedding_padding_row_gets_no_gradient) {
    born_module *e = born_embedding_new(5, 3, 1, NULL);
    born_tensor *w = born_module_get_parameter(e, "weight");
    double row[3];
    CHECK(test_read(born_select(w, 0, 1), row, 3) && row[0] == 0 && row[1] == 0 && row[2] == 0);
    nn_set(e, "weight", PAT(0.8, 0.2, 1.0, 5, 3));
    born_tensor *idx = tensor_of(BORN_I64, BORN_DIMS(2, 3), (double[]){0, 1, 4, 2, 1, 3});
    born_tensor *y = born_module_forward(e, idx);
    CHECK_SHAPE(y, 2, 3, 3);
    /* the forward still reads the padding row's current values, as torch */
    double got[3];
    CHECK(test_read(born_select(born_select(y, 0, 1), 0, 1), got, 3));
    CHECK_NEAR(got[0], sin(0.8 * 3 + 0.2), 1e-6);
    CHECK_OK(born_backward(born_sum(born_mul(y, PAT(0.3, 0.3, 1.0, 2, 3, 3)), 0, NULL, false)));
    CHECK_OUT(born_grad(w), emb_grad);
    CHECK(born_module_forward(e, tensor_of(BORN_F32, BORN_DIMS(1), (double[]){1})) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "must be integers");
    born_module_free(e);
    CHECK(born_embedding_new(5, 3, 5, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "padding_idx 5");
    e = born_embedding_new(5, 3, -1, NULL); /* counts from the end: row 4 */
    char *s = born_module_repr(e);
    CHECK(s && strcmp(s, "Embedding(5, 3, padding_idx=4)") == 0);
    free(s);
    born_module_free(e);
}
