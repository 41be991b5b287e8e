// Elementwise, reduction, softmax and fused softmax + cross-entropy kernels on the CPU, float32 and float64.
//
// Every kernel takes a `threads` argument chosen by the Python provider (ops_native.py) from a cut-over it
// measured at run time: 1 runs on the caller's thread, 0 uses omp_get_max_threads(). Work is split into one
// contiguous range per thread, so each thread streams its own part of memory.
//
// float32 exp/tanh/sigmoid use a vectorized exp (Cody-Waite range reduction, degree-6 polynomial, about 1 ulp);
// float64 calls the C library per element. Sums accumulate in T within blocks of kBlock elements and in double
// across blocks, so float32 sums keep float64-like accuracy at float32 speed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

constexpr int64_t kBlock = 1024;  // elements summed in T before the block total goes to double

int ThreadCount(int requested) {
#ifdef _OPENMP
  const int most = omp_get_max_threads();
  return requested <= 0 ? most : std::min(requested, most);
#else
  (void)requested;
  return 1;
#endif
}

/** fn(begin, end) over [0, n) in one contiguous range per thread (starts aligned to 16 elements). */
template <typename F>
void ParallelRanges(int64_t n, int threads, F&& fn) {
  if (threads <= 1 || n < 32) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk = ((n + nt - 1) / nt + 15) & ~int64_t{15};
    const int64_t b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  }
#else
  fn(int64_t{0}, n);
#endif
}

// ---------------------------------------------------------------------------------------------------------------
// vectorized float32 exp: 8 lanes (one AVX register; split by the compiler on narrower targets)

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;

inline F8 LoadF8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void StoreF8(float* p, F8 v) { std::memcpy(p, &v, sizeof(v)); }
inline F8 Splat(float s) { return F8{s, s, s, s, s, s, s, s}; }

/** e**x lane by lane: x = n ln2 + r, |r| <= ln2 / 2, e**r by Cephes' expf polynomial, times 2**n applied in
 *  two halves so that subnormal results and results near FLT_MAX come out right. NaN stays NaN. */
inline F8 ExpF8(F8 x) {
  const F8 hi = Splat(88.72284f), lo = Splat(-104.0f);
  F8 xs = x == x ? x : Splat(0.0f);  // NaN lanes computed on 0, restored at the end
  xs = xs > hi ? hi : xs;
  xs = xs < lo ? lo : xs;
  F8 fn = xs * Splat(1.44269504088896341f);
  // round to nearest: floor(v + 0.5) through a truncating conversion, corrected for negatives
  I8 n = __builtin_convertvector(fn + Splat(0.5f), I8);
  F8 nf = __builtin_convertvector(n, F8);
  const I8 over = nf > fn + Splat(0.5f);
  n -= over ? I8{1, 1, 1, 1, 1, 1, 1, 1} : I8{};
  nf = __builtin_convertvector(n, F8);
  F8 r = xs - nf * Splat(0.693359375f);
  r = r - nf * Splat(-2.12194440e-4f);
  F8 p = Splat(1.9875691500e-4f);
  p = p * r + Splat(1.3981999507e-3f);
  p = p * r + Splat(8.3334519073e-3f);
  p = p * r + Splat(4.1665795894e-2f);
  p = p * r + Splat(1.6666665459e-1f);
  p = p * r + Splat(5.0000001201e-1f);
  p = p * r * r + r + Splat(1.0f);
  const I8 n1 = n >> 1, n2 = n - n1;  // 2**n = 2**n1 * 2**n2, each factor a normal float
  F8 s1, s2;
  I8 e1 = (n1 + 127) << 23, e2 = (n2 + 127) << 23;
  std::memcpy(&s1, &e1, sizeof(s1));
  std::memcpy(&s2, &e2, sizeof(s2));
  F8 y = p * s1 * s2;
  y = x > hi ? Splat(std::numeric_limits<float>::infinity()) : y;
  return x == x ? y : x;
}

inline float ExpScalarF(float x) { return std::exp(x); }

// ---------------------------------------------------------------------------------------------------------------
// unary ops and their backwards

enum class Unary { kRelu, kSigmoid, kTanh, kExp, kLog, kSqrt, kGelu, kGeluTanh };

Unary ParseUnary(const std::string& op, const char* kernel) {
  if (op == "relu") return Unary::kRelu;
  if (op == "sigmoid") return Unary::kSigmoid;
  if (op == "tanh") return Unary::kTanh;
  if (op == "exp") return Unary::kExp;
  if (op == "log") return Unary::kLog;
  if (op == "sqrt") return Unary::kSqrt;
  if (op == "gelu") return Unary::kGelu;
  if (op == "gelu_tanh") return Unary::kGeluTanh;
  throw std::invalid_argument(std::string(kernel) + ": unknown op '" + op + "'");
}

constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1 / sqrt(2 pi)

template <typename T>
inline T SigmoidScalar(T x) {
  const T e = std::exp(-std::fabs(x));
  return x >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
inline T GeluTanhScalar(T x) {
  const T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(u));
}

/** Scalar form of every unary op (the float64 path and the float32 tails). */
template <typename T>
inline T UnaryScalar(Unary op, T x) {
  switch (op) {
    case Unary::kRelu: return x > 0 ? x : (x == x ? T(0) : x);
    case Unary::kSigmoid: return SigmoidScalar(x);
    case Unary::kTanh: return std::tanh(x);
    case Unary::kExp: return std::exp(x);
    case Unary::kLog: return std::log(x);
    case Unary::kSqrt: return std::sqrt(x);
    case Unary::kGelu: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
    case Unary::kGeluTanh: return GeluTanhScalar(x);
  }
  return x;
}

/** tanh for 8 floats: Cephes' odd polynomial below |x| = 0.625 (no cancellation), 1 - 2 / (e**2|x| + 1) above. */
inline F8 TanhF8(F8 x) {
  const F8 ax = x < 0 ? -x : x;
  const F8 z = x * x;
  F8 small = Splat(-5.70498872745e-3f);
  small = small * z + Splat(2.06390887954e-2f);
  small = small * z + Splat(-5.37397155531e-2f);
  small = small * z + Splat(1.33314422036e-1f);
  small = small * z + Splat(-3.33332819422e-1f);
  small = small * z * x + x;
  F8 big = Splat(1.0f) - Splat(2.0f) / (ExpF8(ax + ax) + Splat(1.0f));
  big = x < 0 ? -big : big;
  F8 y = ax < Splat(0.625f) ? small : big;
  return x == x ? y : x;
}

inline F8 SigmoidF8(F8 x) {
  const F8 e = ExpF8(x < 0 ? x : -x);  // e**-|x|: never overflows
  const F8 d = Splat(1.0f) + e;
  F8 y = x >= 0 ? Splat(1.0f) / d : e / d;
  return x == x ? y : x;
}

template <typename T>
void UnaryRange(Unary op, const T* x, T* y, int64_t b, int64_t e) {
  if (op == Unary::kRelu) {  // max(x, 0) with NaN kept, as numpy.maximum
    for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0 ? x[i] : (x[i] == x[i] ? T(0) : x[i]);
    return;
  }
  if constexpr (std::is_same<T, float>::value) {
    if (op == Unary::kExp || op == Unary::kTanh || op == Unary::kSigmoid) {
      int64_t i = b;
      for (; i + kLanes <= e; i += kLanes) {
        const F8 v = LoadF8(x + i);
        StoreF8(y + i, op == Unary::kExp ? ExpF8(v) : op == Unary::kTanh ? TanhF8(v) : SigmoidF8(v));
      }
      for (; i < e; ++i) y[i] = UnaryScalar(op, x[i]);
      return;
    }
    if (op == Unary::kSqrt) {
      for (int64_t i = b; i < e; ++i) y[i] = std::sqrt(x[i]);
      return;
    }
  }
  for (int64_t i = b; i < e; ++i) y[i] = UnaryScalar(op, x[i]);
}

/** grad of the op at one element; `s` is the saved value: the output for relu/sigmoid/tanh/exp/sqrt, the input
 *  for log/gelu. */
template <typename T>
void UnaryBackwardRange(Unary op, const T* g, const T* s, T* gx, int64_t b, int64_t e) {
  switch (op) {
    case Unary::kRelu:
      for (int64_t i = b; i < e; ++i) gx[i] = s[i] > 0 ? g[i] : T(0);
      return;
    case Unary::kSigmoid:
      for (int64_t i = b; i < e; ++i) gx[i] = g[i] * s[i] * (T(1) - s[i]);
      return;
    case Unary::kTanh:
      for (int64_t i = b; i < e; ++i) gx[i] = g[i] * (T(1) - s[i] * s[i]);
      return;
    case Unary::kExp:
      for (int64_t i = b; i < e; ++i) gx[i] = g[i] * s[i];
      return;
    case Unary::kLog:
      for (int64_t i = b; i < e; ++i) gx[i] = g[i] / s[i];
      return;
    case Unary::kSqrt:
      for (int64_t i = b; i < e; ++i) gx[i] = g[i] / (T(2) * s[i]);
      return;
    case Unary::kGelu:
      for (int64_t i = b; i < e; ++i) {
        const T x = s[i];
        const T cdf = T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
        gx[i] = g[i] * (cdf + x * T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x));
      }
      return;
    case Unary::kGeluTanh:
      for (int64_t i = b; i < e; ++i) {
        const T x = s[i];
        const T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
        const T t = std::tanh(u);
        const T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
        gx[i] = g[i] * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
      }
      return;
  }
}

