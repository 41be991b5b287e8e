// Host entry points of the batch_norm kernels (declared in cuda/bindings.h, bound in module.cpp);
// 0 stands for absent running buffers.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "cuda/batch_norm.h"
#include "cuda/bind_util.h"
#include "cuda/bindings.h"

namespace minidl::cuda::api {
namespace {

void CheckNcl(const char* op, int64_t N, int64_t C, int64_t L) {
  MINIDL_CHECK(N >= 0 && C >= 0 && L >= 0, op, "sizes must be >= 0");
  MINIDL_CHECK(C < (int64_t{1} << 31), op, "too many channels for one block per channel");
}

}  // namespace

void BatchNorm(Addr x, Addr weight, Addr bias, Addr running_mean, Addr running_var, bool training, double momentum,
               double eps, Addr y, Addr save_mean, Addr save_invstd, const std::string& dtype, int64_t N, int64_t C,
               int64_t L, Addr stream) {
  const char* op = "batch_norm";
  CheckNcl(op, N, C, L);
  MINIDL_CHECK((running_mean == 0) == (running_var == 0), op, "running_mean and running_var must be given together");
  MINIDL_CHECK(std::isfinite(momentum) && std::isfinite(eps) && eps >= 0, op, "momentum and eps must be finite");
  CheckPtr(x, N * C * L, op, "x");
  CheckPtr(y, N * C * L, op, "y");
  CheckPtr(weight, C, op, "weight");
  CheckPtr(bias, C, op, "bias");
  CheckPtr(save_mean, C, op, "save_mean");
  CheckPtr(save_invstd, C, op, "save_invstd");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::BatchNormForward<T>(cuda::Ptr<const T>(x), cuda::Ptr<const T>(weight), cuda::Ptr<const T>(bias),
                        cuda::Ptr<T>(running_mean), cuda::Ptr<T>(running_var), training, momentum, eps, N, C, L,
                        cuda::Ptr<T>(y), cuda::Ptr<T>(save_mean), cuda::Ptr<T>(save_invstd), Stream(stream));
  });
}

void BatchNormBackward(Addr grad, Addr x, Addr weight, Addr save_mean, Addr save_invstd, bool training, Addr grad_x,
                       Addr grad_weight, Addr grad_bias, const std::string& dtype, int64_t N, int64_t C, int64_t L,
                       Addr stream) {
  const char* op = "batch_norm_backward";
  CheckNcl(op, N, C, L);
  CheckPtr(grad, N * C * L, op, "grad");
  CheckPtr(x, N * C * L, op, "x");
  CheckPtr(grad_x, N * C * L, op, "grad_x");
  CheckPtr(weight, C, op, "weight");
  CheckPtr(save_mean, C, op, "save_mean");
  CheckPtr(save_invstd, C, op, "save_invstd");
  CheckPtr(grad_weight, C, op, "grad_weight");
  CheckPtr(grad_bias, C, op, "grad_bias");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::BatchNormBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<const T>(x), cuda::Ptr<const T>(weight),
                         cuda::Ptr<const T>(save_mean), cuda::Ptr<const T>(save_invstd), training, N, C, L,
                         cuda::Ptr<T>(grad_x), cuda::Ptr<T>(grad_weight), cuda::Ptr<T>(grad_bias), Stream(stream));
  });
}

}  // namespace minidl::cuda::api
