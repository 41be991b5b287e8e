// Bindings of the pooling kernels. Geometry: n, c, h, w, oh, ow, then (kh, kw), (sh, sw), (ph, pw)
// and, for max pooling, (dh, dw) as ints; outputs are allocated by the Python side.
#include <pybind11/pybind11.h>

#include <tuple>

#include "cuda/bind_util.h"
#include "cuda/pool2d.h"
#include "cuda/registry.h"

namespace minidl::cuda {
namespace {

namespace py = pybind11;
using Pair = std::tuple<int64_t, int64_t>;

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

void BindPool2d(py::module_& m) {
  m.def(
      "max_pool2d",
      [](std::uintptr_t x, std::uintptr_t y, std::uintptr_t indices, const std::string& dtype, int64_t n, int64_t c,
         int64_t h, int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d, std::uintptr_t stream) {
        const char* op = "max_pool2d";
        const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, d, op);
        CheckPtr(x, Inputs(g), op, "x");
        CheckPtr(y, Outputs(g), op, "y");
        CheckPtr(indices, Outputs(g), op, "indices");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          MaxPool2d<T>(Ptr<const T>(x), Ptr<T>(y), Ptr<int64_t>(indices), g, Stream(stream));
        });
      },
      py::arg("x"), py::arg("y"), py::arg("indices"), py::arg("dtype"), py::arg("n"), py::arg("c"), py::arg("h"),
      py::arg("w"), py::arg("oh"), py::arg("ow"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("stream"));
  m.def(
      "max_pool2d_backward",
      [](std::uintptr_t grad, std::uintptr_t indices, std::uintptr_t grad_x, const std::string& dtype, int64_t n,
         int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d,
         std::uintptr_t stream) {
        const char* op = "max_pool2d_backward";
        const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, d, op);
        CheckPtr(grad, Outputs(g), op, "grad");
        CheckPtr(indices, Outputs(g), op, "indices");
        CheckPtr(grad_x, Inputs(g), op, "grad_x");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          MaxPool2dBackward<T>(Ptr<const T>(grad), Ptr<const int64_t>(indices), Ptr<T>(grad_x), g, Stream(stream));
        });
      },
      py::arg("grad"), py::arg("indices"), py::arg("grad_x"), py::arg("dtype"), py::arg("n"), py::arg("c"),
      py::arg("h"), py::arg("w"), py::arg("oh"), py::arg("ow"), py::arg("kernel_size"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("stream"));
  m.def(
      "avg_pool2d",
      [](std::uintptr_t x, std::uintptr_t y, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w,
         int64_t oh, int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, std::uintptr_t stream) {
        const char* op = "avg_pool2d";
        const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, Pair{1, 1}, op);
        CheckPtr(x, Inputs(g), op, "x");
        CheckPtr(y, Outputs(g), op, "y");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          AvgPool2d<T>(Ptr<const T>(x), Ptr<T>(y), g, count_include_pad, Stream(stream));
        });
      },
      py::arg("x"), py::arg("y"), py::arg("dtype"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"),
      py::arg("oh"), py::arg("ow"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("count_include_pad"), py::arg("stream"));
  m.def(
      "avg_pool2d_backward",
      [](std::uintptr_t grad, std::uintptr_t grad_x, const std::string& dtype, int64_t n, int64_t c, int64_t h,
         int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, std::uintptr_t stream) {
        const char* op = "avg_pool2d_backward";
        const Pool2dGeometry g = Geometry(n, c, h, w, oh, ow, k, s, p, Pair{1, 1}, op);
        CheckPtr(grad, Outputs(g), op, "grad");
        CheckPtr(grad_x, Inputs(g), op, "grad_x");
        DispatchDtype(dtype, op, [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          AvgPool2dBackward<T>(Ptr<const T>(grad), Ptr<T>(grad_x), g, count_include_pad, Stream(stream));
        });
      },
      py::arg("grad"), py::arg("grad_x"), py::arg("dtype"), py::arg("n"), py::arg("c"), py::arg("h"), py::arg("w"),
      py::arg("oh"), py::arg("ow"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("count_include_pad"), py::arg("stream"));
}

const bool kRegistered = RegisterBinder(&BindPool2d);

}  // namespace
}  // namespace minidl::cuda