void CheckFloatAnyDim(const py::array& a, const char* op, const char* name) {
  CheckFloatArray(a, a.ndim(), op, name);
}

// ---------------------------------------------------------------------------------------------------------------
// binary ops with broadcasting

enum class Binary { kAdd, kSub, kMul, kDiv };

Binary ParseBinary(const std::string& op) {
  if (op == "add") return Binary::kAdd;
  if (op == "sub") return Binary::kSub;
  if (op == "mul") return Binary::kMul;
  if (op == "div") return Binary::kDiv;
  throw std::invalid_argument("binary: unknown op '" + op + "'");
}

template <typename T, Binary kOp>
inline T Apply(T a, T b) {
  if constexpr (kOp == Binary::kAdd) return a + b;
  if constexpr (kOp == Binary::kSub) return a - b;
  if constexpr (kOp == Binary::kMul) return a * b;
  return a / b;
}

/** The broadcast iteration space: output dims (coalesced) with each input's element strides (0 = broadcast). */
struct Broadcast {
  std::vector<int64_t> shape, sa, sb;
};

Broadcast MakeBroadcast(const py::array& a, const py::array& b) {
  const int nd = static_cast<int>(std::max(a.ndim(), b.ndim()));
  std::vector<int64_t> shape(nd), sa(nd), sb(nd);
  int64_t ca = 1, cb = 1;
  for (int d = nd - 1; d >= 0; --d) {
    const int da = d - (nd - static_cast<int>(a.ndim())), db = d - (nd - static_cast<int>(b.ndim()));
    const int64_t na = da >= 0 ? a.shape(da) : 1, nb = db >= 0 ? b.shape(db) : 1;
    MINIDL_CHECK(na == nb || na == 1 || nb == 1, "binary",
                 "shapes " + ShapeString(a) + " and " + ShapeString(b) + " do not broadcast");
    shape[d] = na == 1 ? nb : na;
    sa[d] = na == 1 ? 0 : ca;
    sb[d] = nb == 1 ? 0 : cb;
    ca *= na;
    cb *= nb;
  }
  Broadcast out;  // coalesce from the right: dim d merges into the one after when both inputs stay linear
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    if (!out.shape.empty() && out.sa.back() == sa[d] * shape[d] && out.sb.back() == sb[d] * shape[d]) {
      out.shape.back() *= shape[d];
      out.sa.back() = sa[d];
      out.sb.back() = sb[d];
      continue;
    }
    out.shape.push_back(shape[d]);
    out.sa.push_back(sa[d]);
    out.sb.push_back(sb[d]);
  }
  if (out.shape.empty()) out.shape = {1}, out.sa = {0}, out.sb = {0};
  return out;
}

template <typename T, Binary kOp>
inline void InnerRow(const T* a, int64_t sa, const T* b, int64_t sb, T* y, int64_t len) {
  // specialized on the inner strides (1 or 0) so each loop vectorizes
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < len; ++i) y[i] = Apply<T, kOp>(a[i], b[i]);
  } else if (sa == 1) {
    const T s = b[0];
    for (int64_t i = 0; i < len; ++i) y[i] = Apply<T, kOp>(a[i], s);
  } else if (sb == 1) {
    const T s = a[0];
    for (int64_t i = 0; i < len; ++i) y[i] = Apply<T, kOp>(s, b[i]);
  } else {
    const T v = Apply<T, kOp>(a[0], b[0]);
    for (int64_t i = 0; i < len; ++i) y[i] = v;
  }
}

