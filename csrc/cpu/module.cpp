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
        py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "(grad_x, grad_w) for the gradient grad of y = conv2d(x, w, stride, padding, dilation, groups).");
  m.def("tune_allocator", &TuneAllocator, py::arg("mmap_threshold"), py::arg("trim_threshold"),
        "Raise glibc's mmap and trim thresholds so freed large arrays are reused (process-wide).");
  m.def("build_info", &BuildInfo, "Compiler, OpenMP, threads, SIMD and GEMM blocking of this build.");
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
}
