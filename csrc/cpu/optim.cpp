// Fused optimizer updates: one call updates every parameter of a group in place (SGD, Adam/AdamW, RMSprop,
// Adagrad), one pass over each element instead of one NumPy temporary per operation and parameter.
//
// Each element goes through the same float operations, in the same order and with the same scalars rounded to
// the parameter's dtype, as the per-parameter NumPy reference in minidl/backends/reference.py (which follows
// PyTorch's single-tensor kernels), so the two agree bit for bit. Hence no FMA contraction and an IEEE sqrt.
//
// Threads: all elements of all parameters form one index range split evenly across threads, so a group of one
// large weight and many small biases balances. A small group runs on the calling thread; the cut-over is derived
// from two quantities measured once per process: the cost of entering an OpenMP parallel region and the cost
// per byte of a streaming update.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

double NowNs() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The fastest of several runs: on a busy machine every other statistic measures the other processes.
double Fastest(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

struct Tuning {
  double fork_ns = 0;  // entering and leaving a parallel region with every thread
  double byte_ns = 0;  // one thread streaming through L2-resident arrays, per byte moved
};

Tuning Measure() {
  Tuning t;
  const int threads = MaxThreads();
  std::vector<double> times;
  for (int rep = 0; rep < 25; ++rep) {
    const double start = NowNs();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    { asm volatile("" ::: "memory"); }
#endif
    if (rep >= 5) times.push_back(NowNs() - start);
  }
  t.fork_ns = threads > 1 ? Fastest(times) : 0.0;
  // a = a * s + b over 2 x 64 KiB: three streams, like the smallest update (SGD without momentum)
  const int n = 16384;
  std::vector<float> a(n, 1.0f), b(n, 0.5f);
  const float s = 0.999f;
  times.clear();
  for (int rep = 0; rep < 15; ++rep) {
    const double start = NowNs();
    float* pa = a.data();
    const float* pb = b.data();
    for (int i = 0; i < n; ++i) pa[i] = pa[i] * s + pb[i];
    asm volatile("" : : "r"(pa) : "memory");
    if (rep >= 3) times.push_back(NowNs() - start);
  }
  t.byte_ns = std::max(Fastest(times), 1.0) / (3.0 * sizeof(float) * n);
  return t;
}

Tuning& GetTuning() {
  static Tuning tuning = Measure();  // thread-safe static init; once per process
  return tuning;
}

// Threads for `total` elements moving `bytes_per_elem` bytes each: all of them when the time saved by splitting
// the work exceeds the measured cost of the parallel region, else 1.
int ThreadsFor(int64_t total, int64_t bytes_per_elem) {
  const int threads = MaxThreads();
  if (threads <= 1 || total <= 0) return 1;
  const Tuning& t = GetTuning();
  const double work = static_cast<double>(total) * static_cast<double>(bytes_per_elem) * t.byte_ns;
  return work * (1.0 - 1.0 / threads) > t.fork_ns ? threads : 1;
}

int64_t ParallelThreshold(int64_t bytes_per_elem) {
  const int threads = MaxThreads();
  if (threads <= 1) return -1;
  const Tuning& t = GetTuning();
  return static_cast<int64_t>(t.fork_ns / (static_cast<double>(bytes_per_elem) * t.byte_ns * (1.0 - 1.0 / threads)));
}

// body(i, begin, end) over [begin, end) of parameter i; `offsets` holds the n + 1 prefix sums of the sizes.
template <typename Body>
void ForEachRange(const std::vector<int64_t>& offsets, int64_t bytes_per_elem, const Body& body) {
  const int64_t n = static_cast<int64_t>(offsets.size()) - 1, total = offsets.back();
  const int threads = ThreadsFor(total, bytes_per_elem);
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i)
      if (offsets[i + 1] > offsets[i]) body(i, int64_t{0}, offsets[i + 1] - offsets[i]);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    // boundaries on multiples of 16 elements, so neighbouring threads rarely write one cache line
    const auto cut = [&](int64_t k) { return k >= nt ? total : std::min(total, (total * k / nt) & ~int64_t{15}); };
    const int64_t lo = cut(t), hi = cut(t + 1);
    int64_t i = std::upper_bound(offsets.begin(), offsets.end(), lo) - offsets.begin() - 1;
    for (; lo < hi && i < n && offsets[i] < hi; ++i) {
      const int64_t b = std::max(lo, offsets[i]) - offsets[i], e = std::min(hi, offsets[i + 1]) - offsets[i];
      if (e > b) body(i, b, e);
    }
  }
#endif
}

