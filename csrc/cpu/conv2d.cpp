// conv2d and conv2d_backward on the CPU (NCHW), as im2col + the project's packed GEMM (gemm.h).
//
// Per sample n and group g, with P = OH*OW output positions and Kg = Cg*KH*KW:
//   forward     y[n, g]      (Og, P)  = W[g] (Og, Kg) @ cols (Kg, P)
//   grad_w      gW[g]       (Og, Kg) += grad[n, g] (Og, P) @ cols^T
//   grad_x      dcols        (Kg, P)  = W[g]^T @ grad[n, g], then col2im (scatter-add) into grad_x[n, g]
// cols is built a chunk of output positions at a time so that it stays in cache between being
// written and being packed by the GEMM. A 1x1 kernel with stride 1 and no padding needs no cols
// at all: x[n, g] seen as (Cg, H*W) already is the operand.
//
// Threads: with a batch that splits evenly, each thread takes whole samples and runs
// single-threaded GEMMs on its own scratch (no synchronisation at all; grad_w goes to per-thread
// partials summed at the end). With a batch of 1 (or one that splits badly) the samples run one
// after another and the GEMMs use all threads.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/scratch.h"
#include "cpu/kernels.h"
#include "cpu/winograd.h"

namespace minidl {
namespace cpu {
namespace {

/** Everything about one convolution's shapes, derived once. */
struct ConvGeometry {
  int64_t N, C, H, W;       // input
  int64_t O, KH, KW;        // weight (O, Cg, KH, KW)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t G, Cg, Og;        // groups, channels per group in and out
  int64_t OH, OW;
  int64_t P, HW, Kg;        // output positions, input plane size, GEMM inner size of one group
  bool direct;              // 1x1, stride 1, no padding: x itself is the GEMM operand
  const int32_t* taps = nullptr;  // per-tap input offsets of a small strided plane (WithTapTable)
};

// ---------------------------------------------------------------------------------------------
// Argument checks (the Python layer validates first; these keep a bypassing caller from crashing)

/** A geometry pair (h, w) of Python ints in [lo, 2^30), the bound of the Python layer
 *  (minidl/backends/geometry.py MAX_WINDOW). */
std::pair<int64_t, int64_t> GeometryPair(const py::object& obj, const char* op, const char* name, int64_t lo) {
  const std::string what = std::string(name) + " must be a pair (h, w) of ints >= " + std::to_string(lo) +
                           " and below 2^30, got " + py::repr(obj).cast<std::string>();
  const bool is_pair = (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) && py::len(obj) == 2;
  MINIDL_CHECK(is_pair, op, what);
  int64_t v[2];
  for (int i = 0; i < 2; ++i) {
    const py::object item = obj[py::int_(i)];
    MINIDL_CHECK(py::isinstance<py::int_>(item) && !py::isinstance<py::bool_>(item), op, what);
    const long long value = item.cast<py::int_>().cast<long long>();  // may throw for huge ints: below
    MINIDL_CHECK(value >= lo && value < (int64_t{1} << 30), op, what);
    v[i] = value;
  }
  return {v[0], v[1]};
}

std::pair<int64_t, int64_t> CheckedPair(const py::object& obj, const char* op, const char* name, int64_t lo) {
  try {
    return GeometryPair(obj, op, name, lo);
  } catch (const py::cast_error&) {
    throw std::invalid_argument(std::string(op) + ": " + name + " must be a pair (h, w) of ints >= " +
                                std::to_string(lo) + " and below 2^30, got " + py::repr(obj).cast<std::string>());
  }
}

/** groups: an integer >= 1 (a Python or NumPy int; bools, floats and values past int64 are a
 *  ValueError, not a cast error). */
int64_t CheckedGroups(const py::object& obj, const char* op) {
  const std::string repr = py::repr(obj).cast<std::string>();
  MINIDL_CHECK(!py::isinstance<py::bool_>(obj), op, "groups must be an int, got " + repr);
  const py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!index) PyErr_Clear();
  MINIDL_CHECK(static_cast<bool>(index), op, "groups must be an int, got " + repr);
  int64_t groups = 0;
  try {
    groups = index.cast<int64_t>();
  } catch (const py::cast_error&) {
    throw std::invalid_argument(std::string(op) + ": groups must be below 2^63, got " + repr);
  }
  MINIDL_CHECK(groups >= 1, op, "groups must be >= 1, got " + repr);
  return groups;
}

ConvGeometry CheckConvArguments(const py::array& x, const py::array& w, const py::object& stride,
                                const py::object& padding, const py::object& dilation, const py::object& groups_obj,
                                const char* op) {
  CheckFloatArray(x, 4, op, "x");
  CheckFloatArray(w, 4, op, "w");
  CheckSameDtype(x, w, op);
  ConvGeometry g{};
  std::tie(g.sh, g.sw) = CheckedPair(stride, op, "stride", 1);
  std::tie(g.ph, g.pw) = CheckedPair(padding, op, "padding", 0);
  std::tie(g.dh, g.dw) = CheckedPair(dilation, op, "dilation", 1);
  const std::string shapes = "x " + ShapeString(x) + ", w " + ShapeString(w);
  const int64_t groups = CheckedGroups(groups_obj, op);
  g.N = x.shape(0), g.C = x.shape(1), g.H = x.shape(2), g.W = x.shape(3);
  g.O = w.shape(0), g.Cg = w.shape(1), g.KH = w.shape(2), g.KW = w.shape(3);
  g.G = groups;
  MINIDL_CHECK(g.C % groups == 0 && g.O % groups == 0, op,
               "channels must be divisible by groups=" + std::to_string(groups) + ": " + shapes);
  MINIDL_CHECK(g.Cg * groups == g.C, op,
               "w.shape[1] must be x.shape[1] // groups (groups=" + std::to_string(groups) + "): " + shapes);
  MINIDL_CHECK(g.KH >= 1 && g.KW >= 1, op, "the kernel must be at least 1x1: " + shapes);
  MINIDL_CHECK(g.H < (int64_t{1} << 31) && g.W < (int64_t{1} << 31), op, "input too large: " + shapes);
  MINIDL_CHECK(g.KH < (int64_t{1} << 31) && g.KW < (int64_t{1} << 31), op, "kernel too large: " + shapes);
  const int64_t span_h = g.H + 2 * g.ph - g.dh * (g.KH - 1) - 1;
  const int64_t span_w = g.W + 2 * g.pw - g.dw * (g.KW - 1) - 1;
  MINIDL_CHECK(span_h >= 0 && span_w >= 0, op,
               "the (dilated) kernel is larger than the padded input, so the output would be empty: " + shapes +
                   ", padding (" + std::to_string(g.ph) + ", " + std::to_string(g.pw) + "), dilation (" +
                   std::to_string(g.dh) + ", " + std::to_string(g.dw) + ")");
  g.OH = span_h / g.sh + 1;
  g.OW = span_w / g.sw + 1;
  CheckOutputSize(op, "the output", {g.N, g.O, g.OH, g.OW}, x.itemsize());
  g.Og = g.O / groups;
  g.P = g.OH * g.OW;
  g.HW = g.H * g.W;
  g.Kg = g.Cg * g.KH * g.KW;
  g.direct = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  return g;
}

// ---------------------------------------------------------------------------------------------
// Scratch memory

/** Per-thread growable buffers, kept between calls so repeated convolutions do not pay for fresh
 *  pages. Slots: 0 cols, 1 dcols or the forward's output tile, 2 the grad_w partials (taken by
 *  the calling thread only), 3 the backward's gathered grad. */
struct Im2colScratch;

template <typename T>
T* Scratch(int slot, size_t count) {
  return ThreadScratch<T, Im2colScratch, 4>(slot, count);
}

int MaxThreads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

int ThreadId() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// im2col / col2im on a range of output positions of one sample

/** Tap-table reads without a branch (the padding pattern of a stride-2 plane mispredicts): the
 *  index is clamped to 0 where the tap is padding (-1) and the loaded bits are masked. */
inline int32_t TapInside(int32_t at) { return ~(at >> 31); }  // all ones when at >= 0, else 0
inline int32_t TapIndex(int32_t at) { return at & TapInside(at); }

template <typename T>
using TapBits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

/** plane[at], or +0 where the tap is padding. */
template <typename T>
inline T TapOrZero(const T* plane, int32_t at) {
  using U = TapBits<T>;
  const U keep = static_cast<U>(static_cast<std::make_signed_t<U>>(TapInside(at)));  // sign-extended
  U bits;
  std::memcpy(&bits, plane + TapIndex(at), sizeof(T));
  bits &= keep;
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

/** v, or -0 where the tap is padding: -0 is the one value whose addition changes nothing (x + -0
 *  is x for every x, -0 included), so col2im adds it to pixel 0 instead of branching. */
template <typename T>
inline T TapOrNegativeZero(T v, int32_t at) {
  using U = TapBits<T>;
  const U keep = static_cast<U>(static_cast<std::make_signed_t<U>>(TapInside(at)));
  const U sign = U{1} << (8 * sizeof(T) - 1);
  U bits;
  std::memcpy(&bits, &v, sizeof(T));
  bits = (bits & keep) | (sign & ~keep);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}


/** The output columns [lo, hi) within [ow0, ow1) whose input column ow*sw + off lies in [0, W). */
inline std::pair<int64_t, int64_t> ValidColumns(int64_t off, int64_t sw, int64_t W, int64_t ow0, int64_t ow1) {
  int64_t lo = off >= 0 ? 0 : CeilDiv(-off, sw);
  int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
  lo = std::min(std::max(lo, ow0), ow1);
  hi = std::max(std::min(hi, ow1), lo);
  return {lo, hi};
}

/** dst[p] = plane[tap[p]] (0 where tap[p] is -1) for p in [p0, p1). With AVX2, 8 (float) or 4
 *  (double) positions per masked gather: the padding lanes are never read. */
template <typename T>
inline void GatherTaps(const T* plane, const int32_t* tap, int64_t p0, int64_t p1, T* dst) {
  int64_t p = p0;
#if defined(__AVX2__)
  if constexpr (sizeof(T) == 4) {
    for (; p + 8 <= p1; p += 8) {
      const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tap + p));
      const __m256 inside = _mm256_castsi256_ps(_mm256_xor_si256(at, _mm256_set1_epi32(-1)));  // sign: at >= 0
      _mm256_storeu_ps(reinterpret_cast<float*>(dst + p),
                       _mm256_mask_i32gather_ps(_mm256_setzero_ps(), reinterpret_cast<const float*>(plane), at,
                                                inside, 4));
    }
  } else {
    for (; p + 4 <= p1; p += 4) {
      const __m128i at = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tap + p));
      const __m256d inside = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_xor_si128(at, _mm_set1_epi32(-1))));
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + p),
                       _mm256_mask_i32gather_pd(_mm256_setzero_pd(), reinterpret_cast<const double*>(plane), at,
                                                inside, 8));
    }
  }
