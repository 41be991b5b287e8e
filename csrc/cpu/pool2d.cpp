// max_pool2d, avg_pool2d and their backwards on the CPU, NCHW, float32 and float64.
//
// Every output row is split into border columns (windows clipped by the padding, or ceil_mode windows
// hanging past the input), handled by a scalar loop, and interior columns, whose column taps all lie
// inside the input. The interior runs "tap-outer": for each (valid) window row ki and column kj, one
// pass over the row's interior outputs, so the innermost loop is a plain strided walk the compiler
// vectorizes (stride 1 and 2 are compile-time cases; 2x2/2 and 3x3/2 pooling are stride 2). Rows of
// taps outside the input are skipped for every column of the output row at once.
//
// The forward is parallel over (plane, output row); the backward over planes, each plane owned by one
// thread, so the scatter-adds of overlapping windows never race.
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
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

/** One spatial axis of a pooling window. */
struct Axis {
  int64_t size = 0;      // input length
  int64_t k = 1;         // kernel
  int64_t s = 1;         // stride
  int64_t p = 0;         // padding per side
  int64_t d = 1;         // dilation
  int64_t out = 0;       // output length
  int64_t lo = 0;        // first output whose taps all lie inside the input
  int64_t hi = 0;        // one past the last such output (hi >= lo)

  int64_t Start(int64_t o) const { return o * s - p; }
  /** First tap index whose position is >= 0 (may be >= k: no tap in range). */
  int64_t FirstTap(int64_t o) const {
    const int64_t start = Start(o);
    return start >= 0 ? 0 : CeilDiv(-start, d);
  }
  /** One past the last tap index whose position is < size. */
  int64_t EndTap(int64_t o) const {
    const int64_t start = Start(o);
    if (start >= size) return 0;
    return std::min<int64_t>(k, (size - 1 - start) / d + 1);
  }
};

/** floor(a / b) for b > 0 (Python's //). */
inline int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/** PyTorch's pooling_output_shape (minidl/backends/geometry.py: output_size), never negative. */
int64_t OutputSize(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  int64_t out = FloorDiv(size + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= size + p) --out;
  return std::max<int64_t>(out, 0);
}

Axis MakeAxis(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  Axis a{size, k, s, p, d, OutputSize(size, k, s, p, d, ceil_mode), 0, 0};
  const int64_t extent = d * (k - 1) + 1;
  a.lo = std::min(a.out, CeilDiv(p, s));
  // Last o with o*s - p + extent <= size.
  const int64_t last = size + p - extent >= 0 ? (size + p - extent) / s : -1;
  a.hi = std::max(a.lo, std::min(a.out, last + 1));
  return a;
}

struct Pair {
  int64_t h, w;
};

/** A geometry argument: a sequence of two Python ints. A ValueError, not a TypeError, otherwise. */
Pair ParsePair(const py::handle& obj, const char* op, const char* name) {
  const std::string what = std::string(name) + " must be a pair of ints (h, w), got " +
                           py::repr(obj).cast<std::string>();
  MINIDL_CHECK(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), op, what);
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  MINIDL_CHECK(seq.size() == 2, op, what);
  Pair p{};
  for (int i = 0; i < 2; ++i) {
    const py::handle v = seq[i];
    MINIDL_CHECK(py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v), op, what);
    try {
      (i == 0 ? p.h : p.w) = v.cast<int64_t>();
    } catch (const py::cast_error&) {  // outside int64: the bound check below would refuse it anyway
      throw std::invalid_argument(std::string(op) + ": " + name + " must be a pair of ints (h, w) below 2^30, got " +
                                  py::repr(obj).cast<std::string>());
    }
  }
  return p;
}

struct Geometry {
  Axis h, w;
  int64_t planes = 0;  // N * C
  std::vector<py::ssize_t> out_shape;
};