// f(std::true_type / std::false_type): a runtime flag made a compile-time one, so hot loops carry no branches
template <typename F>
void WithFlag(bool flag, const F& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// The arrays of one argument list, checked for what the kernel's pointer arithmetic relies on.
template <typename T>
std::vector<T*> Pointers(const std::vector<py::array>& arrays, const std::vector<int64_t>& sizes, const char* op,
                         const char* what) {
  if (arrays.size() != sizes.size())
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(arrays.size()) + " " + what + " for " +
                                std::to_string(sizes.size()) + " parameters");
  std::vector<T*> out;
  out.reserve(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    const py::array& a = arrays[i];
    if (!IsDtype<T>(a.dtype()) || !(a.flags() & py::array::c_style) || !a.writeable() ||
        a.size() != sizes[i])
      throw std::invalid_argument(std::string(op) + ": " + what + "[" + std::to_string(i) +
                                  "] must be a writeable C-contiguous array of the parameters' dtype and size " +
                                  std::to_string(sizes[i]));
    out.push_back(static_cast<T*>(const_cast<void*>(a.data())));
  }
  return out;
}

std::vector<int64_t> Offsets(const std::vector<py::array>& params) {
  std::vector<int64_t> offsets(1, 0);
  for (const py::array& p : params) offsets.push_back(offsets.back() + p.size());
  return offsets;
}

std::vector<int64_t> Sizes(const std::vector<py::array>& params) {
  std::vector<int64_t> sizes;
  for (const py::array& p : params) sizes.push_back(p.size());
  return sizes;
}

std::vector<double> Steps(const py::array_t<double, py::array::c_style | py::array::forcecast>& steps, size_t n,
                          const char* op) {
  if (static_cast<size_t>(steps.size()) != n)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(steps.size()) + " step counts for " +
                                std::to_string(n) + " parameters");
  return std::vector<double>(steps.data(), steps.data() + n);
}

bool IsDtype(const std::vector<py::array>& params, const py::dtype& dt) {
  return params.empty() || SameDtype(params[0].dtype(), dt);
}

// lerp(a, b, w) as ATen computes it: exact at both ends (w small: a + w (b - a); else b - (b - a)(1 - w))
template <typename T>
struct Lerp {
  bool small;
  T w, one_minus_w;
  Lerp(double weight) : small(std::abs(weight) < 0.5), w(T(weight)), one_minus_w(T(1 - weight)) {}
  T operator()(T a, T b) const { return small ? a + w * (b - a) : b - (b - a) * one_minus_w; }
};

// ------------------------------------------------------------------------------------------------------------------
// SGD

template <typename T>
void SgdImpl(const uint8_t* first, const std::vector<py::array>& params, const std::vector<py::array>& grads,
             const std::vector<py::array>& bufs, double lr, double momentum, double dampening, double weight_decay,
             bool nesterov, bool maximize) {
  const char* op = "sgd_step";
  const auto sizes = Sizes(params);
  const auto offsets = Offsets(params);
  auto P = Pointers<T>(params, sizes, op, "params");
  auto G = Pointers<T>(grads, sizes, op, "grads");
  const bool has_momentum = momentum != 0;
  auto B = has_momentum ? Pointers<T>(bufs, sizes, op, "momentum_buffers") : std::vector<T*>(params.size(), nullptr);
  const T wd = T(weight_decay), mom = T(momentum), damp = T(1 - dampening), neg_lr = T(-lr);
  const int64_t bytes = sizeof(T) * (has_momentum ? 4 : 3);
  py::gil_scoped_release release;
  WithFlag(maximize, [&](auto kMax) {
    WithFlag(weight_decay != 0, [&](auto kWd) {
      WithFlag(has_momentum, [&](auto kMom) {
        WithFlag(nesterov, [&](auto kNes) {
          ForEachRange(offsets, bytes, [&](int64_t i, int64_t b, int64_t e) {
            T* __restrict p = P[i];
            const T* __restrict g = G[i];
            T* __restrict buf = B[i];
            WithFlag(kMom && first[i], [&](auto kInit) {  // a new buffer takes the direction itself
#pragma omp simd
              for (int64_t j = b; j < e; ++j) {
                T d = kMax ? -g[j] : g[j];
                if constexpr (kWd) d = d + wd * p[j];
                if constexpr (kMom) {
                  T m = d;
                  if constexpr (!kInit) m = buf[j] * mom + damp * d;
                  buf[j] = m;
                  d = kNes ? d + mom * m : m;
                }
                p[j] = p[j] + neg_lr * d;
              }
            });
          });
        });
      });
    });
  });
}

