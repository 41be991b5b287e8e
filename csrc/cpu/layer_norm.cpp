// Layer norm over the rows of (M, N), forward and backward, float32 and float64, in one pass over memory each
// way (the composed op makes eight passes and six temporaries). Row statistics accumulate in double; the
// weight/bias gradients are column sums, accumulated per thread over its own rows and added up once.
//
// `threads` follows elementwise.cpp: 1 runs on the caller's thread, 0 uses all of OpenMP's threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

int LnThreads(int requested, int64_t rows) {
#ifdef _OPENMP
  const int most = omp_get_max_threads();
  const int want = requested <= 0 ? most : std::min(requested, most);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(want, rows)));
#else
  (void)requested;
  (void)rows;
  return 1;
#endif
}

/** fn(thread, lo, hi) over rows [0, m) in one contiguous range per thread. */
template <typename F>
void RowRanges(int64_t m, int threads, F&& fn) {
  if (threads <= 1) {
    fn(0, int64_t{0}, m);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t lo = m * t / nt, hi = m * (t + 1) / nt;
    if (lo < hi) fn(static_cast<int>(t), lo, hi);
  }
#else
  fn(0, int64_t{0}, m);
#endif
}

template <typename T>
void LnForward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t N, double eps,
               int threads) {
  RowRanges(M, threads, [&](int, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* p = x + r * N;
      T* q = y + r * N;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < N; ++c) s += static_cast<double>(p[c]);
      const double mu = s / static_cast<double>(N);
      double ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t c = 0; c < N; ++c) {
        const double d = static_cast<double>(p[c]) - mu;
        ss += d * d;
      }
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(N) + eps);
      mean[r] = static_cast<T>(mu);
      rstd[r] = static_cast<T>(inv);
      const T m = static_cast<T>(mu), k = static_cast<T>(inv);
      if (w != nullptr && b != nullptr) {
#pragma omp simd
        for (int64_t c = 0; c < N; ++c) q[c] = (p[c] - m) * k * w[c] + b[c];
      } else if (w != nullptr) {
#pragma omp simd
        for (int64_t c = 0; c < N; ++c) q[c] = (p[c] - m) * k * w[c];
      } else if (b != nullptr) {
#pragma omp simd
        for (int64_t c = 0; c < N; ++c) q[c] = (p[c] - m) * k + b[c];
      } else {
#pragma omp simd
        for (int64_t c = 0; c < N; ++c) q[c] = (p[c] - m) * k;
      }
    }
  });
}

/** gx per row; gw, gb (may be null) as column sums, each thread over its rows into its own double buffers. */
template <typename T>
void LnBackward(const T* g, const T* x, const T* w, const T* mean, const T* rstd, T* gx, T* gw, T* gb, int64_t M,
                int64_t N, int threads) {
  const bool cols = gw != nullptr || gb != nullptr;
  std::vector<double> acc(cols ? static_cast<size_t>(threads) * 2 * N : 0, 0.0);
  RowRanges(M, threads, [&](int t, int64_t lo, int64_t hi) {
    double* aw = cols ? acc.data() + static_cast<size_t>(t) * 2 * N : nullptr;
    double* ab = cols ? aw + N : nullptr;
    for (int64_t r = lo; r < hi; ++r) {
      const T* pg = g + r * N;
      const T* px = x + r * N;
      const T m = mean[r], k = rstd[r];
      if (cols) {
#pragma omp simd
        for (int64_t c = 0; c < N; ++c) {
          const double gv = static_cast<double>(pg[c]);
          aw[c] += gv * static_cast<double>((px[c] - m) * k);
          ab[c] += gv;
        }
      }
      if (gx == nullptr) continue;
      double sg = 0, sgh = 0;
#pragma omp simd reduction(+ : sg, sgh)
      for (int64_t c = 0; c < N; ++c) {
        const double gh = static_cast<double>(w != nullptr ? pg[c] * w[c] : pg[c]);
        sg += gh;
        sgh += gh * static_cast<double>((px[c] - m) * k);
      }
      const T a = static_cast<T>(sg / static_cast<double>(N)), bb = static_cast<T>(sgh / static_cast<double>(N));
      T* q = gx + r * N;
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) {
        const T gh = w != nullptr ? pg[c] * w[c] : pg[c];
        q[c] = k * (gh - a - (px[c] - m) * k * bb);
      }
    }
  });
  if (!cols) return;
  for (int64_t c = 0; c < N; ++c) {
    double sw = 0, sb = 0;
    for (int t = 0; t < threads; ++t) {
      sw += acc[static_cast<size_t>(t) * 2 * N + c];
      sb += acc[static_cast<size_t>(t) * 2 * N + N + c];
    }
    if (gw != nullptr) gw[c] = static_cast<T>(sw);
    if (gb != nullptr) gb[c] = static_cast<T>(sb);
  }
}

