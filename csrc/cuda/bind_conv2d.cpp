// Python bindings of the CUDA conv2d kernels (host compiler; device pointers arrive as ints).
#include <cstdint>
#include <limits>
#include <string>

#include "common.h"
#include "cuda/conv2d.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

/** Check the geometry (Python validated it already; this guards direct callers) and derive OH, OW. */
Conv2dShape CheckConv(const char* op, const std::string& dtype, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                      int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                      int64_t groups) {
  MINIDL_CHECK(dtype == "float32" || dtype == "float64", op, "dtype must be float32 or float64, got " + dtype);
  MINIDL_CHECK(N >= 0 && C > 0 && H > 0 && W > 0 && O > 0 && KH > 0 && KW > 0, op, "sizes must be positive");
  MINIDL_CHECK(sh > 0 && sw > 0 && dh > 0 && dw > 0 && ph >= 0 && pw >= 0, op,
               "stride and dilation must be >= 1, padding >= 0");
  MINIDL_CHECK(groups > 0 && C % groups == 0 && O % groups == 0, op,
               "groups must divide the input and output channels");
  Conv2dShape s{N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups, 0, 0};
  s.OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1;
  s.OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
  MINIDL_CHECK(H + 2 * ph - dh * (KH - 1) - 1 >= 0 && W + 2 * pw - dw * (KW - 1) - 1 >= 0, op,
               "the (dilated) kernel is larger than the padded input");
  // The kernels index within one group's GEMM in int32.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const int64_t biggest[] = {N * s.OH * s.OW, N * H * W, O * (C / groups) * KH * KW, (O / groups) * KH * KW,
                             H + 2 * ph + dh * KH, W + 2 * pw + dw * KW, C, O};
  for (int64_t v : biggest) MINIDL_CHECK(v <= kMax, op, "tensor too large for the int32 index math of this kernel");
  return s;
}

cudaStream_t Stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void BindConv2d(pybind11::module_& m) {
  m.def(
      "conv2d",
      [](std::uintptr_t x, std::uintptr_t w, std::uintptr_t y, const std::string& dtype, int64_t N, int64_t C,
         int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
         int64_t dh, int64_t dw, int64_t groups, std::uintptr_t stream) {
        const Conv2dShape s = CheckConv("conv2d", dtype, N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
        MINIDL_CHECK(w && (N == 0 || (x && y)), "conv2d", "null device pointer");  // empty arrays may have 0
        if (dtype == "float32")
          Conv2dForward(reinterpret_cast<const float*>(x), reinterpret_cast<const float*>(w),
                        reinterpret_cast<float*>(y), s, Stream(stream));
        else
          Conv2dForward(reinterpret_cast<const double*>(x), reinterpret_cast<const double*>(w),
                        reinterpret_cast<double*>(y), s, Stream(stream));
      },
      "conv2d forward into y (N, O, OH, OW); device pointers as ints",
      pybind11::arg("x"), pybind11::arg("w"), pybind11::arg("y"), pybind11::arg("dtype"), pybind11::arg("N"),
      pybind11::arg("C"), pybind11::arg("H"), pybind11::arg("W"), pybind11::arg("O"), pybind11::arg("KH"),
      pybind11::arg("KW"), pybind11::arg("sh"), pybind11::arg("sw"), pybind11::arg("ph"), pybind11::arg("pw"),
      pybind11::arg("dh"), pybind11::arg("dw"), pybind11::arg("groups"), pybind11::arg("stream"));
  m.def(
      "conv2d_backward",
      [](std::uintptr_t grad, std::uintptr_t x, std::uintptr_t w, std::uintptr_t grad_x, std::uintptr_t grad_w,
         const std::string& dtype, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
         int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups,
         std::uintptr_t stream) {
        const Conv2dShape s =
            CheckConv("conv2d_backward", dtype, N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
        MINIDL_CHECK(w && grad_w, "conv2d_backward", "null device pointer");
        MINIDL_CHECK(N == 0 || (grad && x && grad_x), "conv2d_backward", "null device pointer");  // empty: may be 0
        if (dtype == "float32")
          Conv2dBackward(reinterpret_cast<const float*>(grad), reinterpret_cast<const float*>(x),
                         reinterpret_cast<const float*>(w), reinterpret_cast<float*>(grad_x),
                         reinterpret_cast<float*>(grad_w), s, Stream(stream));
        else
          Conv2dBackward(reinterpret_cast<const double*>(grad), reinterpret_cast<const double*>(x),
                         reinterpret_cast<const double*>(w), reinterpret_cast<double*>(grad_x),
                         reinterpret_cast<double*>(grad_w), s, Stream(stream));
      },
      "conv2d gradients into grad_x (N, C, H, W) and grad_w (O, C/groups, KH, KW); device pointers as ints",
      pybind11::arg("grad"), pybind11::arg("x"), pybind11::arg("w"), pybind11::arg("grad_x"),
      pybind11::arg("grad_w"), pybind11::arg("dtype"), pybind11::arg("N"), pybind11::arg("C"), pybind11::arg("H"),
      pybind11::arg("W"), pybind11::arg("O"), pybind11::arg("KH"), pybind11::arg("KW"), pybind11::arg("sh"),
      pybind11::arg("sw"), pybind11::arg("ph"), pybind11::arg("pw"), pybind11::arg("dh"), pybind11::arg("dw"),
      pybind11::arg("groups"), pybind11::arg("stream"));
}

}  // namespace

static const bool kRegistered = RegisterBinder(&BindConv2d);

}  // namespace minidl::cuda
