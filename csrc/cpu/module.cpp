// minidl._C: the CPU kernels. Only bindings here; names are those of minidl/backends/reference.py.
#include "cpu/kernels.h"

namespace py = pybind11;
using namespace minidl::cpu;

PYBIND11_MODULE(_C, m) {
  m.doc() = "minidl CPU kernels (C++, OpenMP); see KERNELS.md for the contract.";
  m.def("matmul", &MatmulForward, py::arg("a"), py::arg("b"), "c = a @ b for (M, K)x(K, N) or (B, M, K)x(B, K, N).");
  m.def("matmul_backward", &MatmulBackward, py::arg("grad"), py::arg("a"), py::arg("b"),
        "(grad @ b^T, a^T @ grad) for the gradient of c = a @ b.");
  m.def("conv2d", &Conv2dForward, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"),
        "2-D cross-correlation, NCHW: x (N, C, H, W), w (O, C // groups, KH, KW) -> y (N, O, OH, OW).");
  m.def("conv2d_backward", &Conv2dBackward, py::arg("grad"), py::arg("x"), py::arg("w"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "(grad_x, grad_w) for the gradient grad of y = conv2d(x, w, stride, padding, dilation, groups).");
  m.def("build_info", &BuildInfo, "Compiler, OpenMP, threads, SIMD and GEMM blocking of this build.");
}