/** Validate x and the geometry; output sizes as PyTorch. */
Geometry CheckPool(const char* op, const py::array& x, const py::handle& kernel_size, const py::handle& stride,
                   const py::handle& padding, const py::handle* dilation, bool ceil_mode) {
  CheckFloatArray(x, 4, op, "x");
  const Pair k = ParsePair(kernel_size, op, "kernel_size");
  const Pair s = ParsePair(stride, op, "stride");
  const Pair p = ParsePair(padding, op, "padding");
  const Pair d = dilation ? ParsePair(*dilation, op, "dilation") : Pair{1, 1};
  const std::string geom = "kernel_size (" + std::to_string(k.h) + ", " + std::to_string(k.w) + "), stride (" +
                           std::to_string(s.h) + ", " + std::to_string(s.w) + "), padding (" + std::to_string(p.h) +
                           ", " + std::to_string(p.w) + "), dilation (" + std::to_string(d.h) + ", " +
                           std::to_string(d.w) + ")";
  MINIDL_CHECK(k.h >= 1 && k.w >= 1 && s.h >= 1 && s.w >= 1 && d.h >= 1 && d.w >= 1 && p.h >= 0 && p.w >= 0, op,
               "kernel_size, stride, dilation must be >= 1 and padding >= 0, got " + geom);
  MINIDL_CHECK(p.h <= k.h / 2 && p.w <= k.w / 2, op, "padding must be at most half the kernel size, got " + geom);
  // Bounded geometry and input keep every index product below 2^62.
  constexpr int64_t kLimit = int64_t{1} << 30;
  MINIDL_CHECK(k.h < kLimit && k.w < kLimit && s.h < kLimit && s.w < kLimit && d.h < kLimit && d.w < kLimit, op,
               "geometry too large: " + geom);
  MINIDL_CHECK(x.shape(2) < (int64_t{1} << 40) && x.shape(3) < (int64_t{1} << 40), op,
               "input too large: x " + ShapeString(x));
  Geometry g;
  g.h = MakeAxis(x.shape(2), k.h, s.h, p.h, d.h, ceil_mode);
  g.w = MakeAxis(x.shape(3), k.w, s.w, p.w, d.w, ceil_mode);
  CheckOutputSize(op, "the output", {x.shape(0), x.shape(1), g.h.out, g.w.out}, x.itemsize());
  g.planes = static_cast<int64_t>(x.shape(0)) * x.shape(1);
  g.out_shape = {x.shape(0), x.shape(1), static_cast<py::ssize_t>(g.h.out), static_cast<py::ssize_t>(g.w.out)};
  return g;
}

