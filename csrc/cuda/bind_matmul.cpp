// Bindings of the matmul kernels: matmul(a, b, c, dtype, batch, m, k, n, stream) and
// matmul_backward(grad, a, b, grad_a, grad_b, dtype, batch, m, k, n, stream); pointers as ints.
#include <pybind11/pybind11.h>

#include "cuda/bind_util.h"
#include "cuda/matmul.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

namespace py = pybind11;

void CheckSizes(int64_t batch, int64_t m, int64_t k, int64_t n, const char* op) {
  MINIDL_CHECK(batch >= 0 && m >= 0 && k >= 0 && n >= 0, op, "sizes must be non-negative");
}

void BindMatmul(py::module_& m) {
  m.def(
      "matmul",
      [](std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, const std::string& dtype, int64_t batch, int64_t rows,
         int64_t inner, int64_t cols, std::uintptr_t stream) {
        CheckSizes(batch, rows, inner, cols, "matmul");
        CheckPtr(a, batch * rows * inner, "matmul", "a");
        CheckPtr(b, batch * inner * cols, "matmul", "b");
        CheckPtr(c, batch * rows * cols, "matmul", "c");
        DispatchDtype(dtype, "matmul", [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          Matmul<T>(Ptr<const T>(a), Ptr<const T>(b), Ptr<T>(c), batch, rows, inner, cols, Stream(stream));
        });
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("dtype"), py::arg("batch"), py::arg("m"), py::arg("k"),
      py::arg("n"), py::arg("stream"), "c (batch, m, n) = a (batch, m, k) @ b (batch, k, n) on `stream`.");
  m.def(
      "matmul_backward",
      [](std::uintptr_t grad, std::uintptr_t a, std::uintptr_t b, std::uintptr_t grad_a, std::uintptr_t grad_b,
         const std::string& dtype, int64_t batch, int64_t rows, int64_t inner, int64_t cols, std::uintptr_t stream) {
        const char* op = "matmul_backward";
        CheckSizes(batch, rows, inner, cols, op);
        CheckPtr(grad, batch * rows * cols, op, "grad");
        CheckPtr(a, batch * rows * inner, op, "a");
        CheckPtr(b, batch * inner * cols, op, "b");
        CheckPtr(grad_a, batch * rows * inner, op, "grad_a");
        CheckPtr(grad_b, batch * inner * cols, op, "grad_b");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          MatmulBackward<T>(Ptr<const T>(grad), Ptr<const T>(a), Ptr<const T>(b), Ptr<T>(grad_a), Ptr<T>(grad_b),
                            batch, rows, inner, cols, Stream(stream));
        });
      },
      py::arg("grad"), py::arg("a"), py::arg("b"), py::arg("grad_a"), py::arg("grad_b"), py::arg("dtype"),
      py::arg("batch"), py::arg("m"), py::arg("k"), py::arg("n"), py::arg("stream"),
      "grad_a = grad @ b^T, grad_b = a^T @ grad (batched) on `stream`.");
}

const bool kRegistered = RegisterBinder(&BindMatmul);

}  // namespace
}  // namespace minidl::cuda
