/* Every loss against torch.nn.functional in f64: all reductions, class weights, ignore_index,
 * label smoothing, probability targets, unbatched and 2-D spatial targets, and gradients. The
 * reference values come from this Python (torch 2.x, CPU):
 *
 * import torch, torch.nn.functional as F
 * def pat(shape, a, b, s=1.0):
 *     n = 1
 *     for d in shape: n *= d
 *     return (torch.sin(a*torch.arange(n, dtype=torch.float64) + b) * s).reshape(shape)
 * def out(name, t):
 *     v = t.detach().double().flatten().tolist()
 *     print(f"static const double {name}[] = {{" + ", ".join("%.12g" % x for x in v) + "};")
 * red = ['mean', 'sum', 'none']
 * W = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.7], dtype=torch.float64)
 * # class indices, 1-D targets with an ignored entry
 * t = torch.tensor([1, 0, 4, -100, 3])
 * for wname, w in [('nw', None), ('w', W)]:
 *     for ls in [0.0, 0.1]:
 *         for r in red:
 *             x = pat([5, 5], 0.7, 0.3, 2.0).requires_grad_()
 *             l = F.cross_entropy(x, t, weight=w, label_smoothing=ls, reduction=r)
 *             tag = f"ce_{wname}_ls{int(ls*10)}_{r}"
 *             out(tag, l)
 *             (l * pat(list(l.shape), 0.9, 0.2)).sum().backward()
 *             out(tag + "_grad", x.grad)
 * # 2-D spatial: logits [2, 3, 2, 2], target [2, 2, 2]
 * t2 = torch.tensor([[[0, 2], [1, -100]], [[2, 2], [0, 1]]])
 * for r in red:
 *     x = pat([2, 3, 2, 2], 0.53, 0.1, 2.0)
 *     out(f"ce2d_{r}", F.cross_entropy(x, t2, weight=W[:3], label_smoothing=0.2, reduction=r))
 * # probability targets, weight and smoothing
 * P = torch.softmax(pat([4, 5], 0.41, 0.7, 2.0), 1)
 * for r in red:
 *     x = pat([4, 5], 0.7, 0.3, 2.0).requires_grad_()
 *     l = F.cross_entropy(x, P, weight=W, label_smoothing=0.15, reduction=r)
 *     out(f"ceprob_{r}", l)
 *     (l * pat(list(l.shape), 0.9, 0.2)).sum().backward()
 *     out(f"ceprob_{r}_grad", x.grad)
 * x = pat([2, 3, 2, 2], 0.53, 0.1, 2.0)
 * P2 = torch.softmax(pat([2, 3, 2, 2], 0.37, 0.2, 2.0), 1)
 * out("ceprob2d_none", F.cross_entropy(x, P2, reduction='none'))
 * # unbatched
 * out("ce_unbatched", F.cross_entropy(pat([5], 0.7, 0.3, 2.0), torch.tensor(3)))
 * out("ce_unbatched_none", F.cross_entropy(pat([5], 0.7, 0.3, 2.0), torch.tensor(3), reduction='none'))
 * out("ce_unbatched_prob", F.cross_entropy(pat([5], 0.7, 0.3, 2.0), P[0]))
 * # nll
 * lp = torch.log_softmax(pat([5, 5], 0.7, 0.3, 2.0), 1)
 * for r in red: out(f"nll_w_{r}", F.nll_loss(lp, t, weight=W, reduction=r))
 * out("nll_ignore0", F.nll_loss(lp, torch.tensor([1, 0, 4, 0, 3]), ignore_index=0))
 * # regression
 * a = pat([2, 3], 0.8, 0.1, 2.0); b = pat([2, 3], 0.5, 0.9, 1.5)
 * for r in red:
 *     out(f"mse_{r}", F.mse_loss(a, b, reduction=r))
 *     out(f"l1_{r}", F.l1_loss(a, b, reduction=r))
 *     out(f"sl1_{r}", F.smooth_l1_loss(a, b, reduction=r, beta=0.5))
 *     out(f"huber_{r}", F.huber_loss(a, b, reduction=r, delta=0.7))
 * out("sl1_beta0", F.smooth_l1_loss(a, b, beta=0.0))
 * out("mse_bcast", F.mse_loss(a, b[0].expand(2, 3)))
 * # bce with logits, extreme logits
 * xl = torch.tensor([[-30.0, -2.5, 0.0], [0.7, 3.0, 40.0]], dtype=torch.float64, requires_grad=True)
 * tl = torch.tensor([[0.0, 1.0, 0.3], [1.0, 0.0, 0.9]], dtype=torch.float64)
 * wl = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64); pw = torch.tensor([3.0, 0.5, 1.5], dtype=torch.float64)
 * for r in red:
 *     out(f"bcel_{r}", F.binary_cross_entropy_with_logits(xl, tl, reduction=r))
 *     out(f"bcel_wpw_{r}", F.binary_cross_entropy_with_logits(xl, tl, weight=wl, pos_weight=pw, reduction=r))
 * l = F.binary_cross_entropy_with_logits(xl, tl, weight=wl, pos_weight=pw); l.backward(); out("bcel_wpw_grad", xl.grad)
 * xp = torch.tensor([[0.0, 0.2, 0.5], [0.9, 1.0, 0.35]], dtype=torch.float64)
 * for r in red: out(f"bce_{r}", F.binary_cross_entropy(xp, tl, weight=wl, reduction=r))
 * # 1-D spatial: logits [2, 3, 4], target [2, 4]
 * t1 = torch.tensor([[0, 2, -100, 1], [2, 1, 0, 0]])
 * for r in red:
 *     x = pat([2, 3, 4], 0.61, 0.4, 2.0).requires_grad_()
 *     l = F.cross_entropy(x, t1, weight=W[:3], label_smoothing=0.05, reduction=r)
 *     out(f"ce1d_{r}", l)
 *     (l * pat(list(l.shape), 0.9, 0.2)).sum().backward()
 *     out(f"ce1d_{r}_grad", x.grad)
 */