#endif
  for (; p < p1; ++p) dst[p] = TapOrZero(plane, tap[p]);
}

/** Stride 1 with OW == W (a "same"-width convolution, the usual 3x3 pad 1): the input pixel of tap
 *  (i, j) for output position p is p + off, affine in p across output rows, so one row of cols is a
 *  single long copy (col2im a single long add) instead of OH copies of OW elements, which on small
 *  planes (14 wide) cost mostly call and loop overhead. The few positions whose tap column falls
 *  in the padding (they would wrap into the neighbouring row) are fixed up afterwards. */
struct AffineRun {
  int64_t off;           // input index minus position
  int64_t a, b;          // positions [a, b) read an input row in range (and p + off in the plane)
  int64_t ow_lo, ow_hi;  // output columns whose tap column is in range
};

inline bool AffineTaps(const ConvGeometry& g) { return g.sh == 1 && g.sw == 1 && g.OW == g.W; }

inline AffineRun MakeAffineRun(const ConvGeometry& g, int64_t i, int64_t j, int64_t p0, int64_t p1) {
  const int64_t roff = i * g.dh - g.ph, coff = j * g.dw - g.pw;
  AffineRun run{};
  run.off = roff * g.W + coff;
  run.a = std::min(p1, std::max({p0, -roff * g.OW, -run.off}));
  run.b = std::min({p1, (g.H - roff) * g.OW, g.HW - run.off});
  run.b = std::max(run.b, run.a);
  run.ow_lo = std::min(g.OW, std::max<int64_t>(0, -coff));
  run.ow_hi = std::max(run.ow_lo, std::min(g.OW, g.W - coff));
  return run;
}