template <typename T, Binary kOp>
void BinaryRange(const Broadcast& g, const T* a, const T* b, T* y, int64_t begin, int64_t end) {
  const int nd = static_cast<int>(g.shape.size());
  const int64_t inner = g.shape[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t rest = begin / inner;
  for (int d = nd - 2; d >= 0; --d) {
    idx[d] = rest % g.shape[d];
    rest /= g.shape[d];
  }
  int64_t pos = begin;
  int64_t col = begin % inner;
  while (pos < end) {
    int64_t oa = col * g.sa[nd - 1], ob = col * g.sb[nd - 1];
    for (int d = 0; d < nd - 1; ++d) oa += idx[d] * g.sa[d], ob += idx[d] * g.sb[d];
    const int64_t len = std::min(inner - col, end - pos);
    InnerRow<T, kOp>(a + oa, g.sa[nd - 1], b + ob, g.sb[nd - 1], y + pos, len);
    pos += len;
    col = 0;
    for (int d = nd - 2; d >= 0; --d) {  // next row: odometer step over the outer dims
      if (++idx[d] < g.shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <typename T, Binary kOp>
void BinaryRun(const Broadcast& g, const T* a, const T* b, T* y, int64_t n, int threads) {
  ParallelRanges(n, threads, [&](int64_t lo, int64_t hi) { BinaryRange<T, kOp>(g, a, b, y, lo, hi); });
}

// ---------------------------------------------------------------------------------------------------------------
// sums: x viewed as (O, R, K, I), out[o, k] = sum over r and i

template <typename T>
double ContiguousSum(const T* p, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T acc[16] = {};  // 16 independent lanes: the compiler vectorizes this without reassociating a chain
    int64_t i = b;
    for (; i + 16 <= e; i += 16)
      for (int l = 0; l < 16; ++l) acc[l] += p[i + l];
    double part = 0;
    for (; i < e; ++i) part += static_cast<double>(p[i]);
    for (int l = 0; l < 16; ++l) part += static_cast<double>(acc[l]);
    total += part;
  }
  return total;
}

/** out[k] = sum over r of x[r, k] for k in [lo, hi): blocks of kRows rows summed in T, block totals in double. */
template <typename T>
void ColumnSums(const T* x, int64_t R, int64_t K, int64_t lo, int64_t hi, T* out) {
  const int64_t w = hi - lo;
  std::vector<double> acc(w, 0.0);
  std::vector<T> blk(w);
  constexpr int64_t kRows = 64;  // rows summed in T per block: the error of a sequential sum grows with its length
  for (int64_t r0 = 0; r0 < R; r0 += kRows) {
    const int64_t r1 = std::min(R, r0 + kRows);
    std::fill(blk.begin(), blk.end(), T(0));
    T* __restrict q = blk.data();
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict row = x + r * K + lo;
      for (int64_t k = 0; k < w; ++k) q[k] += row[k];
    }
    for (int64_t k = 0; k < w; ++k) acc[k] += static_cast<double>(q[k]);
  }
  for (int64_t k = 0; k < w; ++k) out[lo + k] = static_cast<T>(acc[k]);
}

template <typename T>
void SumOrki(const T* x, int64_t O, int64_t R, int64_t K, int64_t I, T* out, int threads) {
  if (I > 1) {  // each output sums R contiguous runs of I
    const int64_t outs = O * K;
    if (outs >= threads || threads <= 1) {
      ParallelRanges(outs, outs >= threads ? threads : 1, [&](int64_t lo, int64_t hi) {
        for (int64_t ok = lo; ok < hi; ++ok) {
          const int64_t o = ok / K, k = ok % K;
          double s = 0;
          for (int64_t r = 0; r < R; ++r) s += ContiguousSum(x + ((o * R + r) * K + k) * I, I);
          out[ok] = static_cast<T>(s);
        }
      });
      return;
    }
    // few outputs (a full reduction): split each output's R*I elements across the threads
    for (int64_t ok = 0; ok < outs; ++ok) {
      const int64_t o = ok / K, k = ok % K;
      std::vector<double> part(threads, 0.0);
      const int64_t total = R * I;
      ParallelRanges(total, threads, [&](int64_t lo, int64_t hi) {
        double s = 0;
        for (int64_t j = lo; j < hi;) {
          const int64_t r = j / I, i = j % I, len = std::min(I - i, hi - j);
          s += ContiguousSum(x + ((o * R + r) * K + k) * I + i, len);
          j += len;
        }
#ifdef _OPENMP
        part[omp_get_thread_num()] = s;
#else
        part[0] = s;
#endif
      });
      double s = 0;
      for (double v : part) s += v;
      out[ok] = static_cast<T>(s);
    }
    return;
  }
  // I == 1: column sums out[o, :] = sum over r of rows x[o, r, :]; split over o when there are enough of them,
  // else over columns
  if (O >= threads) {
    ParallelRanges(O, threads, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) ColumnSums(x + o * R * K, R, K, 0, K, out + o * K);
    });
    return;
  }
  for (int64_t o = 0; o < O; ++o) {
    ParallelRanges(K, K >= 64 ? threads : 1,
                   [&](int64_t lo, int64_t hi) { ColumnSums(x + o * R * K, R, K, lo, hi, out + o * K); });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// softmax / log_softmax along the middle axis of (O, C, I), from x - max (exact at large inputs)

template <typename T>
inline T RowMax(const T* p, int64_t n, int64_t stride) {
  T m = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (int64_t c = 0; c < n; ++c) {
    const T v = p[c * stride];
    m = v > m ? v : m;
    nan |= v != v;
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

/** exp(src[c] - shift) into dst (may alias src when it is T) and their sum in double; contiguous rows. */
template <typename T>
double ExpShiftSum(const T* src, T shift, T* dst, int64_t n) {
  double total = 0;
  int64_t c = 0;
  if constexpr (std::is_same<T, float>::value) {
    for (; c + kLanes <= n; c += kLanes) {
      const F8 v = ExpF8(LoadF8(src + c) - Splat(shift));
      StoreF8(dst + c, v);
      for (int l = 0; l < kLanes; ++l) total += static_cast<double>(v[l]);
    }
  }
  for (; c < n; ++c) {
    dst[c] = std::exp(src[c] - shift);
    total += static_cast<double>(dst[c]);
  }
  return total;
}

template <typename T>
void SoftmaxRows(const T* x, T* y, int64_t O, int64_t C, int64_t I, bool log, int threads) {
  if (I == 1) {
    ParallelRanges(O, O >= threads ? threads : 1, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const T* p = x + o * C;
        T* q = y + o * C;
        T m = RowMax(p, C, 1);
        if (!std::isfinite(m)) m = 0;  // all -inf / inf / nan rows: shift by 0, as the reference
        const double s = ExpShiftSum(p, m, q, C);
        if (log) {
          const T ls = static_cast<T>(std::log(s));
          for (int64_t c = 0; c < C; ++c) q[c] = (p[c] - m) - ls;
        } else {
          const T inv = static_cast<T>(1.0 / s);
          if (s > 0 && std::isfinite(inv)) {
            for (int64_t c = 0; c < C; ++c) q[c] *= inv;
          } else {
            for (int64_t c = 0; c < C; ++c) q[c] = static_cast<T>(static_cast<double>(q[c]) / s);
          }
        }
      }
    });
    return;
  }
  // I > 1: one (C, I) plane per o; column statistics in double buffers of length I
  const int64_t planes = O;
  ParallelRanges(planes * I, threads, [&](int64_t lo, int64_t hi) {
    // split over (o, i) pairs; each range handles whole columns of a plane
    for (int64_t j = lo; j < hi;) {
      const int64_t o = j / I, i0 = j % I, len = std::min(I - i0, hi - j);
      const T* p = x + o * C * I + i0;
      T* q = y + o * C * I + i0;
      std::vector<T> m(len, -std::numeric_limits<T>::infinity());
      std::vector<char> nan(len, 0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i) {
          const T v = p[c * I + i];
          m[i] = v > m[i] ? v : m[i];
          nan[i] |= v != v;
        }
      for (int64_t i = 0; i < len; ++i)
        if (nan[i] || !std::isfinite(m[i])) m[i] = 0;
      std::vector<double> s(len, 0.0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i) {
          const T e = std::exp(p[c * I + i] - m[i]);
          q[c * I + i] = e;
          s[i] += static_cast<double>(e);
        }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i)
          q[c * I + i] = log ? (p[c * I + i] - m[i]) - static_cast<T>(std::log(s[i]))
                             : static_cast<T>(static_cast<double>(q[c * I + i]) / s[i]);
      j += len;
    }
  });
}

/** softmax: gx = y (g - sum(g y)); log_softmax: gx = g - exp(y) sum(g). */
template <typename T>
void SoftmaxBackwardRows(const T* g, const T* y, T* gx, int64_t O, int64_t C, int64_t I, bool log, int threads) {
  ParallelRanges(O * I, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi;) {
      const int64_t o = j / I, i0 = j % I, len = std::min(I - i0, hi - j);
      const int64_t base = o * C * I + i0;
      std::vector<double> s(len, 0.0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i) {
          const int64_t k = base + c * I + i;
          s[i] += log ? static_cast<double>(g[k]) : static_cast<double>(g[k]) * static_cast<double>(y[k]);
        }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i) {
          const int64_t k = base + c * I + i;
          gx[k] = log ? static_cast<T>(g[k] - std::exp(y[k]) * static_cast<T>(s[i]))
                      : static_cast<T>(y[k] * (g[k] - static_cast<T>(s[i])));
        }
      j += len;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// fused softmax + cross-entropy over rows of (N, C) logits

struct CeArgs {
  const int64_t* target;
  const void* weight;  // T* or nullptr
  int64_t ignore_index;
  double smoothing;
};

void CheckTargets(const int64_t* t, int64_t n, int64_t c, int64_t ignore_index, const char* op) {
  for (int64_t i = 0; i < n; ++i)
    MINIDL_CHECK(t[i] == ignore_index || (t[i] >= 0 && t[i] < c), op,
                 "target " + std::to_string(t[i]) + " out of range for " + std::to_string(c) + " classes");
}

/** loss[i] = (1 - eps) w[t] (ls - (x[t] - m)) + eps / C sum_c w[c] (ls - (x[c] - m)), 0 for ignored rows, with
 *  m the row max and ls = log sum exp(x - m): every term stays small, so huge logits lose nothing (lse = m + ls
 *  would round ls away). stats[i] = (m, ls) for the backward. */
template <typename T>
void CrossEntropyRows(const T* x, int64_t N, int64_t C, const CeArgs& a, T* loss, T* stats, int threads) {
  const T* w = static_cast<const T*>(a.weight);
  double wsum = 0;
  if (w) for (int64_t c = 0; c < C; ++c) wsum += static_cast<double>(w[c]);
  ParallelRanges(N, N * C >= 4096 ? threads : 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> scratch(C);
    for (int64_t i = lo; i < hi; ++i) {
      const T* p = x + i * C;
      T m = RowMax(p, C, 1);
      if (!std::isfinite(m)) m = 0;
      const double ls = std::log(ExpShiftSum(p, m, scratch.data(), C));
      stats[2 * i] = m;
      stats[2 * i + 1] = static_cast<T>(ls);
      const int64_t t = a.target[i];
      if (t == a.ignore_index) {
        loss[i] = 0;
        continue;
      }
      double v = (1.0 - a.smoothing) * (w ? static_cast<double>(w[t]) : 1.0) * (ls - static_cast<double>(p[t] - m));
      if (a.smoothing != 0) {
        double dot = 0;  // sum_c w[c] (x[c] - m)
        for (int64_t c = 0; c < C; ++c)
          dot += (w ? static_cast<double>(w[c]) : 1.0) * static_cast<double>(p[c] - m);
        v += a.smoothing / static_cast<double>(C) * ((w ? wsum : static_cast<double>(C)) * ls - dot);
      }
      loss[i] = static_cast<T>(v);
    }
  });
}

/** gx[i, j] = g[i] ((1 - eps) w[t] (p_j - [j = t]) + eps / C (W p_j - w[j])), p = exp(x - m) / exp(ls); 0 if
 *  ignored. */
template <typename T>
void CrossEntropyBackwardRows(const T* g, const T* x, const T* stats, int64_t N, int64_t C, const CeArgs& a, T* gx,
                              int threads) {
  const T* w = static_cast<const T*>(a.weight);
  double wsum = static_cast<double>(C);
  if (w) {
    wsum = 0;
    for (int64_t c = 0; c < C; ++c) wsum += static_cast<double>(w[c]);
  }
  const T eps = static_cast<T>(a.smoothing);
  ParallelRanges(N, N * C >= 4096 ? threads : 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* p = x + i * C;
      T* q = gx + i * C;
      const int64_t t = a.target[i];
      if (t == a.ignore_index) {
        std::fill(q, q + C, T(0));
        continue;
      }
      ExpShiftSum(p, stats[2 * i], q, C);  // q = exp(x - m): the softmax row times exp(ls)
      const T gt = g[i] * (T(1) - eps) * (w ? w[t] : T(1));
      const T gs = g[i] * eps / static_cast<T>(C);
      const T scale = (gt + gs * static_cast<T>(wsum)) * static_cast<T>(std::exp(-static_cast<double>(stats[2 * i + 1])));
      if (w) {
        for (int64_t c = 0; c < C; ++c) q[c] = q[c] * scale - gs * w[c];
      } else {
        for (int64_t c = 0; c < C; ++c) q[c] = q[c] * scale - gs;
      }
      q[t] -= gt;
    }
  });
}