#include <string.h>

#include "nn/nn_test_util.h"

static const double ce_nw_ls0_mean[] = {2.87558273154};
static const double ce_nw_ls0_mean_grad[] = {0.0046228877357, -0.035891426796, 0.0186027378929, 0.00988388357212, 0.00278191759529, -0.0447061586589, 0.00238762216554, 0.00288189736571, 0.00798532008418, 0.0314513190434, 0.0152742850212, 0.0201663212642, 0.010498537017, 0.00292954847333, -0.0488686917757, 0, 0, 0, 0, 0, 0.0290522631831, 0.014822230854, 0.00410201708942, -0.048540580771, 0.000564069644486};
static const double ce_nw_ls0_sum[] = {11.5023309262};
static const double ce_nw_ls0_sum_grad[] = {0.0184915509428, -0.143565707184, 0.0744109515716, 0.0395355342885, 0.0111276703812, -0.178824634635, 0.00955048866217, 0.0115275894628, 0.0319412803367, 0.125805276174, 0.0610971400847, 0.0806652850568, 0.0419941480681, 0.0117181938933, -0.195474767103, 0, 0, 0, 0, 0, 0.116209052732, 0.0592889234162, 0.0164080683577, -0.194162323084, 0.00225627857795};
static const double ce_nw_ls0_none[] = {1.28242631009, 2.30370501291, 4.13019126944, 0, 3.78600833374};
static const double ce_nw_ls0_none_grad[] = {0.0184915509428, -0.143565707184, 0.0744109515716, 0.0395355342885, 0.0111276703812, -0.802186376275, 0.0428423740788, 0.0517114168147, 0.143284844278, 0.564347741103, 0.279637888964, 0.369200096677, 0.192204657998, 0.0536334597373, -0.894676103376, 0, 0, 0, 0, 0, -0.357898351138, -0.18259685827, -0.050533245668, 0.597977297388, -0.00694884231278};
static const double ce_nw_ls1_mean[] = {2.80154609913};
static const double ce_nw_ls1_mean_grad[] = {0.00362954108172, -0.0319180401801, 0.0176093912389, 0.00889053691814, 0.00178857094132, -0.040732772043, 0.00139427551157, 0.00188855071173, 0.00699197343021, 0.0304579723894, 0.0142809383672, 0.0191729746102, 0.00950519036306, 0.00193620181935, -0.0448953051598, 0, 0, 0, 0, 0, 0.0280589165291, 0.0138288842001, 0.00310867043544, -0.0445671941551, -0.000429277009489};
static const double ce_nw_ls1_sum[] = {11.2061843965};
static const double ce_nw_ls1_sum_grad[] = {0.0145181643269, -0.12767216072, 0.0704375649557, 0.0355621476726, 0.00715428376527, -0.162931088172, 0.00557710204627, 0.00755420284693, 0.0279678937208, 0.121831889558, 0.0571237534688, 0.0766918984409, 0.0380207614522, 0.00774480727741, -0.179581220639, 0, 0, 0, 0, 0, 0.112235666116, 0.0553155368003, 0.0124346817418, -0.17826877662, -0.00171710803796};
static const double ce_nw_ls1_none[] = {1.33689251325, 2.28274055334, 3.9290783847, 0, 3.65747294524};
static const double ce_nw_ls1_none_grad[] = {0.0145181643269, -0.12767216072, 0.0704375649557, 0.0355621476726, 0.00715428376527, -0.73088978747, 0.0250182268776, 0.0338872696135, 0.125460697077, 0.546523593901, 0.261451940427, 0.351014148141, 0.174018709461, 0.0354475112008, -0.82193230923, 0, 0, 0, 0, 0, -0.345661193319, -0.170359700451, -0.0382960878492, 0.549028666113, 0.00528831550607};
static const double ce_w_ls0_mean[] = {3.07081651729};
static const double ce_w_ls0_mean_grad[] = {0.00440275022448, -0.0341823112343, 0.0177168932313, 0.00941322244964, 0.00264944532885, -0.0212886469804, 0.00113696293597, 0.00137233207891, 0.00380253337342, 0.0149768185921, 0.0101828566808, 0.0134442141761, 0.00699902467802, 0.00195303231555, -0.0325791278505, 0, 0, 0, 0, 0, 0.0553376441582, 0.0282328206744, 0.0078133658846, -0.0924582490876, 0.00107441837045};
static const double ce_w_ls0_sum[] = {12.8974293726};
static const double ce_w_ls0_sum_grad[] = {0.0184915509428, -0.143565707184, 0.0744109515716, 0.0395355342885, 0.0111276703812, -0.0894123173177, 0.00477524433109, 0.00576379473142, 0.0159706401684, 0.0629026380868, 0.0427679980593, 0.0564656995398, 0.0293959036477, 0.00820273572532, -0.136832336972, 0, 0, 0, 0, 0, 0.232418105464, 0.118577846832, 0.0328161367153, -0.388324646168, 0.00451255715589};
static const double ce_w_ls0_none[] = {1.28242631009, 1.15185250645, 2.8911338886, 0, 7.57201666748};
static const double ce_w_ls0_none_grad[] = {0.0184915509428, -0.143565707184, 0.0744109515716, 0.0395355342885, 0.0111276703812, -0.401093188137, 0.0214211870394, 0.0258557084074, 0.0716424221392, 0.282173870551, 0.195746522275, 0.258440067674, 0.134543260598, 0.0375434218161, -0.626273272363, 0, 0, 0, 0, 0, -0.715796702275, -0.365193716539, -0.101066491336, 1.19595459478, -0.0138976846256};
static const double ce_w_ls1_mean[] = {3.00145191081};
static const double ce_w_ls1_mean_grad[] = {0.00399136651144, -0.0302144547595, 0.016545863088, 0.00765291869922, 0.00202430646081, -0.0190941627456, 0.00033644975942, 0.000128923936473, 0.0023971687805, 0.0162316202692, 0.0103498997417, 0.0133432346349, 0.00601989672353, 0.0001837054821, -0.0298967365822, 0, 0, 0, 0, 0, 0.0524851032432, 0.026072764953, 0.00605832450303, -0.0849821799771, 0.000365987277871};
static const double ce_w_ls1_sum[] = {12.6060980254};
static const double ce_w_ls1_sum_grad[] = {0.016763739348, -0.12690070999, 0.0694926249698, 0.0321422585367, 0.00850208713538, -0.0801954835317, 0.00141308898956, 0.000541480533187, 0.0100681088781, 0.0681728051308, 0.0434695789151, 0.0560415854664, 0.0252835662388, 0.000771563024819, -0.125566293645, 0, 0, 0, 0, 0, 0.220437433622, 0.109505612803, 0.0254449629127, -0.356925155904, 0.00153714656706};
static const double ce_w_ls1_none[] = {1.33796521782, 1.28531864502, 2.84950492456, 0, 7.13330923801};
static const double ce_w_ls1_none_grad[] = {0.016763739348, -0.12690070999, 0.0694926249698, 0.0321422585367, 0.00850208713538, -0.359747550772, 0.00633895177922, 0.00242901828166, 0.0451643577706, 0.305815222941, 0.198957615121, 0.256498923391, 0.115721342745, 0.00353139697151, -0.574709278229, 0, 0, 0, 0, 0, -0.678898865168, -0.337253228909, -0.0783648954803, 1.09925106327, -0.00473407371347};
static const double ce2d_mean[] = {2.91275204181};
static const double ce2d_sum[] = {21.8456403135};
static const double ce2d_none[] = {1.09744701079, 4.87261475615, 2.31060117024, 0, 4.89159291605, 4.87244080206, 0.563350597785, 3.23759306047};
static const double ceprob_mean[] = {2.49300379401};
static const double ceprob_mean_grad[] = {0.00222033533235, 0.00644209140376, 0.00397267729477, -0.0105513993403, -0.00208370469056, -0.00795413988009, -0.00977893027954, -0.00675009261944, -0.000860523201633, 0.0253436859807, 0.0151123582573, 0.0180933998898, 0.0022494099222, -0.0196055874994, -0.0158495805698, -0.00194671593968, -0.00828464582654, -0.0151070654707, -0.01018082583, 0.0355192530669};
static const double ceprob_sum[] = {9.97201517605};
static const double ceprob_sum_grad[] = {0.0088813413294, 0.025768365615, 0.0158907091791, -0.0422055973612, -0.00833481876226, -0.0318165595204, -0.0391157211182, -0.0270003704778, -0.00344209280653, 0.101374743923, 0.060449433029, 0.072373599559, 0.00899763968882, -0.0784223499976, -0.0633983222792, -0.00778686375873, -0.0331385833062, -0.060428261883, -0.0407233033199, 0.142077012268};
static const double ceprob_none[] = {1.88149653401, 2.13568740425, 3.11203251945, 2.84279871834};
static const double ceprob_none_grad[] = {0.0088813413294, 0.025768365615, 0.0158907091791, -0.0422055973612, -0.00833481876226, -0.142725361297, -0.175468545724, -0.121120501075, -0.0154408253701, 0.454755233467, 0.27667337322, 0.33124955717, 0.0411816488424, -0.35893431952, -0.290170259712, -0.00937740074677, -0.0399074371236, -0.0727712780992, -0.0490414044467, 0.171097520416};
static const double ceprob2d_none[] = {0.800792659371, 0.954160051995, 1.11463349098, 0.860255478671, 3.35442453345, 3.19383881339, 3.04800225562, 2.9689428663};
static const double ce_unbatched[] = {1.6144419186};
static const double ce_unbatched_none[] = {1.6144419186};
static const double ce_unbatched_prob[] = {1.66635926914};
static const double nll_w_mean[] = {3.07081651729};
static const double nll_w_sum[] = {12.8974293726};
static const double nll_w_none[] = {1.28242631009, 1.15185250645, 2.8911338886, 0, 7.57201666748};
static const double nll_ignore0[] = {3.06620863775};
static const double mse_mean[] = {0.556032355462};
static const double l1_mean[] = {0.623173285562};
static const double sl1_mean[] = {0.418067238331};
static const double huber_mean[] = {0.246192812143};
static const double mse_sum[] = {3.33619413277};
static const double l1_sum[] = {3.73903971337};
static const double sl1_sum[] = {2.50840342998};
static const double huber_sum[] = {1.47715687286};
static const double mse_none[] = {0.95125599041, 0.00782857312782, 0.317960078536, 0.0337638851378, 0.454768668585, 1.57061693698};
static const double l1_none[] = {0.975323531148, 0.0884792242723, 0.563879489374, 0.183749517381, 0.674365382107, 1.25324256909};
static const double sl1_none[] = {0.725323531148, 0.00782857312782, 0.313879489374, 0.0337638851378, 0.424365382107, 1.00324256909};
static const double huber_none[] = {0.437726471803, 0.00391428656391, 0.158980039268, 0.0168819425689, 0.227384334292, 0.632269798362};
static const double sl1_beta0[] = {0.623173285562};
static const double mse_bcast[] = {2.30565448099};
static const double bcel_mean[] = {1.78730171922};
static const double bcel_wpw_mean[] = {2.42284163456};
static const double bcel_sum[] = {10.7238103153};
static const double bcel_wpw_sum[] = {14.5370498073};
static const double bcel_none[] = {9.23705556488e-14, 2.57888973429, 0.69314718056, 0.403186048885, 3.04858735157, 4};
static const double bcel_wpw_none[] = {4.61852778244e-14, 1.28944486715, 1.59423851529, 0.604779073328, 3.04858735157, 8};
static const double bcel_wpw_grad[] = {7.7980191407e-15, -0.0770118183316, 0.0416666666667, -0.082953056958, 0.15876235447, 0.0333333333333};
static const double bce_mean[] = {17.5040414898};
static const double bce_sum[] = {105.024248939};
static const double bce_none[] = {0, 1.60943791243, 1.38629436112, 0.0526802578289, 100, 1.97583640732};
static const double ce1d_mean[] = {2.68039544904};
static const double ce1d_mean_grad[] = {-0.00639922532333, 0.0377696749122, 0, 0.0156290149527, 0.00645165720372, 0.00330002612662, 0, -0.0291025552249, -5.24318803933e-05, -0.0410697010388, 0, 0.0134735402722, 0.0378414715098, 0.0190241019982, -0.0104300308607, -0.0131908623875, 0.000862954958901, -0.0290817452658, -0.000241612217266, 0.000173428983342, -0.0387044264687, 0.0100576432675, 0.0106716430779, 0.0130174334041};
static const double ce1d_sum[] = {17.4225704188};
static const double ce1d_sum_grad[] = {-0.0415949646017, 0.245502886929, 0, 0.101588597193, 0.0419357718242, 0.021450169823, 0, -0.189166608962, -0.000340807222556, -0.266953056752, 0, 0.0875780117692, 0.245969564814, 0.123656662989, -0.0677952005943, -0.0857406055185, 0.00560920723286, -0.189031344228, -0.00157047941223, 0.00112728839172, -0.251578772047, 0.0653746812391, 0.0693656800065, 0.0846133171268};
static const double ce1d_none[] = {0.406167451028, 3.85639105297, 0, 4.11713851407, 3.08026195856, 4.07802129575, 0.708382348489, 1.17620779792};
static const double ce1d_none_grad[] = {-0.0415949646017, 1.10129721015, 0, 0.122338982252, 0.0419357718242, 0.0962229506907, 0, -0.227805590942, -0.000340807222556, -1.19752016084, 0, 0.10546660869, -0.757532219798, -0.622376754279, 0.215417488808, -0.0928402887551, -0.0172751259272, 0.951414275899, 0.00499015753684, 0.00122063261817, 0.774807345725, -0.32903752162, -0.220407646345, 0.0916196561369};