/** Calls fn(p) for the positions in [run.a, run.b) whose tap column is in the padding. */
template <typename Fn>
inline void ForEachPaddingColumn(const ConvGeometry& g, const AffineRun& run, Fn&& fn) {
  if (run.ow_lo == 0 && run.ow_hi == g.OW) return;
  for (int64_t row = run.a / g.OW * g.OW; row < run.b; row += g.OW) {
    for (int64_t ow = 0; ow < run.ow_lo; ++ow)
      if (row + ow >= run.a && row + ow < run.b) fn(row + ow);
    for (int64_t ow = run.ow_hi; ow < g.OW; ++ow)
      if (row + ow >= run.a && row + ow < run.b) fn(row + ow);
  }
}

/** cols (Kg rows, leading dimension ld): row (c*KH + i)*KW + j, column p - p0 holds the input tap
 *  (i, j) of output position p in [p0, p1) for channel c of xg (Cg planes of H x W), zero in the
 *  padding. Rows in parallel when `parallel` (called outside a parallel region). */
template <typename T>
void Im2Col(const ConvGeometry& g, const T* xg, int64_t p0, int64_t p1, T* cols, int64_t ld, bool parallel) {
  (void)parallel;
  const int64_t oh_first = p0 / g.OW;
  const int64_t ow_first = p0 % g.OW;
  if (AffineTaps(g)) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
    for (int64_t r = 0; r < g.Kg; ++r) {
      const int64_t c = r / (g.KH * g.KW);
      const AffineRun run = MakeAffineRun(g, (r / g.KW) % g.KH, r % g.KW, p0, p1);
      T* dst = cols + r * ld - p0;  // indexed by position
      std::fill(dst + p0, dst + run.a, T(0));
      std::memcpy(dst + run.a, xg + c * g.HW + run.a + run.off, sizeof(T) * (run.b - run.a));
      std::fill(dst + run.b, dst + p1, T(0));
      ForEachPaddingColumn(g, run, [&](int64_t p) { dst[p] = T(0); });
    }
    return;
  }
  if (g.taps != nullptr) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
    for (int64_t r = 0; r < g.Kg; ++r) {
      const T* plane = xg + (r / (g.KH * g.KW)) * g.HW;
      const int32_t* tap = g.taps + (r % (g.KH * g.KW)) * g.P;
      T* dst = cols + r * ld - p0;  // indexed by position
      GatherTaps(plane, tap, p0, p1, dst);
    }
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (int64_t r = 0; r < g.Kg; ++r) {
    const int64_t c = r / (g.KH * g.KW);
    const int64_t i = (r / g.KW) % g.KH;
    const int64_t j = r % g.KW;
    const T* plane = xg + c * g.HW;
    const int64_t off = j * g.dw - g.pw;
    // Divisions only here and for the partial first/last output rows: whole rows reuse `full`.
    const auto full = ValidColumns(off, g.sw, g.W, 0, g.OW);
    T* dst = cols + r * ld;
    int64_t ih = oh_first * g.sh - g.ph + i * g.dh;
    for (int64_t p = p0, ow0 = ow_first; p < p1; ow0 = 0, ih += g.sh) {
      const int64_t ow1 = std::min(g.OW, ow0 + (p1 - p));
      if (ih < 0 || ih >= g.H) {
        std::fill(dst, dst + (ow1 - ow0), T(0));
      } else {
        const T* src = plane + ih * g.W + off;
        const auto [lo, hi] = (ow0 == 0 && ow1 == g.OW) ? full : ValidColumns(off, g.sw, g.W, ow0, ow1);
        T* out = dst - ow0;
        for (int64_t ow = ow0; ow < lo; ++ow) out[ow] = T(0);
        if (g.sw == 1) {
          std::memcpy(out + lo, src + lo, sizeof(T) * (hi - lo));
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * g.sw];
        }
        for (int64_t ow = hi; ow < ow1; ++ow) out[ow] = T(0);
      }
      dst += ow1 - ow0;
      p += ow1 - ow0;
    }
  }
}

/** The adjoint of Im2Col: add every element of dcols (Kg rows, leading dimension ld, columns for
 *  positions [p0, p1)) into the input pixel it was read from (padding taps are dropped; dcols is
 *  scratch and may be overwritten).
 *  Channels in parallel when `parallel`: the taps of one channel all land in that channel's
 *  plane, so threads never write the same pixel. */