std::string ShapeOf(const std::vector<py::ssize_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

void CheckGrad(const char* op, const py::array& grad, const py::array& x, const Geometry& g) {
  CheckFloatArray(grad, 4, op, "grad");
  CheckSameDtype(grad, x, op);
  bool same = true;
  for (int i = 0; i < 4; ++i) same = same && grad.shape(i) == g.out_shape[i];
  MINIDL_CHECK(same, op,
               "grad has shape " + ShapeString(grad) + ", expected " + ShapeOf(g.out_shape) + " for x of shape " +
                   ShapeString(x));
}

/** Worth forking threads: below this many touched elements a call runs on the caller's thread. */
constexpr int64_t kParallelWork = 1 << 15;

template <typename T>
inline bool Better(T v, T best) {
  // A NaN always replaces (the last NaN wins); otherwise strictly greater keeps the first maximum.
  return (v > best) | (v != v);  // bitwise: both compares vectorize, no branch
}

// ---------------------------------------------------------------------------------------------------
// max_pool2d

/** Interior columns [lo, hi) of one output row, taps rows [ki0, ki1). SW > 0: compile-time stride. */
template <typename T, typename I, int SW>
void MaxRowInterior(const T* __restrict plane, int64_t W, const Axis& ah, const Axis& aw, int64_t row0,
                    int64_t ki0, int64_t ki1, T* __restrict y, I* __restrict idx) {
  const int64_t sw = SW > 0 ? SW : aw.s;
  const int64_t n = aw.hi - aw.lo;
  const int64_t c_base = aw.lo * sw - aw.p;  // input column of tap 0 of the first interior output
  // Offsets relative to (row0, c_base + j*sw): all fit I, the plane being smaller than I's range.
  for (int64_t j = 0; j < n; ++j) {
    y[j] = -std::numeric_limits<T>::infinity();
    idx[j] = static_cast<I>(j * sw);
  }
  for (int64_t ki = ki0; ki < ki1; ++ki) {
    const int64_t r = row0 + (ki - ki0) * ah.d;  // row0 is the row of tap ki0
    const T* src = plane + r * W + c_base;
    const I roff = static_cast<I>((r - row0) * W);
    for (int64_t kj = 0; kj < aw.k; ++kj) {
      const T* s = src + kj * aw.d;
      const I off = static_cast<I>(roff + kj * aw.d);
#pragma GCC ivdep
      for (int64_t j = 0; j < n; ++j) {
        const T v = s[j * sw];
        const bool m = Better(v, y[j]);
        y[j] = m ? v : y[j];
        idx[j] = m ? static_cast<I>(j * sw + off) : idx[j];
      }
    }
  }
}

/** One output of max_pool2d by the scalar loop (any window, clipped at every side). */
template <typename T>
inline void MaxOne(const T* plane, int64_t W, const Axis& ah, const Axis& aw, int64_t oh, int64_t ow, T* y,
                   int64_t* idx) {
  const int64_t hs = ah.Start(oh), ws = aw.Start(ow);
  const int64_t ki0 = ah.FirstTap(oh), ki1 = ah.EndTap(oh);
  const int64_t kj0 = aw.FirstTap(ow), kj1 = aw.EndTap(ow);
  // PyTorch keeps the first in-range tap when nothing beats -inf (even for an empty window).
  int64_t best_i = (hs + ki0 * ah.d) * W + (ws + kj0 * aw.d);
  T best = -std::numeric_limits<T>::infinity();
  for (int64_t ki = ki0; ki < ki1; ++ki) {
    const int64_t r = hs + ki * ah.d;
    for (int64_t kj = kj0; kj < kj1; ++kj) {
      const int64_t c = ws + kj * aw.d;
      const T v = plane[r * W + c];
      if (Better(v, best)) {
        best = v;
        best_i = r * W + c;
      }
    }
  }
  *y = best;
  *idx = best_i;
}

#if defined(__AVX512F__)
/** The interior of one output row for float32, width stride 2, kernel width KW (2 or 3), no
 *  dilation, in one pass: 16 outputs per vector, every tap of the window applied to the vector in
 *  row-major window order (so the first maximum and the last NaN win, as Better), tails by masked
 *  loads and stores. The tap-outer loop pays its loop and tail overhead once per tap, which on the
 *  14- and 7-wide rows of small planes is most of the time. Indices are flat h*W+w, int32 lanes
 *  (the caller checks the plane fits) widened on store. */
template <int KW>
void MaxRowInteriorS2(const float* __restrict plane, int64_t W, const Axis& aw, int64_t row0, int64_t rows,
                      float* __restrict y, int64_t* __restrict idx) {
  const int64_t n = aw.hi - aw.lo;
  const int64_t c_base = aw.lo * 2 - aw.p;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i iota2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  auto mask_of = [](int64_t count) -> __mmask16 {
    return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
  };
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t m = std::min<int64_t>(16, n - j0);
    const int64_t c0 = c_base + 2 * j0;  // input column of tap kj = 0 of output j0
    // Columns c0 .. c0 + 2m - 2 + KW - 1 are read: a low and a high half, plus (KW == 3) the even
    // lanes again from c0 + 2.
    const int64_t need = 2 * m - 2 + KW;
    const __mmask16 mlo = mask_of(need), mhi = mask_of(need - 16), mout = mask_of(m);
    const __mmask16 mlo2 = mask_of(need - 2), mhi2 = mask_of(need - 18);
    const __m512i col = _mm512_add_epi32(iota2, _mm512_set1_epi32(static_cast<int32_t>(c0)));
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512i bi = _mm512_add_epi32(col, _mm512_set1_epi32(static_cast<int32_t>(row0 * W)));
    for (int64_t r = row0; r < row0 + rows; ++r) {
      const float* s = plane + r * W + c0;
      const __m512 lo = _mm512_maskz_loadu_ps(mlo, s), hi = _mm512_maskz_loadu_ps(mhi, s + 16);
      const __m512i base = _mm512_add_epi32(col, _mm512_set1_epi32(static_cast<int32_t>(r * W)));
      auto tap = [&](__m512 v, int kj) {
        const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, take, v);
        bi = _mm512_mask_mov_epi32(bi, take, _mm512_add_epi32(base, _mm512_set1_epi32(kj)));
      };
      tap(_mm512_permutex2var_ps(lo, even, hi), 0);
      tap(_mm512_permutex2var_ps(lo, odd, hi), 1);
      if (KW == 3) {
        const __m512 lo2 = _mm512_maskz_loadu_ps(mlo2, s + 2), hi2 = _mm512_maskz_loadu_ps(mhi2, s + 18);
        tap(_mm512_permutex2var_ps(lo2, even, hi2), 2);
      }
    }
    _mm512_mask_storeu_ps(y + j0, mout, best);
    _mm512_mask_storeu_epi64(idx + j0, __mmask8(mout & 0xFF), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(bi)));
    _mm512_mask_storeu_epi64(idx + j0 + 8, __mmask8(mout >> 8),
                             _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(bi, 1)));
  }
}
#endif