void CheckVector(const std::optional<py::array>& v, const py::array& x, int64_t n, const char* op, const char* name) {
  if (!v) return;
  CheckFloatArray(*v, 1, op, name);
  CheckSameDtype(x, *v, op);
  MINIDL_CHECK(v->shape(0) == n, op,
               std::string(name) + " must have shape (" + std::to_string(n) + ",), got " + ShapeString(*v));
}

template <typename T>
const T* PtrOr(const std::optional<py::array>& a) {
  return a ? DataOf<T>(*a) : nullptr;
}

}  // namespace

py::tuple LayerNormForward(const py::array& x, std::optional<py::array> weight, std::optional<py::array> bias,
                           double eps, int threads) {
  const char* op = "layer_norm";
  CheckFloatArray(x, 2, op, "x");
  const int64_t M = x.shape(0), N = x.shape(1);
  MINIDL_CHECK(M > 0 && N > 0, op, "x must have rows and columns, got shape " + ShapeString(x));
  CheckVector(weight, x, N, op, "weight");
  CheckVector(bias, x, N, op, "bias");
  py::array y = EmptyLike(x);
  py::array mean(x.dtype(), std::vector<py::ssize_t>{M}), rstd(x.dtype(), std::vector<py::ssize_t>{M});
  const int nt = LnThreads(threads, M);
  DispatchFloat(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T *px = DataOf<T>(x), *pw = PtrOr<T>(weight), *pb = PtrOr<T>(bias);
    T *py_ = MutableDataOf<T>(y), *pm = MutableDataOf<T>(mean), *pr = MutableDataOf<T>(rstd);
    py::gil_scoped_release release;
    LnForward<T>(px, pw, pb, py_, pm, pr, M, N, eps, nt);
  });
  return py::make_tuple(y, mean, rstd);
}

py::tuple LayerNormBackward(const py::array& grad, const py::array& x, std::optional<py::array> weight,
                            const py::array& mean, const py::array& rstd, bool need_x, bool need_w, bool need_b,
                            int threads) {
  const char* op = "layer_norm_backward";
  CheckFloatArray(x, 2, op, "x");
  CheckFloatArray(grad, 2, op, "grad");
  CheckSameDtype(x, grad, op);
  CheckSameShape(grad, x, op);
  const int64_t M = x.shape(0), N = x.shape(1);
  MINIDL_CHECK(M > 0 && N > 0, op, "x must have rows and columns, got shape " + ShapeString(x));
  CheckVector(weight, x, N, op, "weight");
  for (const py::array* a : {&mean, &rstd}) {
    CheckFloatArray(*a, 1, op, "mean/rstd");
    CheckSameDtype(x, *a, op);
    MINIDL_CHECK(a->shape(0) == M, op, "mean and rstd must have shape (" + std::to_string(M) + ",), got " +
                                          ShapeString(*a));
  }
  need_w = need_w && weight.has_value();
  py::object gx = py::none(), gw = py::none(), gb = py::none();
  py::array gxa, gwa, gba;
  if (need_x) gx = gxa = EmptyLike(x);
  if (need_w) gw = gwa = py::array(x.dtype(), std::vector<py::ssize_t>{N});
  if (need_b) gb = gba = py::array(x.dtype(), std::vector<py::ssize_t>{N});
  const int nt = LnThreads(threads, M);
  DispatchFloat(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T *pg = DataOf<T>(grad), *px = DataOf<T>(x), *pw = PtrOr<T>(weight);
    const T *pm = DataOf<T>(mean), *pr = DataOf<T>(rstd);
    T* pgx = need_x ? MutableDataOf<T>(gxa) : nullptr;
    T* pgw = need_w ? MutableDataOf<T>(gwa) : nullptr;
    T* pgb = need_b ? MutableDataOf<T>(gba) : nullptr;
    py::gil_scoped_release release;
    LnBackward<T>(pg, px, pw, pm, pr, pgx, pgw, pgb, M, N, nt);
  });
  return py::make_tuple(gx, gw, gb);
}

}  // namespace cpu
}  // namespace minidl
