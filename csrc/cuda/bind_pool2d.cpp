// Host entry points of the pooling kernels (declared in cuda/bindings.h, bound in module.cpp).
// Geometry: n, c, h, w, oh, ow, then (kh, kw), (sh, sw), (ph, pw) and, for max pooling, (dh, dw);
// the Python side parsed and validated it (minidl/backends/geometry.py) and allocated the outputs.
#include <pybind11/pybind11.h>

#include "cuda/bind_util.h"
#include "cuda/bindings.h"
#include "cuda/pool2d.h"

namespace minidl::cuda::api {
namespace {

Pool2dGeometry Geometry(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p,
                        Pair d, const char* op) {
  Pool2dGeometry g{n, c, h, w, oh, ow, std::get<0>(k), std::get<1>(k), std::get<0>(s), std::get<1>(s),
                   std::get<0>(p), std::get<1>(p), std::get<0>(d), std::get<1>(d)};
  MINIDL_CHECK(n >= 0 && c >= 0 && h >= 0 && w >= 0 && oh >= 0 && ow >= 0, op, "sizes must be non-negative");
  MINIDL_CHECK(g.kh > 0 && g.kw > 0 && g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0, op,
               "kernel_size, stride and dilation must be positive");
  MINIDL_CHECK(g.ph >= 0 && g.pw >= 0 && 2 * g.ph <= g.kh && 2 * g.pw <= g.kw, op,
               "padding must be non-negative and at most kernel_size / 2");
  return g;
}

int64_t Outputs(const Pool2dGeometry& g) { return g.n * g.c * g.oh * g.ow; }
int64_t Inputs(const Pool2dGeometry& g) { return g.n * g.c * g.h * g.w; }

}  // namespace

void MaxPool2d(Addr x, Addr y, Addr indices, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w,
               int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d, Addr stream) {
  const char* op = "max_pool2d";
  const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, d, op);
  CheckPtr(x, Inputs(g), op, "x");
  CheckPtr(y, Outputs(g), op, "y");
  CheckPtr(indices, Outputs(g), op, "indices");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::MaxPool2d<T>(cuda::Ptr<const T>(x), cuda::Ptr<T>(y), cuda::Ptr<int64_t>(indices), g, Stream(stream));
  });
}

void MaxPool2dBackward(Addr grad, Addr indices, Addr grad_x, const std::string& dtype, int64_t n, int64_t c, int64_t h,
                       int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d, Addr stream) {
  const char* op = "max_pool2d_backward";
  const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, d, op);
  CheckPtr(grad, Outputs(g), op, "grad");
  CheckPtr(indices, Outputs(g), op, "indices");
  CheckPtr(grad_x, Inputs(g), op, "grad_x");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::MaxPool2dBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<const int64_t>(indices), cuda::Ptr<T>(grad_x), g,
                               Stream(stream));
  });
}

void AvgPool2d(Addr x, Addr y, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh,
               int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, Addr stream) {
  const char* op = "avg_pool2d";
  const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, Pair{1, 1}, op);
  CheckPtr(x, Inputs(g), op, "x");
  CheckPtr(y, Outputs(g), op, "y");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::AvgPool2d<T>(cuda::Ptr<const T>(x), cuda::Ptr<T>(y), g, count_include_pad, Stream(stream));
  });
}

void AvgPool2dBackward(Addr grad, Addr grad_x, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t oh, int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, Addr stream) {
  const char* op = "avg_pool2d_backward";
  const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, Pair{1, 1}, op);
  CheckPtr(grad, Outputs(g), op, "grad");
  CheckPtr(grad_x, Inputs(g), op, "grad_x");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::AvgPool2dBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<T>(grad_x), g, count_include_pad,
                               Stream(stream));
  });
}

}  // namespace minidl::cuda::api
