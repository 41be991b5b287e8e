// batch_norm and batch_norm_backward on the CPU, x (N, C, L), float32 and float64.
//
// Parallel over channels: one channel's N*L values (N runs of L contiguous elements) belong to one
// thread, which makes all its passes back to back while the channel is still in L2. Training uses a
// two-pass variance (mean, then sum of squared deviations), stable whatever the offset of the data.
// Sums run in vector lanes of T over blocks of at most kBlock elements and the block totals add up in
// double, so float32 keeps float64-like accuracy at float32 speed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

constexpr int64_t kBlock = 1024;  // elements summed in T before the block total goes to double

/** Worth forking threads: below this many elements a call runs on the caller's thread. */
constexpr int64_t kParallelWork = 1 << 15;

// 64-byte GCC vector types: one AVX-512 register, split by the compiler on narrower targets. Explicit
// vectors because the compiler does not reassociate a plain float sum (no -ffast-math here).
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(64)));
};

template <typename T>
inline typename Vec<T>::type Load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline double LaneSum(const typename Vec<T>::type& v) {
  constexpr int kLanes = sizeof(v) / sizeof(T);
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += static_cast<double>(v[l]);
  return s;
}

/** Per block of kBlock elements: the sums of f(i) over vector chunks (f returns a vector of K sums
 *  stacked in an array), accumulated in T, then added up in double. tail(i) gives the scalar terms. */
template <typename T, int K, typename F, typename Tail>
inline void BlockedSums(int64_t n, F&& f, Tail&& tail, double* out) {
  using V = typename Vec<T>::type;
  constexpr int64_t kLanes = sizeof(V) / sizeof(T);
  for (int k = 0; k < K; ++k) out[k] = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    V acc0[K] = {}, acc1[K] = {};  // two chains per sum hide the add latency
    int64_t i = b;
    for (; i + 2 * kLanes <= e; i += 2 * kLanes) {
      f(i, acc0);
      f(i + kLanes, acc1);
    }
    for (; i + kLanes <= e; i += kLanes) f(i, acc0);
    double t[K] = {};
    for (; i < e; ++i) tail(i, t);
    for (int k = 0; k < K; ++k) out[k] += t[k] + LaneSum<T>(acc0[k] + acc1[k]);
  }
}

struct Ncl {
  int64_t N, C, L;
};

template <typename T>
void Forward(const T* x, const T* weight, const T* bias, T* rm, T* rv, bool training, double momentum, double eps,
             const Ncl& s, T* y, T* save_mean, T* save_invstd) {
  const int64_t n = s.N * s.L;
  const bool batch_stats = training || rm == nullptr;
  const bool parallel = s.C > 1 && s.N * s.C * s.L >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < s.C; ++c) {
    double mean = 0, invstd = 0;
    if (!batch_stats) {
      mean = static_cast<double>(rm[c]);
      invstd = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
    } else if (n > 0) {
      using V = typename Vec<T>::type;
      double sum = 0;
      for (int64_t b = 0; b < s.N; ++b) {
        const T* p = x + (b * s.C + c) * s.L;
        double part;
        BlockedSums<T, 1>(
            s.L, [p](int64_t i, V* acc) { acc[0] += Load(p + i); },
            [p](int64_t i, double* t) { t[0] += static_cast<double>(p[i]); }, &part);
        sum += part;
      }
      mean = sum / static_cast<double>(n);
      const T m = static_cast<T>(mean);
      double var_sum = 0;
      for (int64_t b = 0; b < s.N; ++b) {
        const T* p = x + (b * s.C + c) * s.L;
        double part;
        BlockedSums<T, 1>(
            s.L,
            [p, m](int64_t i, V* acc) {
              const V d = Load(p + i) - m;
              acc[0] += d * d;
            },
            [p, m](int64_t i, double* t) {
              const T d = p[i] - m;
              t[0] += static_cast<double>(d * d);
            },
            &part);
        var_sum += part;
      }
      invstd = 1.0 / std::sqrt(var_sum / static_cast<double>(n) + eps);
      if (training && rm != nullptr) {
        const double unbiased = n > 1 ? var_sum / static_cast<double>(n - 1) : std::numeric_limits<double>::quiet_NaN();
        rm[c] = static_cast<T>((1 - momentum) * static_cast<double>(rm[c]) + momentum * mean);
        rv[c] = static_cast<T>((1 - momentum) * static_cast<double>(rv[c]) + momentum * unbiased);
      }
    }
    // y in T exactly as the reference writes it: (x - mean) * (weight * invstd) + bias.
    const T m = static_cast<T>(mean), is = static_cast<T>(invstd);
    save_mean[c] = m;
    save_invstd[c] = is;
    const T scale = weight[c] * is, shift = bias[c];
    for (int64_t b = 0; b < s.N; ++b) {
      const T* __restrict p = x + (b * s.C + c) * s.L;
      T* __restrict q = y + (b * s.C + c) * s.L;
      for (int64_t i = 0; i < s.L; ++i) q[i] = (p[i] - m) * scale + shift;
    }
  }
}

