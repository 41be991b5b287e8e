// Python bindings of the CUDA batch_norm kernels (host compiler; device pointers arrive as ints,
// 0 for absent running buffers).
#include <cmath>
#include <cstdint>
#include <string>

#include "common.h"
#include "cuda/batch_norm.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

void CheckNcl(const char* op, const std::string& dtype, int64_t N, int64_t C, int64_t L) {
  MINIDL_CHECK(dtype == "float32" || dtype == "float64", op, "dtype must be float32 or float64, got " + dtype);
  MINIDL_CHECK(N >= 0 && C >= 0 && L >= 0, op, "sizes must be >= 0");
  MINIDL_CHECK(C < (int64_t{1} << 31), op, "too many channels for one block per channel");
}

cudaStream_t Stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void BindBatchNorm(pybind11::module_& m) {
  m.def(
      "batch_norm",
      [](std::uintptr_t x, std::uintptr_t weight, std::uintptr_t bias, std::uintptr_t running_mean,
         std::uintptr_t running_var, bool training, double momentum, double eps, std::uintptr_t y,
         std::uintptr_t save_mean, std::uintptr_t save_invstd, const std::string& dtype, int64_t N, int64_t C,
         int64_t L, std::uintptr_t stream) {
        const char* op = "batch_norm";
        CheckNcl(op, dtype, N, C, L);
        MINIDL_CHECK((running_mean == 0) == (running_var == 0), op,
                     "running_mean and running_var must be given together");
        MINIDL_CHECK(std::isfinite(momentum) && std::isfinite(eps) && eps >= 0, op, "momentum and eps must be finite");
        MINIDL_CHECK(C == 0 || (weight && bias && save_mean && save_invstd), op, "null device pointer");
        MINIDL_CHECK(N * L == 0 || (x && y), op, "null device pointer");
        auto run = [&](auto tag) {
          using T = decltype(tag);
          BatchNormForward(reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(weight),
                           reinterpret_cast<const T*>(bias), reinterpret_cast<T*>(running_mean),
                           reinterpret_cast<T*>(running_var), training, momentum, eps, N, C, L,
                           reinterpret_cast<T*>(y), reinterpret_cast<T*>(save_mean), reinterpret_cast<T*>(save_invstd),
                           Stream(stream));
        };
        if (dtype == "float32")
          run(float{});
        else
          run(double{});
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
        CheckNcl(op, dtype, N, C, L);
        MINIDL_CHECK(C == 0 || (weight && save_mean && save_invstd && grad_weight && grad_bias), op,
                     "null device pointer");
        MINIDL_CHECK(N * L == 0 || (grad && x && grad_x), op, "null device pointer");
        auto run = [&](auto tag) {
          using T = decltype(tag);
          BatchNormBackward(reinterpret_cast<const T*>(grad), reinterpret_cast<const T*>(x),
                            reinterpret_cast<const T*>(weight), reinterpret_cast<const T*>(save_mean),
                            reinterpret_cast<const T*>(save_invstd), training, N, C, L, reinterpret_cast<T*>(grad_x),
                            reinterpret_cast<T*>(grad_weight), reinterpret_cast<T*>(grad_bias), Stream(stream));
        };
        if (dtype == "float32")
          run(float{});
        else
          run(double{});
      },
      "batch_norm gradients into grad_x, grad_weight, grad_bias; device pointers as ints", pybind11::arg("grad"),
      pybind11::arg("x"), pybind11::arg("weight"), pybind11::arg("save_mean"), pybind11::arg("save_invstd"),
      pybind11::arg("training"), pybind11::arg("grad_x"), pybind11::arg("grad_weight"), pybind11::arg("grad_bias"),
      pybind11::arg("dtype"), pybind11::arg("N"), pybind11::arg("C"), pybind11::arg("L"), pybind11::arg("stream"));
}

}  // namespace

static const bool kRegistered = RegisterBinder(&BindBatchNorm);

}  // namespace minidl::cuda