// ------------------------------------------------------------------------------------------------------------------
// The updates with a square root run in blocks: the part before the root (vectorized), the roots (SIMD intrinsics:
// GCC does not vectorize std::sqrt unless the whole build has -fno-math-errno), the part after. A block stays in L1.

template <typename T>
void SqrtInPlace(T* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
  } else {
    for (; i + 8 <= n; i += 8) _mm512_storeu_pd(x + i, _mm512_sqrt_pd(_mm512_loadu_pd(x + i)));
  }
#elif defined(__AVX__)
  if constexpr (sizeof(T) == 4) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
  } else {
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(x + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
  }
#elif defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
  } else {
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
  }
#endif
  for (; i < n; ++i) x[i] = std::sqrt(x[i]);  // IEEE sqrt is correctly rounded: the same value either way
}

constexpr int64_t kBlock = 512;

// For j in [b, e): r = pre(j) (may write state), r = sqrt(r), post(j, r).
template <typename T, typename Pre, typename Post>
inline void WithRoots(int64_t b, int64_t e, const Pre& pre, const Post& post) {
  alignas(64) T root[kBlock];
  for (int64_t s = b; s < e; s += kBlock) {
    const int64_t n = std::min(kBlock, e - s);
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) root[k] = pre(s + k);
    SqrtInPlace(root, n);
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) post(s + k, root[k]);
  }
}

// ------------------------------------------------------------------------------------------------------------------
// Adam / AdamW

template <typename T>
void AdamImpl(const std::vector<double>& steps, const std::vector<py::array>& params,
              const std::vector<py::array>& grads, const std::vector<py::array>& exp_avgs,
              const std::vector<py::array>& exp_avg_sqs, const std::vector<py::array>& max_exp_avg_sqs, double lr,
              double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
              bool decoupled) {
  const char* op = "adam_step";
  const auto sizes = Sizes(params);
  const auto offsets = Offsets(params);
  auto P = Pointers<T>(params, sizes, op, "params");
  auto G = Pointers<T>(grads, sizes, op, "grads");
  auto M = Pointers<T>(exp_avgs, sizes, op, "exp_avgs");
  auto V = Pointers<T>(exp_avg_sqs, sizes, op, "exp_avg_sqs");
  auto VM = amsgrad ? Pointers<T>(max_exp_avg_sqs, sizes, op, "max_exp_avg_sqs")
                    : std::vector<T*>(params.size(), nullptr);
  // per-parameter scalars in double, as Python computes them, then rounded to T
  std::vector<T> neg_step_size(params.size()), bc2_sqrt(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    neg_step_size[i] = T(-(lr / (1 - std::pow(beta1, steps[i]))));
    bc2_sqrt[i] = T(std::pow(1 - std::pow(beta2, steps[i]), 0.5));
  }
  const Lerp<T> lerp(1 - beta1);
  const T wd = T(weight_decay), decay = T(1 - lr * weight_decay), b2 = T(beta2), one_minus_b2 = T(1 - beta2),
          e = T(eps);
  const int64_t bytes = sizeof(T) * (amsgrad ? 8 : 7);
  py::gil_scoped_release release;
  WithFlag(maximize, [&](auto kMax) {
    WithFlag(weight_decay != 0 && !decoupled, [&](auto kL2) {
      WithFlag(weight_decay != 0 && decoupled, [&](auto kDecay) {
        WithFlag(amsgrad, [&](auto kAms) {
          ForEachRange(offsets, bytes, [&](int64_t i, int64_t b, int64_t end) {
            T* __restrict p = P[i];
            const T* __restrict g = G[i];
            T* __restrict m = M[i];
            T* __restrict v = V[i];
            T* __restrict vmax = VM[i];
            const T nss = neg_step_size[i], bc2 = bc2_sqrt[i];
            const auto direction = [&](int64_t j) {  // the gradient with maximize and L2 decay applied
              T d = kMax ? -g[j] : g[j];
              if constexpr (kL2) d = d + wd * p[j];
              return d;
            };
            const auto pre = [&](int64_t j) {
              const T d = direction(j);
              m[j] = lerp(m[j], d);
              T vj = v[j] * b2;
              vj = vj + one_minus_b2 * d * d;
              v[j] = vj;
              if constexpr (kAms) {
                const T old = vmax[j];
                vj = (old >= vj || old != old) ? old : vj;  // np.maximum: NaN wins
                vmax[j] = vj;
              }
              return vj;
            };
            const auto post = [&](int64_t j, T root) {
              T denom = root / bc2;
              denom = denom + e;
              T pj = p[j];
              if constexpr (kDecay) pj = pj * decay;
              p[j] = pj + nss * m[j] / denom;
            };
            WithRoots<T>(b, end, pre, post);
          });
        });
      });
    });
  });
}

