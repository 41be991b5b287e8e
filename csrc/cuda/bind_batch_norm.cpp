// Python bindings of the CUDA batch_norm kernels (host compiler; device pointers arrive as ints,
// 0 for absent running buffers).
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "cuda/batch_norm.h"
#include "cuda/bind_util.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

void CheckNcl(const char* op, int64_t N, int64_t C, int64_t L) {
  MINIDL_CHECK(N >= 0 && C >= 0 && L >= 0, op, "sizes must be >= 0");
  MINIDL_CHECK(C < (int64_t{1} << 31), op, "too many channels for one block per channel");
}

void BindBatchNorm(pybind11::module_& m) {
  m.def(
      "batch_norm",
      [](std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias, std::uintptr_t running_mean,
         std::uintptr_t running_var, bool training, double momentum, double eps, std::uintptr_t y,
         std::uintptr_t save_mean, std::uintptr_t save_invstd, const std::string& dtype, int64_t N, int64_t C,
         int64_t L, std::uintptr_t stream) {
        const char* op = "batch_norm";
        CheckNcl(op, N, C, L);
        MINIDL_CHECK((running_mean == 0) == (running_var == 0), op,
                     "running_mean and running_var must be given together");
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
          BatchNormForward<T>(Ptr<const T>(x), Ptr<const T>(weight), Ptr<const T>(bias), Ptr<T>(running_mean),
                              Ptr<T>(running_var), training, momentum, eps, N, C, L, Ptr<T>(y), Ptr<T>(save_mean),
                              Ptr<T>(save_invstd), Stream(stream));
        });
      },
      "batch_norm forward into y, save_mean, save_invstd; running buffers (0 = none) updated in place",
      pybind11::arg("x"), pybind11::arg("weight"), pybind11::arg("bias"), pybind11::arg("running_mean"),
      pybind11::arg("running_var"), pybind11::arg("training"), pybind11::arg("momentum"), pybind11::arg("eps"),
      pybind11::arg("y"), pybind11::arg("save_mean"), pybind11::arg("save_invstd"), pybind11::arg("dtype"),
      pybind11::arg("N"), pybind11::arg("C"), pybind11::arg("L"), pybind11::arg("stream"));
  m.def(
      "batch_norm_backward",
      [](std::uintptr_t grad, std::uintptr_t x, std::uintptr_t weight, std::uintptr_t save_mean,
         std::uintptr_t save_invstd, bool training, std::uintptr_t grad_x, std::uintptr_t grad_weight,
         std::uintptr_t grad_bias, const std::string& dtype, int64_t N, int64_t C, int64_t L, std::uintptr_t stream) {
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
          BatchNormBackward<T>(Ptr<const T>(grad), Ptr<const T>(x), Ptr<const T>(weight), Ptr<const T>(save_mean),
                               Ptr<const T>(save_invstd), training, N, C, L, Ptr<T>(grad_x), Ptr<T>(grad_weight),
                               Ptr<T>(grad_bias), Stream(stream));
        });
      },
      "batch_norm gradients into grad_x, grad_weight, grad_bias; device pointers as ints", pybind11::arg("grad"),
      pybind11::arg("x"), pybind11::arg("weight"), pybind11::arg("save_mean"), pybind11::arg("save_invstd"),
      pybind11::arg("training"), pybind11::arg("grad_x"), pybind11::arg("grad_weight"), pybind11::arg("grad_bias"),
      pybind11::arg("dtype"), pybind11::arg("N"), pybind11::arg("C"), pybind11::arg("L"), pybind11::arg("stream"));
}

const bool kRegistered = RegisterBinder(&BindBatchNorm);

}  // namespace

}  // namespace minidl::cuda