template <typename T>
void Col2Im(const ConvGeometry& g, T* dcols, int64_t ld, int64_t p0, int64_t p1, T* gxg, bool parallel) {
  (void)parallel;
  const int64_t oh_first = p0 / g.OW;
  const int64_t ow_first = p0 % g.OW;
  if (AffineTaps(g)) {
    // dcols is scratch: its padding-column entries are zeroed so that one long add can run over them.
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
    for (int64_t c = 0; c < g.Cg; ++c) {
      T* plane = gxg + c * g.HW;
      for (int64_t i = 0; i < g.KH; ++i) {
        for (int64_t j = 0; j < g.KW; ++j) {
          const AffineRun run = MakeAffineRun(g, i, j, p0, p1);
          T* src = dcols + ((c * g.KH + i) * g.KW + j) * ld - p0;
          ForEachPaddingColumn(g, run, [&](int64_t p) { src[p] = T(0); });
          T* __restrict dst = plane + run.off;
          const T* __restrict in = src;
          for (int64_t p = run.a; p < run.b; ++p) dst[p] += in[p];
        }
      }
    }
    return;
  }
  if (g.taps != nullptr) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
    for (int64_t c = 0; c < g.Cg; ++c) {
      T* plane = gxg + c * g.HW;
      for (int64_t t = 0; t < g.KH * g.KW; ++t) {
        const T* src = dcols + (c * g.KH * g.KW + t) * ld - p0;
        const int32_t* tap = g.taps + t * g.P;
        // one tap reads each pixel at most once, so these adds never collide
        for (int64_t p = p0; p < p1; ++p) plane[TapIndex(tap[p])] += TapOrNegativeZero(src[p], tap[p]);
      }
    }
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#endif
  for (int64_t c = 0; c < g.Cg; ++c) {
    T* plane = gxg + c * g.HW;
    for (int64_t i = 0; i < g.KH; ++i) {
      for (int64_t j = 0; j < g.KW; ++j) {
        const int64_t off = j * g.dw - g.pw;
        const auto full = ValidColumns(off, g.sw, g.W, 0, g.OW);
        const T* src = dcols + ((c * g.KH + i) * g.KW + j) * ld;
        int64_t ih = oh_first * g.sh - g.ph + i * g.dh;
        for (int64_t p = p0, ow0 = ow_first; p < p1; ow0 = 0, ih += g.sh) {
          const int64_t ow1 = std::min(g.OW, ow0 + (p1 - p));
          if (ih >= 0 && ih < g.H) {
            T* dst = plane + ih * g.W + off;
            const auto [lo, hi] = (ow0 == 0 && ow1 == g.OW) ? full : ValidColumns(off, g.sw, g.W, ow0, ow1);
            const T* in = src - ow0;
            if (g.sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += in[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += in[ow];
            }
          }
          src += ow1 - ow0;
          p += ow1 - ow0;
        }
      }
    }
  }
}

/** Strided (or otherwise non-affine) taps on small output planes: the row-by-row im2col pays a
 *  range computation and a short strided loop per output row and tap (a 7-wide row of the
 *  MNIST/autoencoder stride-2 convolutions is mostly that overhead). A table of every tap's input
 *  offset per output position, the same for every channel and sample, turns both im2col and
 *  col2im into one flat loop per tap. Built per call: KH*KW*P entries, at most kMaxTapTable. */
constexpr int64_t kMaxTapTable = int64_t{1} << 16;
constexpr int64_t kTapTableMaxOW = 32;  // wider rows amortise the per-row work

/** A copy of g whose `taps` points into `table`, filled with the input offset (ih*W + iw) of tap
 *  (i, j) at output position p at table[(i*KW + j)*P + p], -1 where that tap is padding; g
 *  itself when the row-by-row loops serve as well (affine taps, wide rows, a large table). */
ConvGeometry WithTapTable(const ConvGeometry& g, std::vector<int32_t>& table) {
  if (g.direct || AffineTaps(g) || g.OW >= kTapTableMaxOW || g.KH * g.KW * g.P > kMaxTapTable ||
      g.HW > std::numeric_limits<int32_t>::max()) {
    return g;
  }
  table.resize(static_cast<size_t>(g.KH * g.KW * g.P));
  for (int64_t i = 0; i < g.KH; ++i) {
    for (int64_t j = 0; j < g.KW; ++j) {
      int32_t* row = table.data() + (i * g.KW + j) * g.P;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t ih = oh * g.sh - g.ph + i * g.dh;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t iw = ow * g.sw - g.pw + j * g.dw;
          const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
          row[oh * g.OW + ow] = inside ? static_cast<int32_t>(ih * g.W + iw) : -1;
        }
      }
    }
  }
  ConvGeometry out = g;
  out.taps = table.data();
  return out;
}

// ---------------------------------------------------------------------------------------------
// A range of samples, walked in chunks of the batch's position space q = n*P + p

/** Columns per chunk. A chunk may span several samples (small images: the GEMMs get wide enough
 *  to fill the micro-tiles) or part of one. Parallel over the batch: a cols chunk of about
 *  kChunkBytes, still in this core's L2 when the GEMM packs it, yet wide enough that the
 *  GEMM's repacking of W per chunk stays cheap. Serial over the batch (threaded GEMMs): as wide
 *  as kMaxColsBytes allows, so every GEMM is big enough to split between threads. */
constexpr int64_t kChunkBytes = int64_t{1} << 20;  // measured: 128 KiB-4 MiB within 15%, 1 MiB best
constexpr int64_t kMaxColsBytes = int64_t{64} << 20;

template <typename T>
int64_t ChunkColumns(const ConvGeometry& g, int64_t samples, bool cache_sized) {
  const int64_t total = samples * g.P;
  const int64_t budget = (cache_sized ? kChunkBytes : kMaxColsBytes) / static_cast<int64_t>(sizeof(T));
  int64_t chunk = std::max<int64_t>(64, budget / std::max<int64_t>(g.Kg, 1) / 32 * 32);
  if (chunk >= total) return std::max<int64_t>(total, 1);
  // Equal chunks rather than full ones and a ragged tail.
  return std::min(total, CeilDiv(CeilDiv(total, CeilDiv(total, chunk)), 32) * 32);
}

/** One sample's share [p0, p1) of a chunk [q0, q1) of the position space. */
struct Segment {
  int64_t n, p0, p1, col;  // sample, positions, first column in the chunk
};

template <typename Fn>
void ForEachSegment(const ConvGeometry& g, int64_t q0, int64_t q1, Fn&& fn) {
  for (int64_t q = q0; q < q1;) {
    const int64_t n = q / g.P;
    const int64_t p0 = q % g.P;
    const int64_t p1 = std::min(g.P, p0 + (q1 - q));
    fn(Segment{n, p0, p1, q - q0});
    q += p1 - p0;
  }
}

/** Whether the GEMM whose M would be Og (grad_w) should run transposed, with Og as
 *  N: the micro-tile is wider than tall (float32 AVX-512: 14 x 32), so Og = 32 or 64 fills whole
 *  tiles as columns but wastes 24% or 9% of the work as rows. grad_w then pays one transpose of
 *  the weight-sized result. */
template <typename T>
bool OutputChannelsAsColumns(int64_t og) {
  const auto [mr, nr] = GemmMicroTile<T>();
  const double as_rows = double(og) / double(CeilDiv(og, mr) * mr);
  const double as_cols = double(og) / double(CeilDiv(og, nr) * nr);
  return as_cols > as_rows + 0.05;
}

/** dst[o * ld + p] = src[p * og + o] for o < og, p < len: a (len, og) tile into (og, len) rows. */
template <typename T>
void TransposeTile(const T* src, int64_t len, int64_t og, T* dst, int64_t ld) {
  constexpr int64_t kBlock = 32;  // positions per pass: the source rows of a pass stay in L1
  for (int64_t p0 = 0; p0 < len; p0 += kBlock) {
    const int64_t p1 = std::min(len, p0 + kBlock);
    for (int64_t o = 0; o < og; ++o) {
      T* out = dst + o * ld;
      for (int64_t p = p0; p < p1; ++p) out[p] = src[p * og + o];
    }
  }
}

