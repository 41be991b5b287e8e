// linear and linear_backward: y = x @ w^T + bias and its gradients, over the GEMM engine.
// w^T is never copied: the GEMM reads it through StridedMatrix's swapped strides. The bias is
// written into y first and the product accumulated onto it, so it costs no extra pass over y.
#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

/** Shapes of a linear call: x (M, K), w (N, K), bias (N,) or None. Memory-safety checks only:
 *  the op validated the shapes in Python. */
struct LinearShape {
  int64_t M, K, N;
};

LinearShape CheckLinearOperands(const py::array& x, const py::array& w, const py::object& bias, const char* op) {
  CheckFloatArray(x, 2, op, "x");
  CheckFloatArray(w, 2, op, "w");
  CheckSameDtype(x, w, op);
  MINIDL_CHECK(x.shape(1) == w.shape(1), op,
               "x " + ShapeString(x) + " and w " + ShapeString(w) + " differ in in_features");
  if (!bias.is_none()) {
    const py::array b = bias.cast<py::array>();
    CheckFloatArray(b, 1, op, "bias");
    CheckSameDtype(x, b, op);
    MINIDL_CHECK(b.shape(0) == w.shape(0), op, "bias " + ShapeString(b) + " does not match w " + ShapeString(w));
  }
  return {x.shape(0), x.shape(1), w.shape(0)};
}

/** gb[j] = sum_i g[i, j] for g (M, N) row-major, summed in double; columns split among threads
 *  when there is enough work. */
template <typename T>
void ColumnSums(const T* g, int64_t M, int64_t N, T* out) {
  constexpr int64_t kChunk = 512;  // columns per task: their double sums stay in L1
  const int64_t chunks = CeilDiv(N, kChunk);
  const bool parallel = M * N >= (int64_t{1} << 18) && chunks > 1;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t j0 = chunk * kChunk;
    const int64_t j1 = std::min(N, j0 + kChunk);
    double acc[kChunk] = {};
    for (int64_t i = 0; i < M; ++i) {
      const T* row = g + i * N;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += double(row[j]);
    }
    for (int64_t j = j0; j < j1; ++j) out[j] = static_cast<T>(acc[j - j0]);
  }
  (void)parallel;
}

}  // namespace

/** linear(x, w, bias=None) -> y
 *  x: (M, K); w: (N, K); bias: (N,) or None; all C-contiguous, one float dtype. Returns
 *  y = x @ w^T (+ bias), (M, N). w^T is read in place (no copy). Releases the GIL. */
py::array LinearForward(const py::array& x, const py::array& w, const py::object& bias) {
  const LinearShape s = CheckLinearOperands(x, w, bias, "linear");
  return DispatchFloat(x.dtype(), "linear", [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y({static_cast<py::ssize_t>(s.M), static_cast<py::ssize_t>(s.N)});
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(w);
    const T* pb = bias.is_none() ? nullptr : DataOf<T>(bias.cast<py::array>());
    T* py_ = y.mutable_data();
    {
      py::gil_scoped_release release;
      if (pb != nullptr) {
        for (int64_t i = 0; i < s.M; ++i) std::copy(pb, pb + s.N, py_ + i * s.N);
      }
      const StridedMatrix<T> wt = StridedMatrix<T>{pw, s.K, 1}.Transposed();  // (K, N)
      Gemm<T>(s.M, s.N, s.K, {px, s.K, 1}, wt, py_, s.N, pb != nullptr);
    }
    return y;
  });
}

/** linear_backward(grad, x, w, need_x=True, need_w=True, need_b=True) -> (gx, gw, gb)
 *  grad: (M, N), the gradient of y = linear(x, w, bias); x, w as in linear. gx = grad @ w (M, K),
 *  gw = grad^T @ x (N, K), gb = grad summed over rows (N,); each is None, and never computed,
 *  when its need flag is false. The transposes are strided reads, never copies. Releases the
 *  GIL. */
py::tuple LinearBackward(const py::array& grad, const py::array& x, const py::array& w, bool need_x, bool need_w,
                         bool need_b) {
  const LinearShape s = CheckLinearOperands(x, w, py::none(), "linear_backward");
  CheckFloatArray(grad, 2, "linear_backward", "grad");
  CheckSameDtype(grad, x, "linear_backward");
  MINIDL_CHECK(grad.shape(0) == s.M && grad.shape(1) == s.N, "linear_backward",
               "grad has shape " + ShapeString(grad) + ", expected (" + std::to_string(s.M) + ", " +
                   std::to_string(s.N) + ")");
  return DispatchFloat(x.dtype(), "linear_backward", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto shape2 = [](int64_t r, int64_t c) {
      return std::vector<py::ssize_t>{static_cast<py::ssize_t>(r), static_cast<py::ssize_t>(c)};
    };
    py::object gx = py::none(), gw = py::none(), gb = py::none();
    T *pgx = nullptr, *pgw = nullptr, *pgb = nullptr;
    if (need_x) {
      py::array_t<T> a(shape2(s.M, s.K));
      pgx = a.mutable_data();
      gx = a;
    }
    if (need_w) {
      py::array_t<T> a(shape2(s.N, s.K));
      pgw = a.mutable_data();
      gw = a;
    }
    if (need_b) {
      py::array_t<T> a(std::vector<py::ssize_t>{static_cast<py::ssize_t>(s.N)});
      pgb = a.mutable_data();
      gb = a;
    }
    const T* pg = DataOf<T>(grad);
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(w);
    {
      py::gil_scoped_release release;
      const StridedMatrix<T> g{pg, s.N, 1};
      if (pgx != nullptr) Gemm<T>(s.M, s.K, s.N, g, {pw, s.K, 1}, pgx, s.K, false);
      if (pgw != nullptr) Gemm<T>(s.N, s.K, s.M, g.Transposed(), {px, s.K, 1}, pgw, s.K, false);
      if (pgb != nullptr) ColumnSums(pg, s.M, s.N, pgb);
    }
    return py::make_tuple(gx, gw, gb);
  });
}

}  // namespace cpu
}  // namespace minidl