template <typename T, typename I>
void MaxPoolRow(const T* plane, int64_t W, const Axis& ah, const Axis& aw, int64_t oh, T* y, int64_t* idx,
                I* scratch) {
  for (int64_t ow = 0; ow < aw.lo; ++ow) MaxOne(plane, W, ah, aw, oh, ow, y + ow, idx + ow);
  for (int64_t ow = aw.hi; ow < aw.out; ++ow) MaxOne(plane, W, ah, aw, oh, ow, y + ow, idx + ow);
  const int64_t n = aw.hi - aw.lo;
  if (n <= 0) return;
  const int64_t ki0 = ah.FirstTap(oh), ki1 = ah.EndTap(oh);
  const int64_t row0 = ah.Start(oh) + ki0 * ah.d;  // first in-range tap row (index base when all are -inf)
  if (ki0 >= ki1) {  // no tap row inside the input: an empty window for every column
    for (int64_t ow = aw.lo; ow < aw.hi; ++ow) MaxOne(plane, W, ah, aw, oh, ow, y + ow, idx + ow);
    return;
  }
  T* yi = y + aw.lo;
#if defined(__AVX512F__)
  // One pass per row for the common 2x2/2 and 3x3/2 windows (float32, int32 lanes: I is int32_t
  // only when every index fits).
  if (sizeof(T) == 4 && sizeof(I) == 4 && aw.s == 2 && aw.d == 1 && ah.d == 1 && (aw.k == 2 || aw.k == 3)) {
    const float* pf = reinterpret_cast<const float*>(plane);
    float* yf = reinterpret_cast<float*>(yi);
    if (aw.k == 2)
      MaxRowInteriorS2<2>(pf, W, aw, row0, ki1 - ki0, yf, idx + aw.lo);
    else
      MaxRowInteriorS2<3>(pf, W, aw, row0, ki1 - ki0, yf, idx + aw.lo);
    return;
  }
#endif
  if (aw.s == 1)
    MaxRowInterior<T, I, 1>(plane, W, ah, aw, row0, ki0, ki1, yi, scratch);
  else if (aw.s == 2)
    MaxRowInterior<T, I, 2>(plane, W, ah, aw, row0, ki0, ki1, yi, scratch);
  else
    MaxRowInterior<T, I, 0>(plane, W, ah, aw, row0, ki0, ki1, yi, scratch);
  const int64_t base = row0 * W + aw.lo * aw.s - aw.p;
  int64_t* ii = idx + aw.lo;
  for (int64_t j = 0; j < n; ++j) ii[j] = base + static_cast<int64_t>(scratch[j]);
}

template <typename T, typename I>
void MaxPoolForward(const T* x, T* y, int64_t* idx, const Geometry& g) {
  const int64_t H = g.h.size, W = g.w.size, OH = g.h.out, OW = g.w.out;
  const int64_t rows = g.planes * OH;
  const bool parallel = rows > 1 && g.planes * (H * W + OH * OW) >= kParallelWork;
#pragma omp parallel if (parallel)
  {
    std::vector<I> scratch(static_cast<size_t>(std::max<int64_t>(OW, 1)));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t plane = r / OH, oh = r % OH;
      MaxPoolRow<T, I>(x + plane * H * W, W, g.h, g.w, oh, y + r * OW, idx + r * OW, scratch.data());
    }
  }
}