static const born_reduction reductions[3] = {BORN_REDUCTION_MEAN, BORN_REDUCTION_SUM, BORN_REDUCTION_NONE};

static born_tensor *class_weights(void) {
    return tensor_of(BORN_F64, BORN_DIMS(5), (double[]){0.5, 1.0, 1.5, 2.0, 0.7});
}

/* (loss * pat(loss.shape, 0.9, 0.2)).sum() backpropagated to x */
static void backward_weighted(born_tensor *loss) {
    born_tensor *w = nn_pattern(BORN_F64, born_tensor_ndim(loss), born_tensor_shape(loss), 0.9, 0.2, 1.0);
    CHECK_OK(born_backward(born_sum(born_mul(loss, w), 0, NULL, false)));
}

TEST(nn_cross_entropy_class_indices_match_torch) {
    const double *refs[2][2][3][2] = {
        {{{ce_nw_ls0_mean, ce_nw_ls0_mean_grad}, {ce_nw_ls0_sum, ce_nw_ls0_sum_grad}, {ce_nw_ls0_none, ce_nw_ls0_none_grad}},
         {{ce_nw_ls1_mean, ce_nw_ls1_mean_grad}, {ce_nw_ls1_sum, ce_nw_ls1_sum_grad}, {ce_nw_ls1_none, ce_nw_ls1_none_grad}}},
        {{{ce_w_ls0_mean, ce_w_ls0_mean_grad}, {ce_w_ls0_sum, ce_w_ls0_sum_grad}, {ce_w_ls0_none, ce_w_ls0_none_grad}},
         {{ce_w_ls1_mean, ce_w_ls1_mean_grad}, {ce_w_ls1_sum, ce_w_ls1_sum_grad}, {ce_w_ls1_none, ce_w_ls1_none_grad}}}};
    born_tensor *target = tensor_of(BORN_I64, BORN_DIMS(5), (double[]){1, 0, 4, -100, 3});
    for (int w = 0; w < 2; w++)
        for (int ls = 0; ls < 2; ls++)
            for (int r = 0; r < 3; r++) {
                born_tensor *x = born_requires_grad(PAT64(0.7, 0.3, 2.0, 5, 5), true);
                born_cross_entropy_params p = born_cross_entropy_default_params();
                p.weight = w ? class_weights() : NULL;
                p.label_smoothing = ls ? 0.1 : 0.0;
                p.reduction = reductions[r];
                born_tensor *loss = born_cross_entropy(x, target, &p);
                CHECK_MSG(loss != NULL, "weight %d smoothing %d reduction %d: %s", w, ls, r, born_last_error());
                if (!loss) continue;
                CHECK_EQ_INT(born_tensor_numel(loss), r == 2 ? 5 : 1);
                CHECK_TENSOR_NEAR(loss, refs[w][ls][r][0], born_tensor_numel(loss), 1e-10, 1e-12);
                backward_weighted(loss);
                CHECK_TENSOR_NEAR(born_grad(x), refs[w][ls][r][1], 25, 1e-9, 1e-12);
            }
}