CeArgs MakeCeArgs(const py::array& x, const py::array& target, const std::optional<py::array>& weight,
                  int64_t ignore_index, double smoothing, const char* op) {
  MINIDL_CHECK(target.ndim() == 1 && target.shape(0) == x.shape(0), op,
               "target of shape " + ShapeString(target) + " does not match logits " + ShapeString(x));
  MINIDL_CHECK(IsDtype<int64_t>(target.dtype()) && IsCContiguous(target), op,
               "target must be contiguous int64, got " + DtypeName(target));
  if (weight) {
    CheckFloatArray(*weight, 1, op, "weight");
    CheckSameDtype(x, *weight, op);
    MINIDL_CHECK(weight->shape(0) == x.shape(1), op, "weight of shape " + ShapeString(*weight) + " for " +
                                                         std::to_string(x.shape(1)) + " classes");
  }
  CheckTargets(static_cast<const int64_t*>(target.data()), target.shape(0), x.shape(1), ignore_index, op);
  return CeArgs{static_cast<const int64_t*>(target.data()), weight ? weight->data() : nullptr, ignore_index,
                smoothing};
}

void CheckOrki(const py::array& x, int64_t O, int64_t R, int64_t K, int64_t I, const char* op) {
  MINIDL_CHECK(O >= 0 && R >= 0 && K >= 0 && I >= 0 && O * R * K * I == static_cast<int64_t>(x.size()), op,
               "view (" + std::to_string(O) + ", " + std::to_string(R) + ", " + std::to_string(K) + ", " +
                   std::to_string(I) + ") does not cover x of shape " + ShapeString(x));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// bindings

py::array UnaryForward(const py::array& x, const std::string& op, int threads) {
  CheckFloatAnyDim(x, "unary", "x");
  const Unary u = ParseUnary(op, "unary");
  py::array y = EmptyLike(x);
  const int64_t n = x.size();
  const int nt = ThreadCount(threads);
  DispatchFloat(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    const T* px = DataOf<T>(x);
    T* py_ = MutableDataOf<T>(y);
    py::gil_scoped_release release;
    ParallelRanges(n, nt, [&](int64_t b, int64_t e) { UnaryRange<T>(u, px, py_, b, e); });
  });
  return y;
}