// ------------------------------------------------------------------------------------------------------------------
// RMSprop

template <typename T>
void RmspropImpl(const std::vector<py::array>& params, const std::vector<py::array>& grads,
                 const std::vector<py::array>& square_avgs, const std::vector<py::array>& grad_avgs,
                 const std::vector<py::array>& bufs, double lr, double alpha, double eps, double weight_decay,
                 double momentum, bool centered, bool maximize) {
  const char* op = "rmsprop_step";
  const auto sizes = Sizes(params);
  const auto offsets = Offsets(params);
  const size_t n = params.size();
  auto P = Pointers<T>(params, sizes, op, "params");
  auto G = Pointers<T>(grads, sizes, op, "grads");
  auto S = Pointers<T>(square_avgs, sizes, op, "square_avgs");
  auto A = centered ? Pointers<T>(grad_avgs, sizes, op, "grad_avgs") : std::vector<T*>(n, nullptr);
  auto B = momentum > 0 ? Pointers<T>(bufs, sizes, op, "momentum_buffers") : std::vector<T*>(n, nullptr);
  const Lerp<T> lerp(1 - alpha);
  const T wd = T(weight_decay), a = T(alpha), one_minus_a = T(1 - alpha), e = T(eps), mom = T(momentum),
          neg_lr = T(-lr);
  const int64_t bytes = sizeof(T) * (4 + 2 * centered + 2 * (momentum > 0));
  py::gil_scoped_release release;
  WithFlag(maximize, [&](auto kMax) {
    WithFlag(weight_decay != 0, [&](auto kWd) {
      WithFlag(centered, [&](auto kCen) {
        WithFlag(momentum > 0, [&](auto kMom) {
          ForEachRange(offsets, bytes, [&](int64_t i, int64_t b, int64_t end) {
            T* __restrict p = P[i];
            const T* __restrict g = G[i];
            T* __restrict s = S[i];
            T* __restrict ga = A[i];
            T* __restrict buf = B[i];
            const auto direction = [&](int64_t j) {
              T d = kMax ? -g[j] : g[j];
              if constexpr (kWd) d = d + wd * p[j];
              return d;
            };
            const auto pre = [&](int64_t j) {
              const T d = direction(j);
              T sj = s[j] * a;
              sj = sj + one_minus_a * d * d;
              s[j] = sj;
              if constexpr (kCen) {
                const T gj = lerp(ga[j], d);
                ga[j] = gj;
                return sj + -gj * gj;
              } else {
                return sj;
              }
            };
            const auto post = [&](int64_t j, T root) {
              const T d = direction(j);  // p[j] is still the old value here
              const T avg = root + e;
              if constexpr (kMom) {
                T bj = buf[j] * mom;
                bj = bj + d / avg;
                buf[j] = bj;
                p[j] = p[j] + neg_lr * bj;
              } else {
                p[j] = p[j] + neg_lr * d / avg;
              }
            };
            WithRoots<T>(b, end, pre, post);
          });
        });
      });
    });
  });
}

// ------------------------------------------------------------------------------------------------------------------
// Adagrad

template <typename T>
void AdagradImpl(const std::vector<double>& steps, const std::vector<py::array>& params,
                 const std::vector<py::array>& grads, const std::vector<py::array>& sums, double lr, double lr_decay,
                 double weight_decay, double eps, bool maximize) {
  const char* op = "adagrad_step";
  const auto sizes = Sizes(params);
  const auto offsets = Offsets(params);
  auto P = Pointers<T>(params, sizes, op, "params");
  auto G = Pointers<T>(grads, sizes, op, "grads");
  auto S = Pointers<T>(sums, sizes, op, "sums");
  std::vector<T> neg_clr(params.size());
  for (size_t i = 0; i < params.size(); ++i) neg_clr[i] = T(-(lr / (1 + (steps[i] - 1) * lr_decay)));
  const T wd = T(weight_decay), e = T(eps);
  const int64_t bytes = sizeof(T) * 5;
  py::gil_scoped_release release;
  WithFlag(maximize, [&](auto kMax) {
    WithFlag(weight_decay != 0, [&](auto kWd) {
      ForEachRange(offsets, bytes, [&](int64_t i, int64_t b, int64_t end) {
        T* __restrict p = P[i];
        const T* __restrict g = G[i];
        T* __restrict s = S[i];
        const T nclr = neg_clr[i];
        const auto direction = [&](int64_t j) {
          T d = kMax ? -g[j] : g[j];
          if constexpr (kWd) d = d + wd * p[j];
          return d;
        };
        const auto pre = [&](int64_t j) {
          const T d = direction(j);
          const T sj = s[j] + d * d;
          s[j] = sj;
          return sj;
        };
        const auto post = [&](int64_t j, T root) {
          const T d = direction(j);
          const T std_ = root + e;
          p[j] = p[j] + nclr * d / std_;
        };
        WithRoots<T>(b, end, pre, post);
      });
    });
  });
}