TEST(nn_cross_entropy_spatial_unbatched_and_probabilities_match_torch) {
    born_tensor *t2 = tensor_of(BORN_I64, BORN_DIMS(2, 2, 2), (double[]){0, 2, 1, -100, 2, 2, 0, 1});
    const double *r2d[3] = {ce2d_mean, ce2d_sum, ce2d_none};
    for (int r = 0; r < 3; r++) {
        born_cross_entropy_params p = born_cross_entropy_default_params();
        p.weight = born_narrow(class_weights(), 0, 0, 3);
        p.label_smoothing = 0.2;
        p.reduction = reductions[r];
        born_tensor *loss = born_cross_entropy(PAT64(0.53, 0.1, 2.0, 2, 3, 2, 2), t2, &p);
        if (r == 2) CHECK_SHAPE(loss, 2, 2, 2);
        CHECK_TENSOR_NEAR(loss, r2d[r], r == 2 ? 8 : 1, 1e-10, 1e-12);
    }
    /* 1-D spatial targets, with gradients */
    born_tensor *t1 = tensor_of(BORN_I64, BORN_DIMS(2, 4), (double[]){0, 2, -100, 1, 2, 1, 0, 0});
    const double *r1d[3][2] = {{ce1d_mean, ce1d_mean_grad}, {ce1d_sum, ce1d_sum_grad}, {ce1d_none, ce1d_none_grad}};
    for (int r = 0; r < 3; r++) {
        born_tensor *x = born_requires_grad(PAT64(0.61, 0.4, 2.0, 2, 3, 4), true);
        born_cross_entropy_params p = born_cross_entropy_default_params();
        p.weight = born_narrow(class_weights(), 0, 0, 3);
        p.label_smoothing = 0.05;
        p.reduction = reductions[r];
        born_tensor *loss = born_cross_entropy(x, t1, &p);
        CHECK_TENSOR_NEAR(loss, r1d[r][0], r == 2 ? 8 : 1, 1e-10, 1e-12);
        if (!loss) continue;
        if (r == 2) CHECK_SHAPE(loss, 2, 4);
        backward_weighted(loss);
        CHECK_TENSOR_NEAR(born_grad(x), r1d[r][1], 24, 1e-9, 1e-12);
    }
    /* probability targets: softmax(pat([4, 5], 0.41, 0.7, 2)) along dim 1 */
    born_tensor *probs = born_softmax(PAT64(0.41, 0.7, 2.0, 4, 5), 1);
    const double *rp[3][2] = {{ceprob_mean, ceprob_mean_grad}, {ceprob_sum, ceprob_sum_grad}, {ceprob_none, ceprob_none_grad}};
    for (int r = 0; r < 3; r++) {
        born_tensor *x = born_requires_grad(PAT64(0.7, 0.3, 2.0, 4, 5), true);
        born_cross_entropy_params p = born_cross_entropy_default_params();
        p.weight = class_weights();
        p.label_smoothing = 0.15;
        p.reduction = reductions[r];
        born_tensor *loss = born_cross_entropy(x, probs, &p);
        CHECK_TENSOR_NEAR(loss, rp[r][0], r == 2 ? 4 : 1, 1e-10, 1e-12);
        if (!loss) continue;
        backward_weighted(loss);
        CHECK_TENSOR_NEAR(born_grad(x), rp[r][1], 20, 1e-9, 1e-12);
    }
    born_tensor *p2 = born_softmax(PAT64(0.37, 0.2, 2.0, 2, 3, 2, 2), 1);
    born_cross_entropy_params none = born_cross_entropy_default_params();
    none.reduction = BORN_REDUCTION_NONE;
    born_tensor *l2 = born_cross_entropy(PAT64(0.53, 0.1, 2.0, 2, 3, 2, 2), p2, &none);
    CHECK_SHAPE(l2, 2, 2, 2);
    CHECK_TENSOR_NEAR(l2, ceprob2d_none, 8, 1e-10, 1e-12);
    /* unbatched: logits [C] with a 0-dim index or a [C] distribution */
    born_tensor *x1 = PAT64(0.7, 0.3, 2.0, 5);
    born_tensor *t0 = born_scalar(BORN_I64, 3);
    CHECK_TENSOR_NEAR(born_cross_entropy(x1, t0, NULL), ce_unbatched, 1, 1e-10, 1e-12);
    born_tensor *l0 = born_cross_entropy(x1, t0, &none);
    CHECK(l0 && born_tensor_ndim(l0) == 0);
    CHECK_TENSOR_NEAR(l0, ce_unbatched_none, 1, 1e-10, 1e-12);
    CHECK_TENSOR_NEAR(born_cross_entropy(x1, born_select(probs, 0, 0), NULL), ce_unbatched_prob, 1, 1e-10, 1e-12);
    /* f32 logits with i32 targets work too */
    born_tensor *l32 = born_cross_entropy(PAT(0.7, 0.3, 2.0, 5, 5),
                                          tensor_of(BORN_I32, BORN_DIMS(5), (double[]){1, 0, 4, -100, 3}), NULL);
    CHECK(l32 && born_tensor_dtype(l32) == BORN_F32);
    CHECK_TENSOR_NEAR(l32, ce_nw_ls0_mean, 1, 1e-6, 1e-6);
}

