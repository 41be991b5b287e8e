// minidl._C_cuda (and the emulated test module _C_cuda_emu, built from the same sources): only
// bindings here, as in csrc/cpu/module.cpp; names are those of minidl/backends/reference.py, the
// entry points are in cuda/bindings.h. Plus a GPU probe that never crashes.
#include <pybind11/pybind11.h>

#include <string>

#include "cuda/bindings.h"
#include "cuda/common.cuh"

#ifndef MINIDL_CUDA_MODULE_NAME
#define MINIDL_CUDA_MODULE_NAME _C_cuda
#endif

namespace {

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

// "ok: N device(s)" or "no usable GPU: <error name>: <error string>"; importing the module on a
// machine without a driver works, and this says why nothing can run.
std::string Status() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return std::string("no usable GPU: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
  }
  if (n == 0) return "no usable GPU: no CUDA device found";
#if defined(MINIDL_CUDA_EMULATION)
  return "ok: emulated on the CPU (test build)";
#else
  return "ok: " + std::to_string(n) + " device(s)";
#endif
}

}  // namespace

PYBIND11_MODULE(MINIDL_CUDA_MODULE_NAME, m) {
  m.doc() = "minidl's CUDA kernels (device pointers as ints, dtype as a string, CuPy's stream as an int)";
#if defined(MINIDL_CUDA_EMULATION)
  m.attr("emulated") = true;
#else
  m.attr("emulated") = false;
#endif
  m.def("device_count", &DeviceCount, "Number of usable CUDA devices (0 when there is no driver or GPU).");
  m.def("status", &Status, "'ok: ...' or 'no usable GPU: <reason>'.");

  namespace py = pybind11;
  using namespace minidl::cuda::api;
  m.def("matmul", &Matmul, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("dtype"), py::arg("batch"),
        py::arg("m"), py::arg("k"), py::arg("n"), py::arg("stream"),
        "c (batch, m, n) = a (batch, m, k) @ b (batch, k, n) on `stream`.");
  m.def("matmul_backward", &MatmulBackward, py::arg("grad"), py::arg("a"), py::arg("b"), py::arg("grad_a"),
        py::arg("grad_b"), py::arg("dtype"), py::arg("batch"), py::arg("m"), py::arg("k"), py::arg("n"),
        py::arg("stream"), "grad_a = grad @ b^T, grad_b = a^T @ grad (batched) on `stream`; 0 skips one.");

  m.def("max_pool2d", &MaxPool2d, py::arg("x"), py::arg("y"), py::arg("indices"), py::arg("dtype"), py::arg("n"),
        py::arg("c"), py::arg("h"), py::arg("w"), py::arg("oh"), py::arg("ow"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("stream"),
        "y, indices (n, c, oh, ow) of 2-D max pooling, NCHW; device pointers as ints.");
  m.def("max_pool2d_backward", &MaxPool2dBackward, py::arg("grad"), py::arg("indices"), py::arg("grad_x"),
        py::arg("dtype"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("oh"), py::arg("ow"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("stream"),
        "grad_x (n, c, h, w): grad scatter-added at indices.");
  m.def("avg_pool2d", &AvgPool2d, py::arg("x"), py::arg("y"), py::arg("dtype"), py::arg("n"), py::arg("c"),
        py::arg("h"), py::arg("w"), py::arg("oh"), py::arg("ow"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), py::arg("stream"),
        "y (n, c, oh, ow) of 2-D average pooling, PyTorch's divisors.");
  m.def("avg_pool2d_backward", &AvgPool2dBackward, py::arg("grad"), py::arg("grad_x"), py::arg("dtype"),
        py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"), py::arg("oh"), py::arg("ow"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
        py::arg("stream"), "grad_x (n, c, h, w) of avg_pool2d.");

  m.def("conv2d", &Conv2d, py::arg("x"), py::arg("w"), py::arg("y"), py::arg("dtype"), py::arg("N"), py::arg("C"),
        py::arg("H"), py::arg("W"), py::arg("O"), py::arg("KH"), py::arg("KW"), py::arg("sh"), py::arg("sw"),
        py::arg("ph"), py::arg("pw"), py::arg("dh"), py::arg("dw"), py::arg("groups"), py::arg("stream"),
        "conv2d forward into y (N, O, OH, OW); device pointers as ints");
  m.def("conv2d_backward", &Conv2dBackward, py::arg("grad"), py::arg("x"), py::arg("w"), py::arg("grad_x"),
        py::arg("grad_w"), py::arg("dtype"), py::arg("N"), py::arg("C"), py::arg("H"), py::arg("W"), py::arg("O"),
        py::arg("KH"), py::arg("KW"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"), py::arg("dh"),
        py::arg("dw"), py::arg("groups"), py::arg("stream"),
        "conv2d gradients into grad_x (N, C, H, W) and grad_w (O, C/groups, KH, KW); 0 skips one.");

  m.def("batch_norm", &BatchNorm, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"), py::arg("y"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("dtype"), py::arg("N"), py::arg("C"), py::arg("L"),
        py::arg("stream"),
        "batch_norm forward into y, save_mean, save_invstd; running buffers (0 = none) updated in place");
  m.def("batch_norm_backward", &BatchNormBackward, py::arg("grad"), py::arg("x"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("grad_x"),
        py::arg("grad_weight"), py::arg("grad_bias"), py::arg("dtype"), py::arg("N"), py::arg("C"), py::arg("L"),
        py::arg("stream"), "batch_norm gradients into grad_x, grad_weight, grad_bias; device pointers as ints");

  m.def("attention", &Attention, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask"), py::arg("is_causal"),
        py::arg("scale"), py::arg("out"), py::arg("lse"), py::arg("dtype"), py::arg("B"), py::arg("H"), py::arg("L"),
        py::arg("S"), py::arg("E"), py::arg("Ev"), py::arg("MB"), py::arg("MH"), py::arg("stream"),
        "fused attention forward into out (B, H, L, Ev) and lse (B, H, L); mask 0 = none");
  m.def("attention_backward", &AttentionBackward, py::arg("grad"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask"), py::arg("is_causal"), py::arg("scale"), py::arg("dq"),
        py::arg("dk"), py::arg("dv"), py::arg("delta"), py::arg("dtype"), py::arg("B"), py::arg("H"), py::arg("L"),
        py::arg("S"), py::arg("E"), py::arg("Ev"), py::arg("MB"), py::arg("MH"), py::arg("stream"),
        "fused attention gradients into dq, dk, dv (0 skips one); delta is a (B, H, L) workspace");
}