template <typename T>
void ForwardRange(const ConvGeometry& g, const T* x, const T* w, T* y, int64_t n0, int64_t n1, int64_t chunk,
                  bool parallel) {
  const int64_t x_step = g.C * g.HW;
  const int64_t y_step = g.O * g.P;
  if (g.direct) {
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t grp = 0; grp < g.G; ++grp) {
        Gemm<T>(g.Og, g.P, g.Cg, {w + grp * g.Og * g.Kg, g.Kg, 1}, {x + n * x_step + grp * g.Cg * g.HW, g.HW, 1},
                y + n * y_step + grp * g.Og * g.P, g.P, false);
      }
    }
    return;
  }
  T* cols = Scratch<T>(0, static_cast<size_t>(g.Kg * chunk));
  for (int64_t grp = 0; grp < g.G; ++grp) {
    const StridedMatrix<T> wg{w + grp * g.Og * g.Kg, g.Kg, 1};
    for (int64_t q0 = n0 * g.P; q0 < n1 * g.P; q0 += chunk) {
      const int64_t q1 = std::min(n1 * g.P, q0 + chunk);
      const int64_t qc = q1 - q0;
      ForEachSegment(g, q0, q1, [&](const Segment& s) {
        Im2Col<T>(g, x + s.n * x_step + grp * g.Cg * g.HW, s.p0, s.p1, cols + s.col, qc, parallel);
      });
      const int64_t first = q0 / g.P;
      // Og stays the GEMM's M here even where it fits the micro-tile better as columns: the
      // transpose of the output tile that orientation needs costs more than the partial row tiles
      // save (1 thread: MNIST 32->64 14x14 6.5 -> 6.0 ms, 1->32 28x28 1.06 -> 0.75 ms, ResNet
      // 64->64 56x56 97 -> 91 ms).
      if ((q1 - 1) / g.P == first) {  // within one sample: straight into y
        Gemm<T>(g.Og, qc, g.Kg, wg, {cols, qc, 1}, y + first * y_step + grp * g.Og * g.P + q0 % g.P, g.P, false);
        continue;
      }
      T* tmp = Scratch<T>(1, static_cast<size_t>(g.Og * chunk));
      Gemm<T>(g.Og, qc, g.Kg, wg, {cols, qc, 1}, tmp, qc, false);
      ForEachSegment(g, q0, q1, [&](const Segment& s) {
        for (int64_t o = 0; o < g.Og; ++o) {
          std::memcpy(y + s.n * y_step + (grp * g.Og + o) * g.P + s.p0, tmp + o * qc + s.col,
                      sizeof(T) * (s.p1 - s.p0));
        }
      });
    }
  }
}

/** grad_x of samples [n0, n1) (written whole) and gw += their weight gradient; gw holds each
 *  group's (Og, Kg) block transposed, as (Kg, Og), when OutputChannelsAsColumns(Og). */
template <typename T>
void BackwardRange(const ConvGeometry& g, const T* grad, const T* x, const T* w, T* gx, T* gw, int64_t n0, int64_t n1,
                   int64_t chunk, bool parallel) {
  const int64_t x_step = g.C * g.HW;
  const int64_t y_step = g.O * g.P;
  const bool gw_transposed = OutputChannelsAsColumns<T>(g.Og);
  if (g.direct) {
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t grp = 0; grp < g.G; ++grp) {
        const T* xg = x + n * x_step + grp * g.Cg * g.HW;
        const StridedMatrix<T> gg{grad + n * y_step + grp * g.Og * g.P, g.P, 1};
        const StridedMatrix<T> wg_t = StridedMatrix<T>{w + grp * g.Og * g.Kg, g.Kg, 1}.Transposed();
        if (gw && gw_transposed) {
          Gemm<T>(g.Cg, g.Og, g.P, {xg, g.HW, 1}, gg.Transposed(), gw + grp * g.Og * g.Kg, g.Og, true);
        } else if (gw) {
          Gemm<T>(g.Og, g.Cg, g.P, gg, StridedMatrix<T>{xg, g.HW, 1}.Transposed(), gw + grp * g.Og * g.Kg, g.Kg, true);
        }
        if (gx) Gemm<T>(g.Cg, g.HW, g.Og, wg_t, gg, gx + n * x_step + grp * g.Cg * g.HW, g.HW, false);
      }
    }
    return;
  }
  // gx or gw null: that gradient is not wanted (and its im2col or col2im is skipped too).
  if (gx) std::fill(gx + n0 * x_step, gx + n1 * x_step, T(0));
  T* cols = gw ? Scratch<T>(0, static_cast<size_t>(g.Kg * chunk)) : nullptr;
  T* dcols = gx ? Scratch<T>(1, static_cast<size_t>(g.Kg * chunk)) : nullptr;
  for (int64_t grp = 0; grp < g.G; ++grp) {
    const StridedMatrix<T> wg_t = StridedMatrix<T>{w + grp * g.Og * g.Kg, g.Kg, 1}.Transposed();  // (Kg, Og)
    T* gwg = gw ? gw + grp * g.Og * g.Kg : nullptr;
    for (int64_t q0 = n0 * g.P; q0 < n1 * g.P; q0 += chunk) {
      const int64_t q1 = std::min(n1 * g.P, q0 + chunk);
      const int64_t qc = q1 - q0;
      const int64_t first = q0 / g.P;
      StridedMatrix<T> gmat{grad + first * y_step + grp * g.Og * g.P + q0 % g.P, g.P, 1};  // (Og, qc)
      if ((q1 - 1) / g.P != first) {
        // The chunk spans samples: gather its grad columns into one (Og, qc) operand.
        T* tmp = Scratch<T>(3, static_cast<size_t>(g.Og * chunk));
        ForEachSegment(g, q0, q1, [&](const Segment& s) {
          for (int64_t o = 0; o < g.Og; ++o) {
            std::memcpy(tmp + o * qc + s.col, grad + s.n * y_step + (grp * g.Og + o) * g.P + s.p0,
                        sizeof(T) * (s.p1 - s.p0));
          }
        });
        gmat = {tmp, qc, 1};
      }
      if (gw) {
        ForEachSegment(g, q0, q1, [&](const Segment& s) {
          Im2Col<T>(g, x + s.n * x_step + grp * g.Cg * g.HW, s.p0, s.p1, cols + s.col, qc, parallel);
        });
        if (gw_transposed) {
          Gemm<T>(g.Kg, g.Og, qc, {cols, qc, 1}, gmat.Transposed(), gwg, g.Og, true);
        } else {
          Gemm<T>(g.Og, g.Kg, qc, gmat, StridedMatrix<T>{cols, qc, 1}.Transposed(), gwg, g.Kg, true);
        }
      }
      if (!gx) continue;
      Gemm<T>(g.Kg, qc, g.Og, wg_t, gmat, dcols, qc, false);
      ForEachSegment(g, q0, q1, [&](const Segment& s) {
        Col2Im<T>(g, dcols + s.col, qc, s.p0, s.p1, gx + s.n * x_step + grp * g.Cg * g.HW, parallel);
      });
    }
  }
}

