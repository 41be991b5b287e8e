// Host entry points of the conv2d kernels (declared in cuda/bindings.h, bound in module.cpp).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cuda/bind_util.h"
#include "cuda/bindings.h"
#include "cuda/conv2d.h"

namespace minidl::cuda::api {
namespace {

/** Memory-safety checks of the geometry (Python validated it already) and OH, OW: the extent y is written to. */
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

}  // namespace

void Conv2d(Addr x, Addr w, Addr y, const std::string& dtype, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
            int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
            int64_t groups, Addr stream) {
  const Conv2dShape s = CheckConv("conv2d", N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
  CheckPtr(x, N, "conv2d", "x");  // an empty array may have a null pointer
  CheckPtr(w, 1, "conv2d", "w");
  CheckPtr(y, N, "conv2d", "y");
  DispatchDtype(dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::Conv2dForward<T>(cuda::Ptr<const T>(x), cuda::Ptr<const T>(w), cuda::Ptr<T>(y), s, Stream(stream));
  });
}

void Conv2dBackward(Addr grad, Addr x, Addr w, Addr grad_x, Addr grad_w, const std::string& dtype, int64_t N,
                    int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                    int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups, Addr stream) {
  const char* op = "conv2d_backward";
  const Conv2dShape s = CheckConv(op, N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups);
  CheckPtr(grad, N, op, "grad");
  CheckPtr(x, N, op, "x");
  CheckPtr(w, 1, op, "w");
  // grad_x / grad_w may be 0 (null): that gradient is not wanted, and the launcher skips it
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::Conv2dBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<const T>(x), cuda::Ptr<const T>(w),
                            cuda::Ptr<T>(grad_x), cuda::Ptr<T>(grad_w), s, Stream(stream));
  });
}

}  // namespace minidl::cuda::api
