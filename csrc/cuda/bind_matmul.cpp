// Host entry points of the matmul kernels (declared in cuda/bindings.h, bound in module.cpp).
#include <pybind11/pybind11.h>

#include "cuda/bind_util.h"
#include "cuda/bindings.h"
#include "cuda/matmul.h"

namespace minidl::cuda::api {
namespace {

void CheckSizes(int64_t batch, int64_t m, int64_t k, int64_t n, const char* op) {
  MINIDL_CHECK(batch >= 0 && m >= 0 && k >= 0 && n >= 0, op, "sizes must be non-negative");
}

}  // namespace

void Matmul(Addr a, Addr b, Addr c, const std::string& dtype, int64_t batch, int64_t rows, int64_t inner, int64_t cols,
            Addr stream) {
  CheckSizes(batch, rows, inner, cols, "matmul");
  CheckPtr(a, batch * rows * inner, "matmul", "a");
  CheckPtr(b, batch * inner * cols, "matmul", "b");
  CheckPtr(c, batch * rows * cols, "matmul", "c");
  DispatchDtype(dtype, "matmul", [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::Matmul<T>(cuda::Ptr<const T>(a), cuda::Ptr<const T>(b), cuda::Ptr<T>(c), batch, rows, inner, cols,
                    Stream(stream));
  });
}

void MatmulBackward(Addr grad, Addr a, Addr b, Addr grad_a, Addr grad_b, const std::string& dtype, int64_t batch,
                    int64_t rows, int64_t inner, int64_t cols, Addr stream) {
  const char* op = "matmul_backward";
  CheckSizes(batch, rows, inner, cols, op);
  CheckPtr(grad, batch * rows * cols, op, "grad");
  CheckPtr(a, batch * rows * inner, op, "a");
  CheckPtr(b, batch * inner * cols, op, "b");
  // grad_a / grad_b may be 0 (null): that gradient is not wanted
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::MatmulBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<const T>(a), cuda::Ptr<const T>(b),
                            cuda::Ptr<T>(grad_a), cuda::Ptr<T>(grad_b), batch, rows, inner, cols, Stream(stream));
  });
}

}  // namespace minidl::cuda::api