py::array UnaryBackward(const py::array& grad, const py::array& saved, const std::string& op, int threads) {
  CheckFloatAnyDim(grad, "unary_backward", "grad");
  CheckFloatAnyDim(saved, "unary_backward", "saved");
  CheckSameDtype(grad, saved, "unary_backward");
  CheckSameShape(grad, saved, "unary_backward");
  const Unary u = ParseUnary(op, "unary_backward");
  py::array gx = EmptyLike(grad);
  const int64_t n = grad.size();
  const int nt = ThreadCount(threads);
  DispatchFloat(grad.dtype(), "unary_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = DataOf<T>(grad), *ps = DataOf<T>(saved);
    T* pgx = MutableDataOf<T>(gx);
    py::gil_scoped_release release;
    ParallelRanges(n, nt, [&](int64_t b, int64_t e) { UnaryBackwardRange<T>(u, pg, ps, pgx, b, e); });
  });
  return gx;
}

py::array BinaryForward(const py::array& a, const py::array& b, const std::string& op, int threads) {
  CheckFloatAnyDim(a, "binary", "a");
  CheckFloatAnyDim(b, "binary", "b");
  CheckSameDtype(a, b, "binary");
  const Binary kind = ParseBinary(op);
  const int nd = static_cast<int>(std::max(a.ndim(), b.ndim()));
  std::vector<py::ssize_t> shape(nd);
  for (int d = 0; d < nd; ++d) {
    const int da = d - (nd - static_cast<int>(a.ndim())), db = d - (nd - static_cast<int>(b.ndim()));
    const int64_t na = da >= 0 ? a.shape(da) : 1, nb = db >= 0 ? b.shape(db) : 1;
    shape[d] = na == 1 ? nb : na;
  }
  const Broadcast g = MakeBroadcast(a, b);
  py::array y(a.dtype(), shape);
  const int64_t n = y.size();
  const int nt = ThreadCount(threads);
  DispatchFloat(a.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    const T *pa = DataOf<T>(a), *pb = DataOf<T>(b);
    T* pyy = MutableDataOf<T>(y);
    py::gil_scoped_release release;
    switch (kind) {
      case Binary::kAdd: BinaryRun<T, Binary::kAdd>(g, pa, pb, pyy, n, nt); break;
      case Binary::kSub: BinaryRun<T, Binary::kSub>(g, pa, pb, pyy, n, nt); break;
      case Binary::kMul: BinaryRun<T, Binary::kMul>(g, pa, pb, pyy, n, nt); break;
      case Binary::kDiv: BinaryRun<T, Binary::kDiv>(g, pa, pb, pyy, n, nt); break;
    }
  });
  return y;
}

