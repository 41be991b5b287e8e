// minidl._C: the CPU kernels. Only bindings here; names are those of minidl/backends/reference.py.
#include <pybind11/stl.h>  // std::optional: None for absent running statistics

#include "cpu/kernels.h"

namespace py = pybind11;
using namespace minidl::cpu;

PYBIND11_MODULE(_C, m) {
  m.doc() = "minidl CPU kernels (C++, OpenMP); see KERNELS.md for the contract.";
  m.def("matmul", &MatmulForward, py::arg("a"), py::arg("b"), "c = a @ b for (M, K)x(K, N) or (B, M, K)x(B, K, N).");
  m.def("matmul_backward", &MatmulBackward, py::arg("grad"), py::arg("a"), py::arg("b"), py::arg("need_a") = true,
        py::arg("need_b") = true,
        "(grad @ b^T, a^T @ grad) for the gradient of c = a @ b; a gradient not needed is None.");
  m.def("max_pool2d", &MaxPool2dForward, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("ceil_mode"), "(y, indices int64 h*W+w) of 2-D max pooling, NCHW.");
  m.def("max_pool2d_backward", &MaxPool2dBackward, py::arg("grad"), py::arg("x"), py::arg("indices"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "grad_x: grad scatter-added at indices in each (H, W) plane.");
  m.def("avg_pool2d", &AvgPool2dForward, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("ceil_mode"), py::arg("count_include_pad"), "2-D average pooling, NCHW, PyTorch's divisors.");
  m.def("avg_pool2d_backward", &AvgPool2dBackward, py::arg("grad"), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        "grad_x of avg_pool2d.");
  m.def("batch_norm", &BatchNormForward, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean").none(true), py::arg("running_var").none(true), py::arg("training"),
        py::arg("momentum"), py::arg("eps"),
        "(y, save_mean, save_invstd) for x (N, C, L); running statistics updated in place when training.");
  m.def("batch_norm_backward", &BatchNormBackward, py::arg("grad"), py::arg("x"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), "(grad_x, grad_weight, grad_bias).");

  m.def("conv2d", &Conv2dForward, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"),
        "2-D cross-correlation, NCHW: x (N, C, H, W), w (O, C // groups, KH, KW) -> y (N, O, OH, OW).");
  m.def("conv2d_backward", &Conv2dBackward, py::arg("grad"), py::arg("x"), py::arg("w"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("need") = py::none(),
        "(grad_x, grad_w[, grad_b]) for the gradient grad of y = conv2d(x, w, stride, padding, dilation, groups); "
        "need=(gx, gw[, gb]) says which are computed (None for the others).");
  m.def("tune_allocator", &TuneAllocator, py::arg("mmap_threshold"), py::arg("trim_threshold"),
        "Raise glibc's mmap and trim thresholds so freed large arrays are reused (process-wide).");
  m.def("build_info", &BuildInfo, "Compiler, OpenMP, threads, SIMD and GEMM blocking of this build.");
  // conv2d.cpp: fused bias (+ ReLU) forward; the 3x3 algorithm choice
  m.def("conv2d_bias", &Conv2dBiasForward, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("relu") = false,
        "conv2d(x, w, ...) + b[o] (then ReLU when relu), the bias added in the kernel's epilogue.");
  m.def("conv2d_algorithm", &Conv2dAlgorithm, py::arg("mode") = py::none(),
        "Set the 3x3 stride-1 conv2d algorithm: 'auto' (measured; re-tunes), 'im2col' or 'winograd'. "
        "Returns the previous mode.");
  m.def("conv2d_algorithm_choices", &Conv2dAlgorithmChoices, "The measured per-geometry conv2d choices.");
  // optim.cpp: one call updates every parameter of a group in place (lists of arrays of one float dtype)
  m.def("sgd_step", &SgdStep, py::arg("first"), py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"), "SGD; first[i]: momentum_buffers[i] was just created and takes the gradient.");
  m.def("adam_step", &AdamStep, py::arg("steps"), py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled"),
        "Adam (decoupled: AdamW); steps[i]: parameter i's step count including this step.");
  m.def("rmsprop_step", &RmspropStep, py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
        py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"), "RMSprop.");
  m.def("adagrad_step", &AdagradStep, py::arg("steps"), py::arg("params"), py::arg("grads"), py::arg("sums"),
        py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
        "Adagrad; steps[i]: parameter i's step count including this step.");
  m.def("optim_tuning", &OptimTuning, py::arg("fork_ns") = -1.0, py::arg("byte_ns") = -1.0,
        "The costs (measured at first use) behind the fused optimizers' single-thread cut-over; a value >= 0 (fork) "
        "or > 0 (per byte) replaces the measurement.");
  // elementwise.cpp
  m.def("unary", &UnaryForward, py::arg("x"), py::arg("op"), py::arg("threads"),
        "y = op(x) for op in relu, sigmoid, tanh, exp, log, sqrt, gelu, gelu_tanh.");
  m.def("unary_backward", &UnaryBackward, py::arg("grad"), py::arg("saved"), py::arg("op"), py::arg("threads"),
        "grad_x of unary; saved is the output (relu, sigmoid, tanh, exp, sqrt) or the input (log, gelu*).");
  m.def("binary", &BinaryForward, py::arg("a"), py::arg("b"), py::arg("op"), py::arg("threads"),
        "a op b with NumPy broadcasting, op in add, sub, mul, div.");
  m.def("reduce_sum", &SumOrkiForward, py::arg("x"), py::arg("O"), py::arg("R"), py::arg("K"), py::arg("I"),
        py::arg("threads"), "out (O, K): x viewed as (O, R, K, I) summed over R and I.");
  m.def("softmax", &SoftmaxForward, py::arg("x"), py::arg("O"), py::arg("C"), py::arg("I"), py::arg("log"),
        py::arg("threads"), "(log_)softmax of x viewed as (O, C, I) along C, from x - max.");
  m.def("softmax_backward", &SoftmaxBackward, py::arg("grad"), py::arg("y"), py::arg("O"), py::arg("C"),
        py::arg("I"), py::arg("log"), py::arg("threads"), "grad_x of (log_)softmax from its output y.");
  m.def("cross_entropy", &CrossEntropyForward, py::arg("x"), py::arg("target"), py::arg("weight").none(true),
        py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("threads"),
        "(loss per row, stats (N, 2): row max and log-sum-exp of x - max) for logits x (N, C) and int64 classes.");
  m.def("cross_entropy_backward", &CrossEntropyBackward, py::arg("grad"), py::arg("x"), py::arg("stats"),
        py::arg("target"), py::arg("weight").none(true), py::arg("ignore_index"), py::arg("label_smoothing"),
        py::arg("threads"), "grad_x (N, C) for per-row loss gradients grad (N,).");
  m.def("max_threads", &OmpMaxThreads, "omp_get_max_threads() (1 without OpenMP).");
  m.def("set_num_threads", &OmpSetNumThreads, py::arg("n"), "omp_set_num_threads(n) (nothing without OpenMP).");
  m.def("rnn_forward", &RnnForward, py::arg("mode"), py::arg("x"), py::arg("h0"), py::arg("c0").none(true),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("reverse"),
        "(y, h_n, c_n, workspace) of one RNN/LSTM/GRU layer and direction over a whole sequence (T, B, I).");
  m.def("rnn_backward", &RnnBackward, py::arg("mode"), py::arg("grad_y"), py::arg("grad_hn"),
        py::arg("grad_cn").none(true), py::arg("x"), py::arg("h0"), py::arg("c0").none(true), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("y"), py::arg("workspace"),
        py::arg("reverse"), py::arg("output_mask"),
        "(grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh), None where not asked for.");
  m.def("linear", &LinearForward, py::arg("x"), py::arg("w"), py::arg("bias") = py::none(),
        "y = x @ w^T + bias for x (M, K), w (N, K), bias (N,) or None; w^T is not copied.");
  m.def("linear_backward", &LinearBackward, py::arg("grad"), py::arg("x"), py::arg("w"), py::arg("need_x") = true,
        py::arg("need_w") = true, py::arg("need_b") = true,
        "(grad @ w, grad^T @ x, grad summed over rows) for y = linear(x, w, bias); unneeded ones are None.");
  m.def("gemm_blocking", &GemmBlockingInfo, "The GEMM cache blocking in use, the model's, and the detected caches.");
  m.def("set_gemm_blocking", &SetGemmBlockingPy, py::arg("kc") = 0, py::arg("mc") = 0, py::arg("nc") = 0,
        "Override the GEMM cache blocking (elements; 0 keeps the model's value). Returns gemm_blocking().");
  m.def("fma_peak", &FmaPeakPy, py::arg("dtype") = "float32", py::arg("threads") = 0, py::arg("seconds") = 0.2,
        "Measured FMA throughput in GFLOP/s of `threads` threads: the ceiling GEMM efficiency is judged against.");
  m.def("scatter_add_rows", &ScatterAddRows, py::arg("grad"), py::arg("index"), py::arg("rows"),
        "out (rows, d): zeros with grad[i] (grad (n, d)) added into row index[i], repeats summed.");
  m.def("layer_norm", &LayerNormForward, py::arg("x"), py::arg("weight").none(true), py::arg("bias").none(true),
        py::arg("eps"), py::arg("threads"), "(y, mean, rstd) of layer norm over the rows of x (M, N).");
  m.def("layer_norm_backward", &LayerNormBackward, py::arg("grad"), py::arg("x"), py::arg("weight").none(true),
        py::arg("mean"), py::arg("rstd"), py::arg("need_x"), py::arg("need_w"), py::arg("need_b"),
        py::arg("threads"), "(grad_x, grad_weight, grad_bias) of layer_norm; unneeded ones are None.");
  // attention.cpp
  m.def("attention", &AttentionForward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask").none(true),
        py::arg("is_causal"), py::arg("scale"),
        "(out, lse) of fused scaled-dot-product attention: q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev), "
        "additive mask (1|B, 1|H, L, S) or None; tiled with an online softmax, never the L x S scores.");
  m.def("attention_backward", &AttentionBackward, py::arg("grad"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask").none(true), py::arg("is_causal"), py::arg("scale"),
        py::arg("need") = std::vector<bool>{true, true, true},
        "(dq, dk, dv) of attention from out and lse (P recomputed per tile); need=(dq, dk, dv), None where false.");
}