TEST(nn_cross_entropy_errors) {
    born_tensor *x = PAT64(0.7, 0.3, 2.0, 4, 5);
    CHECK(born_cross_entropy(x, tensor_of(BORN_I64, BORN_DIMS(4), (double[]){1, 5, 0, 2}), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "target 5 (element 1 of [4] i64) is out of range for 5 classes");
    CHECK(born_cross_entropy(x, tensor_of(BORN_I64, BORN_DIMS(4), (double[]){1, -1, 0, 2}), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "target -1");
    born_cross_entropy_params p = born_cross_entropy_default_params();
    p.ignore_index = -1; /* now -1 is fine */
    CHECK_OK_TENSOR(born_cross_entropy(x, tensor_of(BORN_I64, BORN_DIMS(4), (double[]){1, -1, 0, 2}), &p));
    CHECK(born_cross_entropy(x, tensor_of(BORN_I64, BORN_DIMS(3), (double[]){1, 1, 0}), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "target [3] i64 does not fit input [4, 5] f64: expected class indices shaped [4]");
    CHECK(born_cross_entropy(x, born_zeros(BORN_F64, BORN_DIMS(4, 4)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "probability target [4, 4] f64 must have the input's shape");
    p = born_cross_entropy_default_params();
    p.weight = born_ones(BORN_F64, BORN_DIMS(4));
    CHECK(born_cross_entropy(x, born_zeros(BORN_I64, BORN_DIMS(4)), &p) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "class weight [4] f64");
    p = born_cross_entropy_default_params();
    p.label_smoothing = 1.5;
    CHECK(born_cross_entropy(x, born_zeros(BORN_I64, BORN_DIMS(4)), &p) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "label_smoothing 1.5");
    p = born_cross_entropy_default_params();
    p.reduction = (born_reduction)7;
    CHECK(born_cross_entropy(x, born_zeros(BORN_I64, BORN_DIMS(4)), &p) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "unknown reduction 7");
    CHECK(born_cross_entropy(born_zeros(BORN_I64, BORN_DIMS(4, 5)), born_zeros(BORN_I64, BORN_DIMS(4)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "must be floating");
    CHECK(born_cross_entropy(NULL, born_zeros(BORN_I64, BORN_DIMS(4)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_cross_entropy");
    /* every target ignored: the mean is 0/0, NaN, as torch */
    born_tensor *all = born_cross_entropy(x, born_full(BORN_I64, BORN_DIMS(4), -100), NULL);
    CHECK(all && isnan(born_item(all)));
    CHECK(born_nll_loss(x, born_zeros(BORN_F64, BORN_DIMS(4, 5)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "must hold integer class indices");
}

TEST(nn_nll_loss_matches_torch) {
    born_tensor *lp = born_log_softmax(PAT64(0.7, 0.3, 2.0, 5, 5), 1);
    born_tensor *t = tensor_of(BORN_I64, BORN_DIMS(5), (double[]){1, 0, 4, -100, 3});
    const double *refs[3] = {nll_w_mean, nll_w_sum, nll_w_none};
    for (int r = 0; r < 3; r++) {
        born_nll_loss_params p = born_nll_loss_default_params();
        p.weight = class_weights();
        p.reduction = reductions[r];
        CHECK_TENSOR_NEAR(born_nll_loss(lp, t, &p), refs[r], r == 2 ? 5 : 1, 1e-10, 1e-12);
    }
    born_nll_loss_params p = born_nll_loss_default_params();
    p.ignore_index = 0;
    CHECK_TENSOR_NEAR(born_nll_loss(lp, tensor_of(BORN_I64, BORN_DIMS(5), (double[]){1, 0, 4, 0, 3}), &p),
                      nll_ignore0, 1, 1e-10, 1e-12);
}

TEST(nn_regression_losses_match_torch) {
    born_tensor *a = PAT64(0.8, 0.1, 2.0, 2, 3), *b = PAT64(0.5, 0.9, 1.5, 2, 3);
    const double *mse[3] = {mse_mean, mse_sum, mse_none}, *l1[3] = {l1_mean, l1_sum, l1_none};
    const double *sl1[3] = {sl1_mean, sl1_sum, sl1_none}, *hub[3] = {huber_mean, huber_sum, huber_none};
    for (int r = 0; r < 3; r++) {
        int64_t n = r == 2 ? 6 : 1;
        CHECK_TENSOR_NEAR(born_mse_loss(a, b, reductions[r]), mse[r], n, 1e-10, 1e-12);
        CHECK_TENSOR_NEAR(born_l1_loss(a, b, reductions[r]), l1[r], n, 1e-10, 1e-12);
        CHECK_TENSOR_NEAR(born_smooth_l1_loss(a, b, reductions[r], 0.5), sl1[r], n, 1e-10, 1e-12);
        CHECK_TENSOR_NEAR(born_huber_loss(a, b, reductions[r], 0.7), hub[r], n, 1e-10, 1e-12);
    }
    CHECK_TENSOR_NEAR(born_smooth_l1_loss(a, b, BORN_REDUCTION_MEAN, 0.0), sl1_beta0, 1, 1e-10, 1e-12);
    CHECK_TENSOR_NEAR(born_mse_loss(a, born_select(b, 0, 0), BORN_REDUCTION_MEAN), mse_bcast, 1, 1e-10, 1e-12);
    CHECK(born_smooth_l1_loss(a, b, BORN_REDUCTION_MEAN, -1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "beta -1");
    CHECK(born_mse_loss(a, PAT64(0.1, 0, 1, 4), BORN_REDUCTION_MEAN) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_sub");
    CHECK(born_l1_loss(born_zeros(BORN_I64, BORN_DIMS(2)), born_zeros(BORN_I64, BORN_DIMS(2)), BORN_REDUCTION_SUM) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "born_l1_loss: input [2] i64 must be floating");
}

TEST(nn_binary_cross_entropy_matches_torch) {
    born_tensor *t = tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){0, 1, 0.3, 1, 0, 0.9});
    born_tensor *w = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){0.5, 1.0, 2.0});
    born_tensor *pw = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){3.0, 0.5, 1.5});
    const double *plain[3] = {bcel_mean, bcel_sum, bcel_none}, *wpw[3] = {bcel_wpw_mean, bcel_wpw_sum, bcel_wpw_none};
    const double *probs[3] = {bce_mean, bce_sum, bce_none};
    for (int r = 0; r < 3; r++) {
        /* logits as large as +-40 stay finite and exact */
        born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){-30, -2.5, 0, 0.7, 3, 40}), true);
        born_bce_params p = born_bce_default_params();
        p.reduction = reductions[r];
        int64_t n = r == 2 ? 6 : 1;
        CHECK_TENSOR_NEAR(born_binary_cross_entropy_with_logits(x, t, &p), plain[r], n, 1e-10, 1e-12);
        p.weight = w;
        p.pos_weight = pw;
        born_tensor *l = born_binary_cross_entropy_with_logits(x, t, &p);
        CHECK_TENSOR_NEAR(l, wpw[r], n, 1e-10, 1e-12);
        if (r == 0) {
            CHECK_OK(born_backward(l));
            CHECK_TENSOR_NEAR(born_grad(x), bcel_wpw_grad, 6, 1e-10, 1e-14);
        }
        born_bce_params q = born_bce_default_params();
        q.weight = w;
        q.reduction = reductions[r];
        born_tensor *xp = tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){0, 0.2, 0.5, 0.9, 1, 0.35});
        CHECK_TENSOR_NEAR(born_binary_cross_entropy(xp, t, &q), probs[r], n, 1e-10, 1e-12);
    }
    CHECK(born_binary_cross_entropy(tensor_of(BORN_F64, BORN_DIMS(1), (double[]){1.5}),
                                    tensor_of(BORN_F64, BORN_DIMS(1), (double[]){1}), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "must lie in [0, 1]");
    CHECK(born_binary_cross_entropy_with_logits(t, born_zeros(BORN_F64, BORN_DIMS(6)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "target [6] f64 must have the input's shape");
}