template <typename T>
void MaxPoolBackward(const T* grad, const int64_t* idx, T* gx, const Geometry& g) {
  const int64_t HW = g.h.size * g.w.size, OHW = g.h.out * g.w.out;
  const bool parallel = g.planes > 1 && g.planes * (HW + OHW) >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t plane = 0; plane < g.planes; ++plane) {
    T* dst = gx + plane * HW;
    std::memset(dst, 0, sizeof(T) * HW);
    const T* gp = grad + plane * OHW;
    const int64_t* ip = idx + plane * OHW;
    for (int64_t o = 0; o < OHW; ++o) {
      const int64_t i = ip[o];
      // Indices outside the plane (windows with no input element) are dropped, as the reference does;
      // this test is also what keeps a forged index from writing out of bounds.
      if (static_cast<uint64_t>(i) < static_cast<uint64_t>(HW)) dst[i] += gp[o];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// avg_pool2d

/** PyTorch's divisor along one axis: the window clipped to the padded input, then (without
 *  count_include_pad) to the input. */
inline int64_t AvgDivisor(const Axis& a, int64_t o, bool count_include_pad) {
  const int64_t start = a.Start(o);
  const int64_t end = std::min(start + a.k, a.size + a.p);
  if (count_include_pad) return end - start;
  return std::min(end, a.size) - std::max<int64_t>(start, 0);
}

/** 1/divisor in T (as the reference), 0 for an empty window. */
template <typename T>
inline T AvgScale(const Axis& ah, const Axis& aw, int64_t oh, int64_t ow, bool cip) {
  const int64_t div = AvgDivisor(ah, oh, cip) * AvgDivisor(aw, ow, cip);
  return div > 0 ? T(1) / static_cast<T>(div) : T(0);
}

template <typename T>
inline T AvgOneSum(const T* plane, int64_t W, const Axis& ah, const Axis& aw, int64_t oh, int64_t ow) {
  const int64_t hs = ah.Start(oh), ws = aw.Start(ow);
  const int64_t r0 = std::max<int64_t>(hs, 0), r1 = std::min(hs + ah.k, ah.size);
  const int64_t c0 = std::max<int64_t>(ws, 0), c1 = std::min(ws + aw.k, aw.size);
  T sum = 0;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) sum += plane[r * W + c];
  return sum;
}

template <typename T, int SW>
void AvgRowInterior(const T* __restrict plane, int64_t W, const Axis& aw, int64_t r0, int64_t r1,
                    T* __restrict y) {
  const int64_t sw = SW > 0 ? SW : aw.s;
  const int64_t n = aw.hi - aw.lo;
  const int64_t c_base = aw.lo * sw - aw.p;
  for (int64_t j = 0; j < n; ++j) y[j] = T(0);
  for (int64_t r = r0; r < r1; ++r) {
    const T* src = plane + r * W + c_base;
    for (int64_t kj = 0; kj < aw.k; ++kj) {
      const T* s = src + kj;
#pragma GCC ivdep
      for (int64_t j = 0; j < n; ++j) y[j] += s[j * sw];
    }
  }
}

template <typename T>
void AvgPoolForward(const T* x, T* y, const Geometry& g, bool cip) {
  const Axis &ah = g.h, &aw = g.w;
  const int64_t H = ah.size, W = aw.size, OH = ah.out, OW = aw.out;
  const int64_t rows = g.planes * OH;
  const bool parallel = rows > 1 && g.planes * (H * W + OH * OW) >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t oh = row % OH;
    const T* plane = x + (row / OH) * H * W;
    T* yr = y + row * OW;
    auto border = [&](int64_t ow) { yr[ow] = AvgOneSum(plane, W, ah, aw, oh, ow) * AvgScale<T>(ah, aw, oh, ow, cip); };
    for (int64_t ow = 0; ow < aw.lo; ++ow) border(ow);
    for (int64_t ow = aw.hi; ow < OW; ++ow) border(ow);
    const int64_t n = aw.hi - aw.lo;
    if (n <= 0) continue;
    const int64_t hs = ah.Start(oh);
    const int64_t r0 = std::max<int64_t>(hs, 0), r1 = std::min(hs + ah.k, H);
    T* yi = yr + aw.lo;
    if (aw.s == 1)
      AvgRowInterior<T, 1>(plane, W, aw, r0, r1, yi);
    else if (aw.s == 2)
      AvgRowInterior<T, 2>(plane, W, aw, r0, r1, yi);
    else
      AvgRowInterior<T, 0>(plane, W, aw, r0, r1, yi);
    // Interior columns are unclipped, so the divisor is the same for the whole run.
    const T scale = AvgScale<T>(ah, aw, oh, aw.lo, cip);
    for (int64_t j = 0; j < n; ++j) yi[j] *= scale;
  }
}