py::array SumOrkiForward(const py::array& x, int64_t O, int64_t R, int64_t K, int64_t I, int threads) {
  CheckFloatAnyDim(x, "reduce_sum", "x");
  CheckOrki(x, O, R, K, I, "reduce_sum");
  py::array out(x.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(O), static_cast<py::ssize_t>(K)});
  const int nt = ThreadCount(threads);
  DispatchFloat(x.dtype(), "reduce_sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = DataOf<T>(x);
    T* po = MutableDataOf<T>(out);
    py::gil_scoped_release release;
    if (R == 0 || I == 0) {
      std::fill(po, po + O * K, T(0));
    } else {
      SumOrki<T>(px, O, R, K, I, po, nt);
    }
  });
  return out;
}

py::array SoftmaxForward(const py::array& x, int64_t O, int64_t C, int64_t I, bool log, int threads) {
  CheckFloatAnyDim(x, "softmax", "x");
  CheckOrki(x, O, C, 1, I, "softmax");
  py::array y = EmptyLike(x);
  const int nt = ThreadCount(threads);
  DispatchFloat(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = DataOf<T>(x);
    T* pyy = MutableDataOf<T>(y);
    py::gil_scoped_release release;
    if (C > 0) SoftmaxRows<T>(px, pyy, O, C, I, log, nt);
  });
  return y;
}