/** Threads for the whole call (about 1 MFLOP each at least), and whether they split the batch. */
struct ThreadPlan {
  int threads;
  bool over_batch;
};

ThreadPlan PlanThreads(const ConvGeometry& g, double flops_per_sample) {
  const double by_work = flops_per_sample * double(g.N) / double(1 << 20);
  const int threads = static_cast<int>(std::max(1.0, std::min<double>(MaxThreads(), by_work)));
  // Whole samples per thread when they divide evenly or are many; otherwise (a batch of 1, or
  // 3 samples on 2 threads) the samples run one after another with all threads in each GEMM.
  const bool over_batch = threads > 1 && g.N >= 2 && (g.N % threads == 0 || g.N >= 4 * threads);
  return {threads, over_batch};
}

/** Samples [begin, end) of thread t: contiguous blocks, the same every call. */
inline std::pair<int64_t, int64_t> SampleRange(int64_t n, int threads, int t) {
  return {n * t / threads, n * (t + 1) / threads};
}

/** y[n, o] = y[n, o] + bias[o] (bias may be null), then max(., 0) when relu, for samples [n0, n1). */
template <typename T>
void BiasRelu(const ConvGeometry& g, T* y, const T* bias, bool relu, int64_t n0, int64_t n1) {
  if (!bias && !relu) return;
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t o = 0; o < g.O; ++o) {
      T* row = y + (n * g.O + o) * g.P;
      const T b = bias ? bias[o] : T(0);
      if (relu) {
        for (int64_t p = 0; p < g.P; ++p) row[p] = std::max(row[p] + b, T(0));
      } else {
        for (int64_t p = 0; p < g.P; ++p) row[p] += b;
      }
    }
  }
}

template <typename T>
void Conv2dCompute(const ConvGeometry& geometry, const T* x, const T* w, const T* bias, bool relu, T* y) {
  std::vector<int32_t> taps;
  const ConvGeometry g = WithTapTable(geometry, taps);
  const ThreadPlan plan = PlanThreads(g, 2.0 * double(g.O) * double(g.Kg) * double(g.P));
  if (!plan.over_batch) {
    ForwardRange<T>(g, x, w, y, 0, g.N, ChunkColumns<T>(g, g.N, plan.threads == 1), plan.threads > 1);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(plan.threads) if (plan.threads > 1)
#endif
    for (int64_t n = 0; n < g.N; ++n) BiasRelu(g, y, bias, relu, n, n + 1);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(plan.threads)
#endif
  {
    const auto [n0, n1] = SampleRange(g.N, plan.threads, ThreadId());
    ForwardRange<T>(g, x, w, y, n0, n1, ChunkColumns<T>(g, n1 - n0, true), false);
    BiasRelu(g, y, bias, relu, n0, n1);  // while this thread's output is still in its cache
  }
}

template <typename T>
void Conv2dBackwardCompute(const ConvGeometry& geometry, const T* grad, const T* x, const T* w, T* gx, T* gw) {
  std::vector<int32_t> taps;
  const ConvGeometry g = WithTapTable(geometry, taps);
  const int64_t w_size = g.O * g.Kg;
  const double passes = (gx ? 2.0 : 0.0) + (gw ? 2.0 : 0.0);
  const ThreadPlan plan = PlanThreads(g, passes * double(g.O) * double(g.Kg) * double(g.P));
  const int parts = plan.over_batch ? plan.threads : 1;
  // grad_w accumulates in partials: one per thread when the threads split the batch (no races;
  // the fixed split keeps grad_w bitwise reproducible from call to call), and summed at the end.
  T* partials = gw ? Scratch<T>(2, static_cast<size_t>(w_size * parts)) : nullptr;
  if (!plan.over_batch) {
    if (gw) std::fill(partials, partials + w_size, T(0));
    BackwardRange<T>(g, grad, x, w, gx, partials, 0, g.N, ChunkColumns<T>(g, g.N, plan.threads == 1),
                     plan.threads > 1);
  } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(plan.threads)
#endif
    {
      const int t = ThreadId();
      T* mine = gw ? partials + t * w_size : nullptr;
      if (gw) std::fill(mine, mine + w_size, T(0));
      const auto [n0, n1] = SampleRange(g.N, plan.threads, t);
      BackwardRange<T>(g, grad, x, w, gx, mine, n0, n1, ChunkColumns<T>(g, n1 - n0, true), false);
    }
  }
  if (!gw) return;
  for (int t = 1; t < parts; ++t) {
    const T* part = partials + t * w_size;
    for (int64_t i = 0; i < w_size; ++i) partials[i] += part[i];
  }
  if (!OutputChannelsAsColumns<T>(g.Og)) {
    std::copy(partials, partials + w_size, gw);
    return;
  }
  for (int64_t grp = 0; grp < g.G; ++grp) {
    TransposeTile(partials + grp * g.Og * g.Kg, g.Kg, g.Og, gw + grp * g.Og * g.Kg, g.Kg);
  }
}

/** gb[o] = sum of grad[n, o, :, :] over n (accumulated in double), channels in parallel. */
template <typename T>
void BiasGrad(const ConvGeometry& g, const T* grad, T* gb) {
  const int threads = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(MaxThreads(), g.N * g.O * g.P / (int64_t{1} << 16))));
  (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* row = grad + (n * g.O + o) * g.P;
      T part = 0;
      for (int64_t p = 0; p < g.P; ++p) part += row[p];
      acc += double(part);
    }
    gb[o] = T(acc);
  }
}

// ---------------------------------------------------------------------------------------------
// Choosing between im2col + GEMM and Winograd F(4x4, 3x3), by measurement