template <typename T, int SW>
void AvgBackRowInterior(T* __restrict plane, int64_t W, const Axis& aw, int64_t r0, int64_t r1,
                        const T* __restrict gs) {
  const int64_t sw = SW > 0 ? SW : aw.s;
  const int64_t n = aw.hi - aw.lo;
  const int64_t c_base = aw.lo * sw - aw.p;
  for (int64_t r = r0; r < r1; ++r) {
    T* dst = plane + r * W + c_base;
    for (int64_t kj = 0; kj < aw.k; ++kj) {
      T* d = dst + kj;
      // Within one tap the targets j*sw are distinct, so the loop carries no dependence.
#pragma GCC ivdep
      for (int64_t j = 0; j < n; ++j) d[j * sw] += gs[j];
    }
  }
}

template <typename T>
void AvgPoolBackward(const T* grad, T* gx, const Geometry& g, bool cip) {
  const Axis &ah = g.h, &aw = g.w;
  const int64_t H = ah.size, W = aw.size, OH = ah.out, OW = aw.out;
  const bool parallel = g.planes > 1 && g.planes * (H * W + OH * OW) >= kParallelWork;
#pragma omp parallel if (parallel)
  {
    std::vector<T> scaled(static_cast<size_t>(std::max<int64_t>(OW, 1)));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.planes; ++p) {
      T* plane = gx + p * H * W;
      std::memset(plane, 0, sizeof(T) * H * W);
      for (int64_t oh = 0; oh < OH; ++oh) {
        const T* gr = grad + (p * OH + oh) * OW;
        const int64_t hs = ah.Start(oh);
        const int64_t r0 = std::max<int64_t>(hs, 0), r1 = std::min(hs + ah.k, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          if (ow >= aw.lo && ow < aw.hi) continue;
          const T v = gr[ow] * AvgScale<T>(ah, aw, oh, ow, cip);
          const int64_t ws = aw.Start(ow);
          const int64_t c0 = std::max<int64_t>(ws, 0), c1 = std::min(ws + aw.k, W);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) plane[r * W + c] += v;
        }
        const int64_t n = aw.hi - aw.lo;
        if (n <= 0 || r0 >= r1) continue;
        const T scale = AvgScale<T>(ah, aw, oh, aw.lo, cip);
        for (int64_t j = 0; j < n; ++j) scaled[j] = gr[aw.lo + j] * scale;
        if (aw.s == 1)
          AvgBackRowInterior<T, 1>(plane, W, aw, r0, r1, scaled.data());
        else if (aw.s == 2)
          AvgBackRowInterior<T, 2>(plane, W, aw, r0, r1, scaled.data());
        else
          AvgBackRowInterior<T, 0>(plane, W, aw, r0, r1, scaled.data());
      }
    }
  }
}

}  // namespace

/** max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode) -> (y, indices)
 *  x (N, C, H, W) C-contiguous float32/float64. y (N, C, OH, OW) in x's dtype and indices int64, the
 *  flat h*W+w position of each maximum (first maximum in row-major window order; the last NaN when
 *  the window holds one). Releases the GIL. */