py::array SoftmaxBackward(const py::array& grad, const py::array& y, int64_t O, int64_t C, int64_t I, bool log,
                          int threads) {
  CheckFloatAnyDim(grad, "softmax_backward", "grad");
  CheckFloatAnyDim(y, "softmax_backward", "y");
  CheckSameDtype(grad, y, "softmax_backward");
  CheckSameShape(grad, y, "softmax_backward");
  CheckOrki(y, O, C, 1, I, "softmax_backward");
  py::array gx = EmptyLike(y);
  const int nt = ThreadCount(threads);
  DispatchFloat(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = DataOf<T>(grad), *pyy = DataOf<T>(y);
    T* pgx = MutableDataOf<T>(gx);
    py::gil_scoped_release release;
    if (C > 0) SoftmaxBackwardRows<T>(pg, pyy, pgx, O, C, I, log, nt);
  });
  return gx;
}

py::tuple CrossEntropyForward(const py::array& x, const py::array& target, std::optional<py::array> weight,
                              int64_t ignore_index, double label_smoothing, int threads) {
  CheckFloatArray(x, 2, "cross_entropy", "x");
  const CeArgs args = MakeCeArgs(x, target, weight, ignore_index, label_smoothing, "cross_entropy");
  const int64_t N = x.shape(0), C = x.shape(1);
  MINIDL_CHECK(C > 0 || N == 0, "cross_entropy", "no classes in logits of shape " + ShapeString(x));
  py::array loss(x.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(N)});
  py::array stats(x.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(N), 2});
  const int nt = ThreadCount(threads);
  DispatchFloat(x.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* px = DataOf<T>(x);
    T *pl = MutableDataOf<T>(loss), *ps = MutableDataOf<T>(stats);
    py::gil_scoped_release release;
    CrossEntropyRows<T>(px, N, C, args, pl, ps, nt);
  });
  return py::make_tuple(loss, stats);
}

py::array CrossEntropyBackward(const py::array& grad, const py::array& x, const py::array& stats,
                               const py::array& target, std::optional<py::array> weight, int64_t ignore_index,
                               double label_smoothing, int threads) {
  CheckFloatArray(x, 2, "cross_entropy_backward", "x");
  CheckFloatArray(grad, 1, "cross_entropy_backward", "grad");
  CheckFloatArray(stats, 2, "cross_entropy_backward", "stats");
  CheckSameDtype(x, grad, "cross_entropy_backward");
  CheckSameDtype(x, stats, "cross_entropy_backward");
  MINIDL_CHECK(grad.shape(0) == x.shape(0) && stats.shape(0) == x.shape(0) && stats.shape(1) == 2,
               "cross_entropy_backward",
               "grad " + ShapeString(grad) + " / stats " + ShapeString(stats) + " do not match x " + ShapeString(x));
  const CeArgs args = MakeCeArgs(x, target, weight, ignore_index, label_smoothing, "cross_entropy_backward");
  const int64_t N = x.shape(0), C = x.shape(1);
  py::array gx = EmptyLike(x);
  const int nt = ThreadCount(threads);
  DispatchFloat(x.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pg = DataOf<T>(grad), *px = DataOf<T>(x), *ps = DataOf<T>(stats);
    T* pgx = MutableDataOf<T>(gx);
    py::gil_scoped_release release;
    CrossEntropyBackwardRows<T>(pg, px, ps, N, C, args, pgx, nt);
  });
  return gx;
}

int OmpMaxThreads() { return ThreadCount(0); }

void OmpSetNumThreads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: expected a positive number of threads, got " +
                                         std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

}  // namespace cpu
}  // namespace minidl
