// Python bindings of the CUDA conv2d kernels (host compiler; device pointers arrive as ints).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cuda/bind_util.h"
#include "cuda/conv2d.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

/** Check the geometry (Python validated it already; this guards direct callers) and derive OH, OW. */
Conv2dShape CheckConv(const char* op, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                      int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                      int64_t groups) {
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

void BindConv2d(pybind11::module_& m) {
  m.def(
      "conv2d",
      [](std::uintptr_t x, std::uintptr_t w, std::uintptr_t y, const std::string& dtype, int64_t N, int64_t C,
         int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
         int64_t dh, int64_t dw, int64_t groups, std::uintptr_t stream) {
        const Conv2dShape s = CheckConv("conv2d", N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
        CheckPtr(x, N, "conv2d", "x");  // an empty array may have a null pointer
        CheckPtr(w, 1, "conv2d", "w");
        CheckPtr(y, N, "conv2d", "y");
        DispatchDtype(dtype, "conv2d", [&](auto tag) {
          using T = decltype(tag);
          pybind11::gil_scoped_release release;
          Conv2dForward<T>(Ptr<const T>(x), Ptr<const T>(w), Ptr<T>(y), s, Stream(stream));
        });
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
            CheckConv("conv2d_backward", N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
        const char* op = "conv2d_backward";
        CheckPtr(grad, N, op, "grad");
        CheckPtr(x, N, op, "x");
        CheckPtr(w, 1, op, "w");
        CheckPtr(grad_x, N, op, "grad_x");
        CheckPtr(grad_w, 1, op, "grad_w");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          pybind11::gil_scoped_release release;
          Conv2dBackward<T>(Ptr<const T>(grad), Ptr<const T>(x), Ptr<const T>(w), Ptr<T>(grad_x), Ptr<T>(grad_w), s,
                            Stream(stream));
        });
      },
      "conv2d gradients into grad_x (N, C, H, W) and grad_w (O, C/groups, KH, KW); device pointers as ints",
      pybind11::arg("grad"), pybind11::arg("x"), pybind11::arg("w"), pybind11::arg("grad_x"),
      pybind11::arg("grad_w"), pybind11::arg("dtype"), pybind11::arg("N"), pybind11::arg("C"), pybind11::arg("H"),
      pybind11::arg("W"), pybind11::arg("O"), pybind11::arg("KH"), pybind11::arg("KW"), pybind11::arg("sh"),
      pybind11::arg("sw"), pybind11::arg("ph"), pybind11::arg("pw"), pybind11::arg("dh"), pybind11::arg("dw"),
      pybind11::arg("groups"), pybind11::arg("stream"));
}

const bool kRegistered = RegisterBinder(&BindConv2d);

}  // namespace

}  // namespace minidl::cuda