py::tuple MaxPool2dForward(const py::array& x, const py::object& kernel_size, const py::object& stride,
                           const py::object& padding, const py::object& dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  const Geometry g = CheckPool(op, x, kernel_size, stride, padding, &dilation, ceil_mode);
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> y(g.out_shape);
    py::array_t<int64_t> idx(g.out_shape);
    const T* px = DataOf<T>(x);
    T* py_ = y.mutable_data();
    int64_t* pi = idx.mutable_data();
    {
      py::gil_scoped_release release;
      // 32-bit window offsets keep float32's index lanes as wide as its value lanes.
      const int64_t span = (g.h.size + 2 * g.h.p + g.h.d * g.h.k) * (g.w.size + 2 * g.w.p + g.w.d * g.w.k) +
                           g.w.out * g.w.s;
      if (sizeof(T) == 4 && span < (int64_t{1} << 30))
        MaxPoolForward<T, int32_t>(px, py_, pi, g);
      else
        MaxPoolForward<T, int64_t>(px, py_, pi, g);
    }
    return py::make_tuple(y, idx);
  });
}

/** max_pool2d_backward(grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode) -> grad_x
 *  grad (N, C, OH, OW), indices int64 of that shape; grad_x (N, C, H, W) is grad scatter-added at the
 *  indices of each plane (indices outside the plane are dropped). Releases the GIL. */
py::array MaxPool2dBackward(const py::array& grad, const py::array& x, const py::array& indices,
                            const py::object& kernel_size, const py::object& stride, const py::object& padding,
                            const py::object& dilation, bool ceil_mode) {
  const char* op = "max_pool2d_backward";
  const Geometry g = CheckPool(op, x, kernel_size, stride, padding, &dilation, ceil_mode);
  CheckGrad(op, grad, x, g);
  MINIDL_CHECK(IsDtype<int64_t>(indices.dtype()), op, "indices must be int64, got " + DtypeName(indices));
  MINIDL_CHECK(IsCContiguous(indices), op, "indices must be C-contiguous (make it contiguous in Python)");
  bool same = indices.ndim() == 4;
  for (int i = 0; same && i < 4; ++i) same = indices.shape(i) == grad.shape(i);
  MINIDL_CHECK(same, op,
               "indices has shape " + ShapeString(indices) + ", expected the shape of grad " + ShapeString(grad));
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> gx({x.shape(0), x.shape(1), x.shape(2), x.shape(3)});
    const T* pg = DataOf<T>(grad);
    const int64_t* pi = static_cast<const int64_t*>(indices.data());
    T* pgx = gx.mutable_data();
    {
      py::gil_scoped_release release;
      MaxPoolBackward<T>(pg, pi, pgx, g);
    }
    return gx;
  });
}

/** avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad) -> y
 *  PyTorch's divisors: the window clipped to the padded input, then, without count_include_pad, to
 *  the input. Releases the GIL. */
py::array AvgPool2dForward(const py::array& x, const py::object& kernel_size, const py::object& stride,
                           const py::object& padding, bool ceil_mode, bool count_include_pad) {
  const char* op = "avg_pool2d";
  const Geometry g = CheckPool(op, x, kernel_size, stride, padding, nullptr, ceil_mode);
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y(g.out_shape);
    const T* px = DataOf<T>(x);
    T* py_ = y.mutable_data();
    {
      py::gil_scoped_release release;
      AvgPoolForward<T>(px, py_, g, count_include_pad);
    }
    return y;
  });
}

/** avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad) -> grad_x
 *  Each output's gradient divided by its divisor, spread over the input elements of its window.
 *  Releases the GIL. */
py::array AvgPool2dBackward(const py::array& grad, const py::array& x, const py::object& kernel_size,
                            const py::object& stride, const py::object& padding, bool ceil_mode,
                            bool count_include_pad) {
  const char* op = "avg_pool2d_backward";
  const Geometry g = CheckPool(op, x, kernel_size, stride, padding, nullptr, ceil_mode);
  CheckGrad(op, grad, x, g);
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> gx({x.shape(0), x.shape(1), x.shape(2), x.shape(3)});
    const T* pg = DataOf<T>(grad);
    T* pgx = gx.mutable_data();
    {
      py::gil_scoped_release release;
      AvgPoolBackward<T>(pg, pgx, g, count_include_pad);
    }
    return gx;
  });
}

}  // namespace cpu
}  // namespace minidl
