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
#include <limits>
#include <optional>
#include <string>

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

constexpr int64_t kBlock = 512;  // elements summed in T before the block total goes to double
constexpr int kLanes = 16;       // independent partial sums: one AVX-512 float vector, two double ones

/** Worth forking threads: below this many elements a call runs on the caller's thread. */
constexpr int64_t kParallelWork = 1 << 15;

/** sum f(p[i]) (and sum f2(p[i], q[i]) when Two) over i < n, in double: lanes of T within a block. */
template <typename T, typename F>
inline double BlockedSum(int64_t n, F&& f) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T acc[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) {
#pragma GCC unroll 16
      for (int l = 0; l < kLanes; ++l) acc[l] += f(i + l);
    }
    T tail = 0;
    for (; i < e; ++i) tail += f(i);
    double block = static_cast<double>(tail);
    for (int l = 0; l < kLanes; ++l) block += static_cast<double>(acc[l]);
    total += block;
  }
  return total;
}

/** Two sums at once over the same index range (the backward's sum g and sum g*(x-mean)). */
template <typename T, typename F, typename G>
inline void BlockedSum2(int64_t n, F&& f, G&& g, double* out_f, double* out_g) {
  double tf = 0, tg = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T af[kLanes] = {}, ag[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) {
#pragma GCC unroll 16
      for (int l = 0; l < kLanes; ++l) {
        af[l] += f(i + l);
        ag[l] += g(i + l);
      }
    }
    double bf = 0, bg = 0;
    for (; i < e; ++i) {
      bf += static_cast<double>(f(i));
      bg += static_cast<double>(g(i));
    }
    for (int l = 0; l < kLanes; ++l) {
      bf += static_cast<double>(af[l]);
      bg += static_cast<double>(ag[l]);
    }
    tf += bf;
    tg += bg;
  }
  *out_f = tf;
  *out_g = tg;
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
      double sum = 0;
      for (int64_t b = 0; b < s.N; ++b) {
        const T* p = x + (b * s.C + c) * s.L;
        sum += BlockedSum<T>(s.L, [p](int64_t i) { return p[i]; });
      }
      mean = sum / static_cast<double>(n);
      const T m = static_cast<T>(mean);
      double var_sum = 0;
      for (int64_t b = 0; b < s.N; ++b) {
        const T* p = x + (b * s.C + c) * s.L;
        var_sum += BlockedSum<T>(s.L, [p, m](int64_t i) {
          const T d = p[i] - m;
          return d * d;
        });
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
      double sg, sgd;
      BlockedSum2<T>(
          s.L, [g](int64_t i) { return g[i]; }, [g, p, m](int64_t i) { return g[i] * (p[i] - m); }, &sg, &sgd);
      sum_g += sg;
      sum_gd += sgd;
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