template <typename T>
void Backward(const T* grad, const T* x, const T* weight, const T* save_mean, const T* save_invstd, bool training,
              const Ncl& s, T* gx, T* gw, T* gb) {
  const int64_t n = s.N * s.L;
  const bool parallel = s.C > 1 && s.N * s.C * s.L >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < s.C; ++c) {
    const T m = save_mean[c], is = save_invstd[c];
    // grad_weight = sum g * xhat = invstd * sum g * (x - mean): one product per element fewer.
    double sum_g = 0, sum_gd = 0;
    for (int64_t b = 0; b < s.N; ++b) {
      const T* g = grad + (b * s.C + c) * s.L;
      const T* p = x + (b * s.C + c) * s.L;
      using V = typename Vec<T>::type;
      double part[2];
      BlockedSums<T, 2>(
          s.L,
          [g, p, m](int64_t i, V* acc) {
            const V gv = Load(g + i);
            acc[0] += gv;
            acc[1] += gv * (Load(p + i) - m);
          },
          [g, p, m](int64_t i, double* t) {
            t[0] += static_cast<double>(g[i]);
            t[1] += static_cast<double>(g[i] * (p[i] - m));
          },
          part);
      sum_g += part[0];
      sum_gd += part[1];
    }
    const double grad_weight = sum_gd * static_cast<double>(is);
    gb[c] = static_cast<T>(sum_g);
    gw[c] = static_cast<T>(grad_weight);
    const T scale = weight[c] * is;
    if (training && n > 0) {
      // (g - mean_g - xhat * mean_gx) * scale, with xhat = (x - mean) * invstd, folded into
      // g * scale - (x - mean) * k - mean_g * scale.
      const T mean_g = static_cast<T>(sum_g / static_cast<double>(n));
      const T mean_gx = static_cast<T>(grad_weight / static_cast<double>(n));
      const T k = is * mean_gx * scale, shift = mean_g * scale;
      for (int64_t b = 0; b < s.N; ++b) {
        const T* __restrict g = grad + (b * s.C + c) * s.L;
        const T* __restrict p = x + (b * s.C + c) * s.L;
        T* __restrict q = gx + (b * s.C + c) * s.L;
        for (int64_t i = 0; i < s.L; ++i) q[i] = g[i] * scale - (p[i] - m) * k - shift;
      }
    } else {
      for (int64_t b = 0; b < s.N; ++b) {
        const T* __restrict g = grad + (b * s.C + c) * s.L;
        T* __restrict q = gx + (b * s.C + c) * s.L;
        for (int64_t i = 0; i < s.L; ++i) q[i] = g[i] * scale;
      }
    }
  }
}

