// minidl._C: the CPU kernels. Only bindings here; names are those of minidl/backends/reference.py.
#include <pybind11/stl.h>  // std::optional: None for absent running statistics

#include "cpu/kernels.h"

namespace py = pybind11;
using namespace minidl::cpu;

PYBIND11_MODULE(_C, m) {
  m.doc() = "minidl CPU kernels (C++, OpenMP); see KERNELS.md for the contract.";
  m.def("matmul", &MatmulForward, py::arg("a"), py::arg("b"), "c = a @ b for (M, K)x(K, N) or (B, M, K)x(B, K, N).");
  m.def("matmul_backward", &MatmulBackward, py::arg("grad"), py::arg("a"), py::arg("b"),
        "(grad @ b^T, a^T @ grad) for the gradient of c = a @ b.");
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
        py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "(grad_x, grad_w) for the gradient grad of y = conv2d(x, w, stride, padding, dilation, groups).");
  m.def("tune_allocator", &TuneAllocator, py::arg("mmap_threshold"), py::arg("trim_threshold"),
        "Raise glibc's mmap and trim thresholds so freed large arrays are reused (process-wide).");
  m.def("build_info", &BuildInfo, "Compiler, OpenMP, threads, SIMD and GEMM blocking of this build.");
  m.def("rnn_forward", &RnnForward, py::arg("mode"), py::arg("x"), py::arg("h0"), py::arg("c0").none(true),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("reverse"),
        "(y, h_n, c_n, workspace) of one RNN/LSTM/GRU layer and direction over a whole sequence (T, B, I).");
  m.def("rnn_backward", &RnnBackward, py::arg("mode"), py::arg("grad_y"), py::arg("grad_hn"),
        py::arg("grad_cn").none(true), py::arg("x"), py::arg("h0"), py::arg("c0").none(true), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("y"), py::arg("workspace"),
        py::arg("reverse"), py::arg("output_mask"),
        "(grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh), None where not asked for.");
}