enum Algo { kIm2col = 0, kWinograd = 1 };

/** The forced algorithm (-1: choose by measurement); MINIDL_CONV_ALGO=im2col|winograd|auto at load. */
int& ForcedAlgo() {
  static int forced = [] {
    const char* env = std::getenv("MINIDL_CONV_ALGO");
    const std::string v = env ? env : "auto";
    return v == "im2col" ? int(kIm2col) : v == "winograd" ? int(kWinograd) : -1;
  }();
  return forced;
}

/** Per geometry: the algorithm measured faster (-1: not measured yet). */
using AlgoKey = std::array<int64_t, 13>;

std::mutex& AlgoMutex() {
  static std::mutex m;
  return m;
}

std::map<AlgoKey, int>& AlgoTable() {
  static std::map<AlgoKey, int> table;
  return table;
}

/** The measured times, kept for conv2d_algorithm_choices(). */
std::map<AlgoKey, std::array<double, 2>>& AlgoTimes() {
  static std::map<AlgoKey, std::array<double, 2>> times;
  return times;
}

constexpr int kTimedRuns = 3;  // runs timed per algorithm (the best counts: the first may be cold, others noisy)

bool WinogradApplies(const ConvGeometry& g) {
  return g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

/** Runs run(algo) with the algorithm chosen for this geometry (pass: 0 forward, else the
 *  backward's output mask + 1). The first call of a geometry times both algorithms (kTimedRuns
 *  each, alternating, on this very call's arrays) and keeps the faster for the process; the call's
 *  result always comes from the kept one, so results are the same from call to call.
 *  conv2d_algorithm() forgets the choices (re-measures) or forces one. */
template <typename Fn>
void RunChosen(const ConvGeometry& g, int64_t itemsize, int64_t pass, Fn&& run) {
  if (!WinogradApplies(g)) return run(kIm2col);
  const AlgoKey key{pass, itemsize, g.N, g.C, g.H, g.W, g.O, g.G, g.ph, g.pw, g.OH, g.OW, MaxThreads()};
  int known = -1;
  {
    std::lock_guard<std::mutex> lock(AlgoMutex());
    const auto it = AlgoTable().find(key);
    known = ForcedAlgo() >= 0 ? ForcedAlgo() : it != AlgoTable().end() ? it->second : -1;
  }
  if (known >= 0) return run(known);
  std::array<double, 2> best{1e300, 1e300};
  int last = kIm2col;
  for (int i = 0; i < 2 * kTimedRuns; ++i) {
    last = i % 2 == 0 ? kWinograd : kIm2col;
    const auto start = std::chrono::steady_clock::now();
    run(last);
    best[last] = std::min(best[last], std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  int chosen;
  {
    std::lock_guard<std::mutex> lock(AlgoMutex());
    // Another thread may have decided this geometry meanwhile: its choice stands.
    chosen = AlgoTable().emplace(key, best[kWinograd] < best[kIm2col] ? kWinograd : kIm2col).first->second;
    AlgoTimes()[key] = best;
  }
  if (chosen != last) run(chosen);
}

WinogradShape ToWinograd(const ConvGeometry& g) { return {g.N, g.C, g.H, g.W, g.O, g.G, g.ph, g.pw, g.OH, g.OW}; }

}  // namespace

namespace {

/** The forward of conv2d and conv2d_bias: bias may be None. */
py::array ForwardImpl(const char* op, const py::array& x, const py::array& w, const py::object& bias, bool relu,
                      const py::object& stride, const py::object& padding, const py::object& dilation,
                      const py::object& groups) {
  const ConvGeometry g = CheckConvArguments(x, w, stride, padding, dilation, groups, op);
  py::array b;  // (a default py::array is an empty array, not null: has_bias says whether there is one)
  const bool has_bias = !bias.is_none();
  if (has_bias) {
    b = py::array::ensure(bias);
    MINIDL_CHECK(b && b.ndim() == 1 && b.shape(0) == g.O && (b.flags() & py::array::c_style), op,
                 "b must be a C-contiguous 1-D array of " + std::to_string(g.O) + " elements (w " + ShapeString(w) +
                     ")");
    CheckSameDtype(x, b, op);
  }
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y({g.N, g.O, g.OH, g.OW});
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(w);
    const T* pb = has_bias ? DataOf<T>(b) : nullptr;
    T* py_ = y.mutable_data();
    {
      py::gil_scoped_release release;
      if (y.size() > 0) {
        RunChosen(g, sizeof(T), 0, [&](int algo) {
          if (algo == kWinograd) {
            WinogradForward<T>(ToWinograd(g), px, pw, pb, relu, py_);
          } else {
            Conv2dCompute<T>(g, px, pw, pb, relu, py_);
          }
        });
      }
    }
    return y;
  });
}

/** need: None (both) or a tuple/list of 2 or 3 truth values (grad_x, grad_w[, grad_b]). */
std::vector<bool> NeedMask(const py::object& need, const char* op) {
  if (need.is_none()) return {true, true};
  const bool ok = (py::isinstance<py::tuple>(need) || py::isinstance<py::list>(need)) &&
                  (py::len(need) == 2 || py::len(need) == 3);
  MINIDL_CHECK(ok, op, "need must be a tuple of 2 or 3 bools (grad_x, grad_w[, grad_b]), got " +
                           py::repr(need).cast<std::string>());
  std::vector<bool> mask;
  for (const auto& item : need) mask.push_back(py::bool_(py::reinterpret_borrow<py::object>(item)));
  return mask;
}

}  // namespace

/** conv2d(x, w, stride, padding, dilation, groups) -> y
 *  x (N, C, H, W), w (O, C // groups, KH, KW), C-contiguous, one dtype (float32 or float64);
 *  stride, dilation: pairs of ints >= 1, padding: pair of ints >= 0; groups >= 1 dividing C and O.
 *  Returns y (N, O, OH, OW), OH = (H + 2ph - dh(KH-1) - 1) // sh + 1, a new C-contiguous array
 *  (cross-correlation with zero padding, as reference.conv2d). Releases the GIL while computing.
 *  3x3 stride-1 convolutions run as im2col + GEMM or Winograd F(4x4, 3x3), whichever measured
 *  faster for the geometry (conv2d_algorithm). */