/** A (C,) float array of x's dtype, C-contiguous. */
void CheckChannelVector(const py::array& v, const py::array& x, const char* op, const char* name) {
  CheckFloatArray(v, 1, op, name);
  CheckSameDtype(v, x, op);
  MINIDL_CHECK(v.shape(0) == x.shape(1), op,
               std::string(name) + " must have shape (" + std::to_string(x.shape(1)) + ",) for x of shape " +
                   ShapeString(x) + ", got " + ShapeString(v));
}

bool SameShape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.shape(d) != b.shape(d)) return false;
  return true;
}

}  // namespace

/** batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
 *    -> (y, save_mean, save_invstd)
 *  x (N, C, L); weight, bias (C,); running_mean, running_var (C,) arrays or None, updated IN PLACE
 *  when training and N*L > 0 (running_var with the unbiased variance). All of x's dtype and
 *  C-contiguous. Releases the GIL. */
py::tuple BatchNormForward(const py::array& x, const py::array& weight, const py::array& bias,
                           std::optional<py::array> running_mean, std::optional<py::array> running_var,
                           bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  CheckFloatArray(x, 3, op, "x");
  CheckChannelVector(weight, x, op, "weight");
  CheckChannelVector(bias, x, op, "bias");
  MINIDL_CHECK(running_mean.has_value() == running_var.has_value(), op,
               "give both running_mean and running_var, or neither");
  if (running_mean) {
    CheckChannelVector(*running_mean, x, op, "running_mean");
    CheckChannelVector(*running_var, x, op, "running_var");
    MINIDL_CHECK(running_mean->writeable() && running_var->writeable(), op,
                 "running_mean and running_var must be writeable (they are updated in place)");
  }
  const Ncl s{x.shape(0), x.shape(1), x.shape(2)};
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> y({s.N, s.C, s.L});
    py::array_t<T> save_mean(s.C), save_invstd(s.C);
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(weight);
    const T* pb = DataOf<T>(bias);
    T* rm = running_mean ? MutableDataOf<T>(*running_mean) : nullptr;
    T* rv = running_var ? MutableDataOf<T>(*running_var) : nullptr;
    T* py_ = y.mutable_data();
    T* psm = save_mean.mutable_data();
    T* psi = save_invstd.mutable_data();
    {
      py::gil_scoped_release release;
      Forward<T>(px, pw, pb, rm, rv, training, momentum, eps, s, py_, psm, psi);
    }
    return py::make_tuple(y, save_mean, save_invstd);
  });
}

/** batch_norm_backward(grad, x, weight, save_mean, save_invstd, training) -> (grad_x, grad_weight, grad_bias)
 *  grad, x (N, C, L); weight, save_mean, save_invstd (C,). Sums accumulate in double. Releases the GIL. */
py::tuple BatchNormBackward(const py::array& grad, const py::array& x, const py::array& weight,
                            const py::array& save_mean, const py::array& save_invstd, bool training) {
  const char* op = "batch_norm_backward";
  CheckFloatArray(x, 3, op, "x");
  CheckFloatArray(grad, 3, op, "grad");
  CheckSameDtype(grad, x, op);
  MINIDL_CHECK(SameShape(grad, x), op,
               "grad has shape " + ShapeString(grad) + ", expected the shape of x " + ShapeString(x));
  CheckChannelVector(weight, x, op, "weight");
  CheckChannelVector(save_mean, x, op, "save_mean");
  CheckChannelVector(save_invstd, x, op, "save_invstd");
  const Ncl s{x.shape(0), x.shape(1), x.shape(2)};
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> gx({s.N, s.C, s.L});
    py::array_t<T> gw(s.C), gb(s.C);
    const T* pg = DataOf<T>(grad);
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(weight);
    const T* pm = DataOf<T>(save_mean);
    const T* pi = DataOf<T>(save_invstd);
    T* pgx = gx.mutable_data();
    T* pgw = gw.mutable_data();
    T* pgb = gb.mutable_data();
    {
      py::gil_scoped_release release;
      Backward<T>(pg, px, pw, pm, pi, training, s, pgx, pgw, pgb);
    }
    return py::make_tuple(gx, gw, gb);
  });
}

}  // namespace cpu
}  // namespace minidl