void CheckFloat(const std::vector<py::array>& params, const char* op) {
  if (!IsDtype(params, py::dtype::of<float>()) && !IsDtype(params, py::dtype::of<double>()))
    throw std::invalid_argument(std::string(op) + ": parameters must be float32 or float64 arrays");
}

}  // namespace

void SgdStep(const py::array& first, const std::vector<py::array>& params, const std::vector<py::array>& grads,
             const std::vector<py::array>& momentum_buffers, double lr, double momentum, double dampening,
             double weight_decay, bool nesterov, bool maximize) {
  CheckFloat(params, "sgd_step");
  const auto flags = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(first);
  if (!flags || static_cast<size_t>(flags.size()) != params.size())
    throw std::invalid_argument("sgd_step: `first` must hold one flag per parameter");
  if (IsDtype(params, py::dtype::of<float>()))
    SgdImpl<float>(flags.data(), params, grads, momentum_buffers, lr, momentum, dampening, weight_decay,
                   nesterov, maximize);
  else
    SgdImpl<double>(flags.data(), params, grads, momentum_buffers, lr, momentum, dampening, weight_decay,
                    nesterov, maximize);
}

void AdamStep(const py::array_t<double, py::array::c_style | py::array::forcecast>& steps,
              const std::vector<py::array>& params, const std::vector<py::array>& grads,
              const std::vector<py::array>& exp_avgs, const std::vector<py::array>& exp_avg_sqs,
              const std::vector<py::array>& max_exp_avg_sqs, double lr, double beta1, double beta2, double eps,
              double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
  CheckFloat(params, "adam_step");
  const auto s = Steps(steps, params.size(), "adam_step");
  if (IsDtype(params, py::dtype::of<float>()))
    AdamImpl<float>(s, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr, beta1, beta2, eps, weight_decay,
                    amsgrad, maximize, decoupled);
  else
    AdamImpl<double>(s, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr, beta1, beta2, eps, weight_decay,
                     amsgrad, maximize, decoupled);
}

void RmspropStep(const std::vector<py::array>& params, const std::vector<py::array>& grads,
                 const std::vector<py::array>& square_avgs, const std::vector<py::array>& grad_avgs,
                 const std::vector<py::array>& momentum_buffers, double lr, double alpha, double eps,
                 double weight_decay, double momentum, bool centered, bool maximize) {
  CheckFloat(params, "rmsprop_step");
  if (IsDtype(params, py::dtype::of<float>()))
    RmspropImpl<float>(params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps, weight_decay,
                       momentum, centered, maximize);
  else
    RmspropImpl<double>(params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps, weight_decay,
                        momentum, centered, maximize);
}

void AdagradStep(const py::array_t<double, py::array::c_style | py::array::forcecast>& steps,
                 const std::vector<py::array>& params, const std::vector<py::array>& grads,
                 const std::vector<py::array>& sums, double lr, double lr_decay, double weight_decay, double eps,
                 bool maximize) {
  CheckFloat(params, "adagrad_step");
  const auto s = Steps(steps, params.size(), "adagrad_step");
  if (IsDtype(params, py::dtype::of<float>()))
    AdagradImpl<float>(s, params, grads, sums, lr, lr_decay, weight_decay, eps, maximize);
  else
    AdagradImpl<double>(s, params, grads, sums, lr, lr_decay, weight_decay, eps, maximize);
}

py::dict OptimTuning(double fork_ns, double byte_ns) {
  Tuning& t = GetTuning();
  if (fork_ns >= 0) t.fork_ns = fork_ns;
  if (byte_ns > 0) t.byte_ns = byte_ns;
  py::dict d;
  d["threads"] = MaxThreads();
  d["fork_ns"] = t.fork_ns;
  d["byte_ns"] = t.byte_ns;
  d["parallel_threshold_adam_float32"] = ParallelThreshold(7 * sizeof(float));
  d["parallel_threshold_sgd_float32"] = ParallelThreshold(3 * sizeof(float));
  return d;
}

}  // namespace cpu
}  // namespace minidl