py::array Conv2dForward(const py::array& x, const py::array& w, const py::object& stride, const py::object& padding,
                        const py::object& dilation, const py::object& groups) {
  return ForwardImpl("conv2d", x, w, py::none(), false, stride, padding, dilation, groups);
}

/** conv2d_bias(x, w, b, stride, padding, dilation, groups, relu) -> conv2d(...) + b[o] (then
 *  max(., 0) when relu), the bias and activation applied in the kernel's epilogue. */
py::array Conv2dBiasForward(const py::array& x, const py::array& w, const py::array& b, const py::object& stride,
                            const py::object& padding, const py::object& dilation, const py::object& groups,
                            bool relu) {
  return ForwardImpl("conv2d_bias", x, w, b, relu, stride, padding, dilation, groups);
}

/** conv2d_backward(grad, x, w, stride, padding, dilation, groups, need=None) -> (grad_x, grad_w[, grad_b])
 *  grad (N, O, OH, OW) is the gradient of conv2d(x, w, ...); the rest as in conv2d. Returns
 *  grad_x with x's shape (pixels no window reaches get 0) and grad_w with w's shape (summed over
 *  the batch; zeros for an empty batch); with need = (gx, gw, gb) also grad_b (O,), the bias
 *  gradient. An entry of need that is false gives None and its work is skipped.
 *  Releases the GIL while computing. */
py::tuple Conv2dBackward(const py::array& grad, const py::array& x, const py::array& w, const py::object& stride,
                         const py::object& padding, const py::object& dilation, const py::object& groups,
                         const py::object& need) {
  const char* op = "conv2d_backward";
  const ConvGeometry g = CheckConvArguments(x, w, stride, padding, dilation, groups, op);
  const std::vector<bool> mask = NeedMask(need, op);
  CheckFloatArray(grad, 4, op, "grad");
  CheckSameDtype(grad, x, op);
  MINIDL_CHECK(grad.shape(0) == g.N && grad.shape(1) == g.O && grad.shape(2) == g.OH && grad.shape(3) == g.OW, op,
               "grad has shape " + ShapeString(grad) + ", expected the output shape (" + std::to_string(g.N) + ", " +
                   std::to_string(g.O) + ", " + std::to_string(g.OH) + ", " + std::to_string(g.OW) + ") of x " +
                   ShapeString(x) + " and w " + ShapeString(w));
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::object out_x = py::none(), out_w = py::none(), out_b = py::none();
    T *pgx = nullptr, *pgw = nullptr, *pgb = nullptr;
    if (mask[0]) {
      py::array_t<T> a({g.N, g.C, g.H, g.W});
      pgx = a.mutable_data();
      out_x = a;
    }
    if (mask[1]) {
      py::array_t<T> a({g.O, g.Cg, g.KH, g.KW});
      pgw = a.mutable_data();
      out_w = a;
    }
    if (mask.size() == 3 && mask[2]) {
      py::array_t<T> a({g.O});
      pgb = a.mutable_data();
      out_b = a;
    }
    const T* pg = DataOf<T>(grad);
    const T* px = DataOf<T>(x);
    const T* pw = DataOf<T>(w);
    {
      py::gil_scoped_release release;
      if (pgb) BiasGrad<T>(g, pg, pgb);
      if (g.N == 0 || g.O == 0 || g.C == 0) {
        // Nothing to sum over (or nothing to sum into): the gradients are zero.
        if (pgx) std::fill(pgx, pgx + g.N * g.C * g.HW, T(0));
        if (pgw) std::fill(pgw, pgw + g.O * g.Kg, T(0));
      } else if (pgx || pgw) {
        RunChosen(g, sizeof(T), 1 + (pgx ? 1 : 0) + (pgw ? 2 : 0), [&](int algo) {
          if (algo == kWinograd) {
            WinogradBackward<T>(ToWinograd(g), pg, px, pw, pgx, pgw);
          } else {
            Conv2dBackwardCompute<T>(g, pg, px, pw, pgx, pgw);
          }
        });
      }
    }
    if (mask.size() == 3) return py::make_tuple(out_x, out_w, out_b);
    return py::make_tuple(out_x, out_w);
  });
}

/** conv2d_algorithm(mode=None) -> the previous mode. mode "auto" (choose by measurement),
 *  "im2col" or "winograd" (forced, for 3x3 stride-1 convolutions); setting any mode forgets the
 *  measured choices, so "auto" re-tunes. None only reads the mode. */
std::string Conv2dAlgorithm(const py::object& mode) {
  std::lock_guard<std::mutex> lock(AlgoMutex());
  const int old = ForcedAlgo();
  const std::string previous = old == kIm2col ? "im2col" : old == kWinograd ? "winograd" : "auto";
  if (mode.is_none()) return previous;
  const std::string m = py::str(mode);
  MINIDL_CHECK(m == "auto" || m == "im2col" || m == "winograd", "conv2d_algorithm",
               "mode must be 'auto', 'im2col' or 'winograd', got " + py::repr(mode).cast<std::string>());
  ForcedAlgo() = m == "im2col" ? int(kIm2col) : m == "winograd" ? int(kWinograd) : -1;
  AlgoTable().clear();
  AlgoTimes().clear();
  return previous;
}

/** The measured choices so far: a list of dicts (pass, shape, times, chosen) for inspection. */
py::list Conv2dAlgorithmChoices() {
  std::lock_guard<std::mutex> lock(AlgoMutex());
  py::list out;
  for (const auto& [key, chosen] : AlgoTable()) {
    py::dict d;
    d["pass"] = key[0] == 0 ? "forward" : "backward";
    if (key[0] > 0) d["need"] = py::make_tuple((key[0] - 1) & 1 ? true : false, (key[0] - 1) & 2 ? true : false);
    d["x"] = py::make_tuple(key[2], key[3], key[4], key[5]);
    d["out_channels"] = key[6];
    d["groups"] = key[7];
    d["padding"] = py::make_tuple(key[8], key[9]);
    d["itemsize"] = key[1];
    d["threads"] = key[12];
    const auto& t = AlgoTimes()[key];
    d["im2col_s"] = t[kIm2col];
    d["winograd_s"] = t[kWinograd];
    d["chosen"] = chosen == kWinograd ? "winograd" : "im2col";
    out.append(d);
  }
  return out;
}

}  // namespace cpu
}  // namespace minidl
