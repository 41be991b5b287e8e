// attention and attention_backward: fused scaled-dot-product attention (FlashAttention-2 style), float32/float64.
//
// Contract (minidl/backends/reference.py): q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev), an optional additive
// mask (MB, MH, ML, S) with MB in {1, B}, MH in {1, H}, ML in {1, L} (a key-padding row shared by every query),
// top-left causal masking, a scale. The forward returns
// out (B, H, L, Ev) and lse (B, H, L); a row that sees no key gives out = 0, lse = -inf and no gradient.
//
// Forward: one work unit is one (batch*head, tile of Bq query rows). The unit walks the key blocks of Bk keys
// (skipping the blocks wholly above the diagonal when causal) and keeps, per query row, the running max m, the
// running sum l of exp(s - m) and the unnormalised output O (Bq x Ev): for each block the scores are computed into
// a Bk x Bq scratch tile ("St", keys down, queries across, so the softmax statistics vectorize over queries), then
// m, l and O are rescaled by exp(m_old - m_new) and O += P^T V. Only that tile is ever held: never L x S.
//
// Backward (FlashAttention-2): D_i = sum(dO_i * O_i); P is recomputed from lse. A work unit is one (batch*head,
// chunk of key blocks); for each key block it sweeps the query tiles that see it and accumulates dV += P^T dO and
// dK += dS^T Q in registers/cache, and adds dS K into a dQ buffer that belongs to the unit (the output itself when
// a head has one chunk, else a per-chunk partial summed afterwards), so no two threads ever write the same memory.
// The chunking only splits a head when there are fewer heads than threads can use.
//
// The small products run through register-blocked micro-kernels (kMR rows x two vectors, GCC vector extensions:
// AVX-512/AVX2 FMAs under -march=native). exp is a branch-free Cody-Waite reduction + polynomial that `omp simd`
// vectorizes. Tile sizes come from the detected L2 size at run time (MINIDL_ATTENTION_TILES="bq,bk" overrides).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"

// The exp loops must become SIMD: GCC keeps the float compares (clamps) as branches unless it may assume that FP
// operations do not trap. No code here reads the FP exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#if defined(__AVX512F__)
#define MINIDL_ATTN_VEC_BYTES 64
#define MINIDL_ATTN_MR 8
#elif defined(__AVX__)
#define MINIDL_ATTN_VEC_BYTES 32
#define MINIDL_ATTN_MR 6
#else
#define MINIDL_ATTN_VEC_BYTES 16
#define MINIDL_ATTN_MR 4
#endif

namespace minidl {
namespace cpu {
namespace {

struct AttentionPool {};  // ThreadScratch tag of this file

typedef float AttnVecF __attribute__((vector_size(MINIDL_ATTN_VEC_BYTES), __may_alias__));
typedef double AttnVecD __attribute__((vector_size(MINIDL_ATTN_VEC_BYTES), __may_alias__));
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  using type = AttnVecF;
};
template <>
struct VecOf<double> {
  using type = AttnVecD;
};

constexpr int kMR = MINIDL_ATTN_MR;  // micro-tile rows; columns: two vectors

template <typename T>
constexpr int Lanes() {
  return MINIDL_ATTN_VEC_BYTES / static_cast<int>(sizeof(T));
}

template <typename T>
inline typename VecOf<T>::type LoadV(const T* p) {
  typename VecOf<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void StoreV(T* p, typename VecOf<T>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

/** C[r, 0:2VL] (=|+=) sum_k A(r, k) B[k, 0:2VL] for r < R; A(r, k) = a[r*ars + k*acs], B rows ldb apart. */
template <typename T, int R>
inline void MicroTile(int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c, int64_t ldc,
                      bool accumulate) {
  using V = typename VecOf<T>::type;
  constexpr int VL = Lanes<T>();
  V c0[R], c1[R];
  for (int r = 0; r < R; ++r) {
    if (accumulate) {
      c0[r] = LoadV(c + r * ldc);
      c1[r] = LoadV(c + r * ldc + VL);
    } else {
      c0[r] = V{};
      c1[r] = V{};
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const V b0 = LoadV(b + k * ldb), b1 = LoadV(b + k * ldb + VL);
    const T* ak = a + k * acs;
    for (int r = 0; r < R; ++r) {
      const T av = ak[r * ars];
      c0[r] += av * b0;
      c1[r] += av * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    StoreV(c + r * ldc, c0[r]);
    StoreV(c + r * ldc + VL, c1[r]);
  }
}

/** The same for n < 2VL columns (partial tiles): one row of accumulators at a time. */
template <typename T>
void TailTile(int64_t R, int64_t n, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
              int64_t ldc, bool accumulate) {
  constexpr int NR = 2 * Lanes<T>();
  for (int64_t r = 0; r < R; ++r) {
    T acc[NR];
    for (int64_t j = 0; j < n; ++j) acc[j] = accumulate ? c[r * ldc + j] : T(0);
    const T* ar = a + r * ars;
    for (int64_t k = 0; k < K; ++k) {
      const T av = ar[k * acs];
      const T* bk = b + k * ldb;
      for (int64_t j = 0; j < n; ++j) acc[j] += av * bk[j];
    }
    for (int64_t j = 0; j < n; ++j) c[r * ldc + j] = acc[j];
  }
}

struct PackPool {};  // ThreadScratch tag of the packed B panels

/** C (M x N, ldc) (=|+=) A (M x K, A(i, k) = a[i*ars + k*acs]) B (K x N). Small products that fit the caches.
 *  B is either row-major with leading dimension ldb (bps = 0): each column panel (K x 2VL) is then copied into a
 *  contiguous buffer first, since its rows may lie a power of two apart and would all map to a few L1 sets; or
 *  already packed in panels (bps > 0): B(k, j) = b[(j / 2VL) * bps + k * 2VL + j % 2VL] (PackRows/PackColumns). */
template <typename T>
void TileGemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb,
              int64_t bps, T* c, int64_t ldc, bool accumulate) {
  constexpr int NR = 2 * Lanes<T>();
  T* packed = bps > 0 ? nullptr : ThreadScratch<T, PackPool, 1>(0, static_cast<size_t>(K * NR + 1));
  for (int64_t j = 0; j < N; j += NR) {
    const int64_t n = std::min<int64_t>(NR, N - j);
    const T* bp = b + j;
    int64_t ldp = ldb;
    if (bps > 0) {
      bp = b + (j / NR) * bps;
      ldp = NR;
    } else if (n == NR && M > kMR) {
      for (int64_t k = 0; k < K; ++k) std::memcpy(packed + k * NR, b + k * ldb + j, NR * sizeof(T));
      bp = packed;
      ldp = NR;
    }
    for (int64_t i = 0; i < M; i += kMR) {
      const int64_t m = std::min<int64_t>(kMR, M - i);
      const T* ai = a + i * ars;
      T* ci = c + i * ldc + j;
      if (n < NR) {
        TailTile<T>(m, n, K, ai, ars, acs, bp, ldp, ci, ldc, accumulate);
        continue;
      }
      switch (m) {
        case kMR: MicroTile<T, kMR>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
        case 1: MicroTile<T, 1>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
        case 2: MicroTile<T, 2>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
        case 3: MicroTile<T, 3>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
#if MINIDL_ATTN_MR > 4
        case 4: MicroTile<T, 4>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
        case 5: MicroTile<T, 5>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
#endif
#if MINIDL_ATTN_MR > 6
        case 6: MicroTile<T, 6>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
        case 7: MicroTile<T, 7>(K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
#endif
        default: TailTile<T>(m, n, K, ai, ars, acs, bp, ldp, ci, ldc, accumulate); break;
      }
    }
  }
}

template <typename T>
constexpr int64_t PanelWidth() {
  return 2 * Lanes<T>();
}

/** Elements of the panel-packed copy of an R x C matrix (columns rounded up to whole panels). */
template <typename T>
int64_t PackedSize(int64_t R, int64_t C) {
  return CeilDiv(C, PanelWidth<T>()) * PanelWidth<T>() * R;
}

/** X (R x C, row-major) as a panel-packed B operand (K = R, N = C; panel stride R * NR): dst[(c / NR) * R * NR +
 *  r * NR + c % NR] = X[r, c]. Rows r0.. of B then start at dst + r0 * NR. */
template <typename T>
void PackRows(const T* x, int64_t R, int64_t C, T* dst) {
  constexpr int64_t NR = PanelWidth<T>();
  for (int64_t c0 = 0; c0 < C; c0 += NR) {
    const int64_t n = std::min(NR, C - c0);
    T* d = dst + (c0 / NR) * R * NR;
    for (int64_t r = 0; r < R; ++r) std::memcpy(d + r * NR, x + r * C + c0, n * sizeof(T));
  }
}

/** s * X^T (X R x C row-major) as a panel-packed B operand (K = C, N = R; panel stride C * NR): dst[(r / NR) * C *
 *  NR + c * NR + r % NR] = s * X[r, c]. Columns j0.. (j0 a multiple of NR) start at dst + (j0 / NR) * C * NR. */
template <typename T>
void PackColumns(const T* x, int64_t R, int64_t C, T s, T* dst) {
  constexpr int64_t NR = PanelWidth<T>();
  for (int64_t r0 = 0; r0 < R; r0 += NR) {
    const int64_t n = std::min(NR, R - r0);
    T* d = dst + (r0 / NR) * C * NR;
    for (int64_t r = 0; r < n; ++r) {
      const T* xr = x + (r0 + r) * C;
      for (int64_t c = 0; c < C; ++c) d[c * NR + r] = s * xr[c];
    }
  }
}

/** The leading dimension of a score tile of `bq` columns: padded off multiples of 256 bytes, so that walking
 *  down a column of the tile does not hit the same few L1 sets. */
template <typename T>
int64_t TileLd(int64_t bq) {
  const int64_t per256 = 256 / static_cast<int64_t>(sizeof(T));
  return bq % per256 == 0 ? bq + Lanes<T>() : bq;
}

// ---------------------------------------------------------------------------------------------------------------
// exp for the probabilities: branch-free, so `omp simd` loops vectorize it; exactly 0 for -inf (masked scores).

template <typename T>
struct ExpConst;
template <>
struct ExpConst<float> {
  using Bits = uint32_t;
  static constexpr float kLo = -87.0f, kHi = 88.0f;  // 2^n stays a normal float
  static constexpr float kShifter = 12582912.0f;     // 1.5 * 2^23: adding it rounds to an integer
  static constexpr int kMantissa = 23;
  static constexpr Bits kBias = 127;
};
template <>
struct ExpConst<double> {
  using Bits = uint64_t;
  static constexpr double kLo = -708.0, kHi = 709.0;
  static constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int kMantissa = 52;
  static constexpr Bits kBias = 1023;
};

/** e**r on |r| <= ln2/2: float, Cephes' expf polynomial (1 + r + r^2 p(r), p of degree 5, about 1 ulp); double, the
 *  Taylor series to degree 13 in Horner form (relative error < 2e-16). */
inline __attribute__((always_inline)) float ExpReduced(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}
inline __attribute__((always_inline)) double ExpReduced(double r) {
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  return p * r + 1.0;
}

/** e**x for x <= kHi (scores minus their running max are <= 0); 0 below kLo, so exp(-inf) = 0. */
template <typename T>
inline __attribute__((always_inline)) T ExpNonPos(T x) {
  using C = ExpConst<T>;
  using Bits = typename C::Bits;
  const bool under = x < T(C::kLo);
  T xc = under ? T(C::kLo) : x;
  xc = xc > T(C::kHi) ? T(C::kHi) : xc;
  const T k = xc * T(1.4426950408889634) + C::kShifter;  // round(x / ln2) sits in k's low mantissa bits
  const T n = k - C::kShifter;
  Bits kb;
  std::memcpy(&kb, &k, sizeof(T));
  const Bits sb = (kb + C::kBias) << C::kMantissa;
  T scale;
  std::memcpy(&scale, &sb, sizeof(T));
  const T r = (xc - n * T(0.693145751953125)) - n * T(1.4286068203094172321e-6);  // Cody-Waite ln2 = hi + lo
  const T y = ExpReduced(r) * scale;
  return under ? T(0) : y;
}

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------------------------------------------
// tiles and threads

struct Tiles {
  int64_t bq, bk;
};

int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/** (bq, bk) from MINIDL_ATTENTION_TILES="bq,bk" when set (read once), else {0, 0}. */
std::pair<int64_t, int64_t> TileOverride() {
  static const std::pair<int64_t, int64_t> value = [] {
    const char* env = std::getenv("MINIDL_ATTENTION_TILES");
    long long a = 0, b = 0;
    if (env == nullptr || std::sscanf(env, "%lld,%lld", &a, &b) != 2 || a <= 0 || b <= 0)
      return std::pair<int64_t, int64_t>{0, 0};
    return std::pair<int64_t, int64_t>{a, b};
  }();
  return value;
}

/** Square tiles (Bq = Bk, a multiple of the micro-tile width) whose working set (the Q/dO tiles, the K/V blocks,
 *  the score tiles and the accumulators, `per_row` elements per row of a tile plus two Bq x Bk tiles) fits 3/4 of
 *  the L2; shrunk while there are fewer query tiles than 2 per thread. */
template <typename T>
Tiles ChooseTiles(int64_t rows, int64_t heads, int64_t per_row) {
  const auto forced = TileOverride();
  constexpr int64_t NR = 2 * Lanes<T>();
  if (forced.first > 0) return {CeilDiv(forced.first, NR) * NR, forced.second};  // query tiles: whole panels
  const CpuCaches& caches = DetectedCaches();
  const int64_t l2 = caches.l2 > 0 ? caches.l2 : (256 << 10);
  const int64_t budget = l2 * 3 / 4 / static_cast<int64_t>(sizeof(T));
  int64_t t = 256;
  while (t > NR && t * per_row + 2 * t * t > budget) t -= NR;
  const int64_t want_units = 2 * static_cast<int64_t>(MaxThreads());
  while (t > NR && heads * CeilDiv(rows, t) < want_units) t -= NR;
  return {t, t};
}

/** fn(unit) for unit in [0, units) over the OpenMP threads, dynamically (causal units differ in cost). */
template <typename F>
void ParallelUnits(int64_t units, F&& fn) {
  const int threads = static_cast<int>(std::min<int64_t>(MaxThreads(), units));
  if (threads <= 1) {
    for (int64_t u = 0; u < units; ++u) fn(u);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t u = 0; u < units; ++u) fn(u);
#endif
}

// ---------------------------------------------------------------------------------------------------------------
// operands

template <typename T>
struct Problem {
  int64_t B, H, L, S, E, Ev, MB, MH, ML;
  const T *q, *k, *v, *mask;
  bool causal;
  T scale;

  int64_t Heads() const { return B * H; }
  /** The mask rows of head `bh` ((L, S) row-major), or null. */
  const T* MaskOf(int64_t bh) const {
    if (mask == nullptr) return nullptr;
    const int64_t b = bh / H, h = bh % H;
    return mask + ((MB == 1 ? 0 : b) * MH + (MH == 1 ? 0 : h)) * ML * S;
  }
  /** Elements between the mask rows of consecutive queries: 0 when one row serves every query (ML == 1). */
  int64_t MaskRowStride() const { return ML == 1 ? 0 : S; }
};

/** Adds the mask and the causal -inf to the score tile St (bk keys x bq queries, leading dimension ld) of keys
 *  j0.. and queries i0... */
template <typename T>
void MaskTile(const Problem<T>& p, const T* mrows, int64_t i0, int64_t bq, int64_t j0, int64_t bk, T* st,
              int64_t ld) {
  if (mrows != nullptr) {
    for (int64_t i = 0; i < bq; ++i) {
      const T* mr = mrows + (i0 + i) * p.MaskRowStride() + j0;
      for (int64_t j = 0; j < bk; ++j) st[j * ld + i] += mr[j];
    }
  }
  if (p.causal && j0 + bk - 1 > i0) {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < bk; ++j) {
      const int64_t first = std::max<int64_t>(0, std::min<int64_t>(bq, j0 + j - i0));  // queries i < j0+j-i0
      for (int64_t i = 0; i < first; ++i) st[j * ld + i] = ninf;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// forward

template <typename T>
void Forward(const Problem<T>& p, T* out, T* lse) {
  const int64_t E = p.E, Ev = p.Ev, L = p.L, S = p.S;
  const Tiles t = ChooseTiles<T>(L, p.Heads(), 2 * E + 2 * Ev);
  const int64_t Bq = t.bq, Bk = t.bk;
  const int64_t qtiles = CeilDiv(L, Bq);
  const T ninf = -std::numeric_limits<T>::infinity();
  // V of every head packed once as the right operand of O += P^T V (linear in the size of v).
  const int64_t vsize = PackedSize<T>(S, Ev);
  std::vector<T> vp(p.Heads() * vsize);
  ParallelUnits(p.Heads(), [&](int64_t bh) { PackRows(p.v + bh * S * Ev, S, Ev, vp.data() + bh * vsize); });
  ParallelUnits(p.Heads() * qtiles, [&](int64_t unit) {
    const int64_t bh = unit / qtiles, i0 = (unit % qtiles) * Bq, bq = std::min(Bq, L - i0);
    const T* q = p.q + (bh * L + i0) * E;
    const T* k = p.k + bh * S * E;
    const T* v = vp.data() + bh * vsize;
    const T* mrows = p.MaskOf(bh);
    const int64_t ld = TileLd<T>(Bq);
    T* qt = ThreadScratch<T, AttentionPool, 4>(0, static_cast<size_t>(PackedSize<T>(E, Bq) + 1));
    T* st = ThreadScratch<T, AttentionPool, 4>(1, static_cast<size_t>(Bk * ld + 1));
    T* o = ThreadScratch<T, AttentionPool, 4>(2, static_cast<size_t>(Bq * Ev + 1));
    T* stats = ThreadScratch<T, AttentionPool, 4>(3, static_cast<size_t>(5 * Bq));
    T *m = stats, *l = stats + Bq, *mx = stats + 2 * Bq, *alpha = stats + 3 * Bq, *mu = stats + 4 * Bq;
    PackColumns(q, bq, E, p.scale, qt);  // scale * Q_tile^T, panels of query columns
    std::fill(o, o + bq * Ev, T(0));
    std::fill(m, m + bq, ninf);
    std::fill(l, l + bq, T(0));
    const int64_t j_end = p.causal ? std::min(S, i0 + bq) : S;
    for (int64_t j0 = 0; j0 < j_end; j0 += Bk) {
      const int64_t bk = std::min(Bk, j_end - j0);
      TileGemm<T>(bk, bq, E, k + j0 * E, E, 1, qt, 0, E * PanelWidth<T>(), st, ld, false);
      MaskTile(p, mrows, i0, bq, j0, bk, st, ld);
      std::copy(m, m + bq, mx);
      for (int64_t j = 0; j < bk; ++j) {
        const T* sj = st + j * ld;
#pragma omp simd
        for (int64_t i = 0; i < bq; ++i) mx[i] = sj[i] > mx[i] ? sj[i] : mx[i];
      }
      bool rescale = false;
      for (int64_t i = 0; i < bq; ++i) {
        mu[i] = mx[i] == ninf ? T(0) : mx[i];  // a row with no visible key so far: exp(-inf - 0) = 0
        alpha[i] = m[i] == mx[i] ? T(1) : ExpNonPos<T>(m[i] - mu[i]);
        rescale = rescale || alpha[i] != T(1);
        m[i] = mx[i];
        l[i] *= alpha[i];
      }
      for (int64_t j = 0; j < bk; ++j) {
        T* sj = st + j * ld;
#pragma omp simd
        for (int64_t i = 0; i < bq; ++i) {
          const T e = ExpNonPos<T>(sj[i] - mu[i]);
          sj[i] = e;
          l[i] += e;
        }
      }
      if (rescale) {
        for (int64_t i = 0; i < bq; ++i) {
          const T a = alpha[i];
          T* oi = o + i * Ev;
#pragma omp simd
          for (int64_t c = 0; c < Ev; ++c) oi[c] *= a;
        }
      }
      TileGemm<T>(bq, Ev, bk, st, 1, ld, v + j0 * PanelWidth<T>(), 0, S * PanelWidth<T>(), o, Ev, true);  // O += P^T V (P^T(i, j) = st[j*ld + i])
    }
    T* dst = out + (bh * L + i0) * Ev;
    T* lse_row = lse + bh * L + i0;
    for (int64_t i = 0; i < bq; ++i) {
      const bool seen = l[i] > T(0);
      const T inv = seen ? T(1) / l[i] : T(0);
      for (int64_t c = 0; c < Ev; ++c) dst[i * Ev + c] = o[i * Ev + c] * inv;
      lse_row[i] = seen ? m[i] + std::log(l[i]) : ninf;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// backward

template <typename T>
struct Grads {
  const T *grad, *out, *lse;
  T *dq, *dk, *dv;
};

template <typename T>
void Backward(const Problem<T>& p, const Grads<T>& g) {
  const int64_t E = p.E, Ev = p.Ev, L = p.L, S = p.S, BH = p.Heads();
  const bool need_q = g.dq != nullptr, need_k = g.dk != nullptr, need_v = g.dv != nullptr;
  const bool need_ds = need_q || need_k;
  const Tiles t = ChooseTiles<T>(S, BH, 4 * E + 4 * Ev);
  const int64_t Bq = t.bq, Bk = t.bk;
  const T ninf = -std::numeric_limits<T>::infinity();
  const T pinf = std::numeric_limits<T>::infinity();

  // Per-head prologue, linear in the sizes of q, k and dO: D = rowsum(dO * O), and the right operands of the tile
  // products packed in panels once: scale * Q^T and dO^T (query columns), Q, dO and K (rows).
  constexpr int64_t NR = PanelWidth<T>();
  const int64_t qts = PackedSize<T>(E, L), dts = PackedSize<T>(Ev, L), qrs = PackedSize<T>(L, E),
                drs = PackedSize<T>(L, Ev), krs = PackedSize<T>(S, E);
  std::vector<T> dsum(need_ds ? BH * L : 0), qt(BH * qts), dot(need_ds ? BH * dts : 0), qr(need_k ? BH * qrs : 0),
      dor(need_v ? BH * drs : 0), kr(need_q ? BH * krs : 0);
  ParallelUnits(BH, [&](int64_t bh) {
    const T* q = p.q + bh * L * E;
    const T* go = g.grad + bh * L * Ev;
    PackColumns(q, L, E, p.scale, qt.data() + bh * qts);
    if (need_k) PackRows(q, L, E, qr.data() + bh * qrs);
    if (need_v) PackRows(go, L, Ev, dor.data() + bh * drs);
    if (need_q) PackRows(p.k + bh * S * E, S, E, kr.data() + bh * krs);
    if (!need_ds) return;
    PackColumns(go, L, Ev, T(1), dot.data() + bh * dts);
    const T* o = g.out + bh * L * Ev;
    for (int64_t i = 0; i < L; ++i) {
      T s = 0;
      for (int64_t c = 0; c < Ev; ++c) s += go[i * Ev + c] * o[i * Ev + c];
      dsum[bh * L + i] = s;
    }
  });

  // Work units: (head, chunk of key blocks). A head is split only when there are too few heads for the threads;
  // each chunk then adds its dQ into its own partial buffer.
  const int64_t kblocks = CeilDiv(S, Bk);
  const int64_t threads = MaxThreads();
  int64_t chunks = 1;
  if (!need_q) chunks = std::max<int64_t>(1, kblocks);  // no dQ: every key block is independent
  else if (BH < 3 * threads && kblocks > 1) chunks = std::min(kblocks, CeilDiv(3 * threads, BH));
  const int64_t per_chunk = std::max<int64_t>(1, CeilDiv(kblocks, chunks));
  chunks = kblocks == 0 ? 1 : CeilDiv(kblocks, per_chunk);
  const bool partial = need_q && chunks > 1;
  std::vector<T> dq_parts(partial ? BH * chunks * L * E : 0);
  if (need_q && !partial) std::fill(g.dq, g.dq + BH * L * E, T(0));

  ParallelUnits(BH * chunks, [&](int64_t unit) {
    const int64_t bh = unit / chunks, chunk = unit % chunks;
    const T* k = p.k + bh * S * E;
    const T* v = p.v + bh * S * Ev;
    const T* qth = qt.data() + bh * qts;
    const T* doth = need_ds ? dot.data() + bh * dts : nullptr;
    const T* qrh = need_k ? qr.data() + bh * qrs : nullptr;
    const T* dorh = need_v ? dor.data() + bh * drs : nullptr;
    const T* krh = need_q ? kr.data() + bh * krs : nullptr;
    const T* lse = g.lse + bh * L;
    const T* dh = need_ds ? dsum.data() + bh * L : nullptr;
    const T* mrows = p.MaskOf(bh);
    T* dq = nullptr;
    if (need_q) {
      dq = partial ? dq_parts.data() + (bh * chunks + chunk) * L * E : g.dq + bh * L * E;
      if (partial) std::fill(dq, dq + L * E, T(0));
    }
    const int64_t ld = TileLd<T>(Bq);
    T* st = ThreadScratch<T, AttentionPool, 4>(0, static_cast<size_t>(Bk * ld + 1));
    T* dst = ThreadScratch<T, AttentionPool, 4>(1, static_cast<size_t>(Bk * ld + 1));
    T* dk_acc = ThreadScratch<T, AttentionPool, 4>(2, static_cast<size_t>(Bk * E + 1));
    T* dv_acc = ThreadScratch<T, AttentionPool, 4>(3, static_cast<size_t>(Bk * Ev + 1));
    std::vector<T> lse_use(static_cast<size_t>(Bq));
    const int64_t kb_end = std::min(kblocks, (chunk + 1) * per_chunk);
    for (int64_t kb = chunk * per_chunk; kb < kb_end; ++kb) {
      const int64_t j0 = kb * Bk, bk = std::min(Bk, S - j0);
      const T* kj = k + j0 * E;
      const T* vj = v + j0 * Ev;
      if (need_k) std::fill(dk_acc, dk_acc + bk * E, T(0));
      if (need_v) std::fill(dv_acc, dv_acc + bk * Ev, T(0));
      const int64_t i_begin = p.causal ? (std::min(j0, L) / Bq) * Bq : 0;  // queries i < j0 see none of these keys
      for (int64_t i0 = i_begin; i0 < L; i0 += Bq) {
        const int64_t bq = std::min(Bq, L - i0);
        TileGemm<T>(bk, bq, E, kj, E, 1, qth + (i0 / NR) * E * NR, 0, E * NR, st, ld, false);
        MaskTile(p, mrows, i0, bq, j0, bk, st, ld);
        for (int64_t i = 0; i < bq; ++i) lse_use[i] = lse[i0 + i] == ninf ? pinf : lse[i0 + i];
        for (int64_t j = 0; j < bk; ++j) {
          T* sj = st + j * ld;
          const T* lu = lse_use.data();
#pragma omp simd
          for (int64_t i = 0; i < bq; ++i) sj[i] = ExpNonPos<T>(sj[i] - lu[i]);
        }
        if (need_v) TileGemm<T>(bk, Ev, bq, st, ld, 1, dorh + i0 * NR, 0, L * NR, dv_acc, Ev, true);  // dV += P dO
        if (!need_ds) continue;
        TileGemm<T>(bk, bq, Ev, vj, Ev, 1, doth + (i0 / NR) * Ev * NR, 0, Ev * NR, dst, ld, false);  // dP^T = V dO^T
        for (int64_t j = 0; j < bk; ++j) {
          const T* sj = st + j * ld;
          T* dj = dst + j * ld;
          const T* di = dh + i0;
#pragma omp simd
          for (int64_t i = 0; i < bq; ++i) dj[i] = sj[i] * (dj[i] - di[i]);
        }
        if (need_k) TileGemm<T>(bk, E, bq, dst, ld, 1, qrh + i0 * NR, 0, L * NR, dk_acc, E, true);  // dK += dS^T Q
        if (need_q) TileGemm<T>(bq, E, bk, dst, 1, ld, krh + j0 * NR, 0, S * NR, dq + i0 * E, E, true);      // dQ += dS K
      }
      if (need_k) {
        T* dk = g.dk + (bh * S + j0) * E;
        for (int64_t x = 0; x < bk * E; ++x) dk[x] = p.scale * dk_acc[x];
      }
      if (need_v) std::copy(dv_acc, dv_acc + bk * Ev, g.dv + (bh * S + j0) * Ev);
    }
  });

  if (need_q) {
    ParallelUnits(BH, [&](int64_t bh) {
      T* dq = g.dq + bh * L * E;
      if (partial) {
        const T* part = dq_parts.data() + bh * chunks * L * E;
        for (int64_t x = 0; x < L * E; ++x) dq[x] = part[x];
        for (int64_t c = 1; c < chunks; ++c) {
          const T* pc = part + c * L * E;
          for (int64_t x = 0; x < L * E; ++x) dq[x] += pc[x];
        }
      }
      for (int64_t x = 0; x < L * E; ++x) dq[x] *= p.scale;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// argument checks

std::string Shapes(const py::array& q, const py::array& k, const py::array& v) {
  return "q " + ShapeString(q) + ", k " + ShapeString(k) + ", v " + ShapeString(v);
}

template <typename T>
Problem<T> CheckOperands(const char* op, const py::array& q, const py::array& k, const py::array& v,
                         const std::optional<py::array>& mask, bool is_causal, double scale) {
  CheckFloatArray(k, 4, op, "k");
  CheckFloatArray(v, 4, op, "v");
  CheckSameDtype(q, k, op);
  CheckSameDtype(q, v, op);
  Problem<T> p{};
  p.B = q.shape(0), p.H = q.shape(1), p.L = q.shape(2), p.E = q.shape(3);
  p.S = k.shape(2), p.Ev = v.shape(3);
  MINIDL_CHECK(k.shape(0) == p.B && k.shape(1) == p.H && k.shape(3) == p.E, op,
               "k must be (B, H, S, E) with q's B, H and E; got " + Shapes(q, k, v));
  MINIDL_CHECK(v.shape(0) == p.B && v.shape(1) == p.H && v.shape(2) == p.S, op,
               "v must be (B, H, S, Ev) with k's B, H and S; got " + Shapes(q, k, v));
  p.MB = 1, p.MH = 1, p.ML = 1;
  if (mask.has_value()) {
    const py::array& m = *mask;
    CheckFloatArray(m, 4, op, "mask");
    CheckSameDtype(q, m, op);
    p.MB = m.shape(0), p.MH = m.shape(1), p.ML = m.shape(2);
    MINIDL_CHECK((p.MB == 1 || p.MB == p.B) && (p.MH == 1 || p.MH == p.H) && (p.ML == 1 || p.ML == p.L) &&
                     m.shape(3) == p.S,
                 op, "mask must be (1 or B, 1 or H, 1 or L, S) = (1 or " + std::to_string(p.B) + ", 1 or " +
                         std::to_string(p.H) + ", 1 or " + std::to_string(p.L) + ", " + std::to_string(p.S) + "), got " +
                         ShapeString(m) + " for " + Shapes(q, k, v));
    p.mask = DataOf<T>(m);
  }
  MINIDL_CHECK(std::isfinite(scale), op, "scale must be finite, got " + std::to_string(scale));
  p.q = DataOf<T>(q), p.k = DataOf<T>(k), p.v = DataOf<T>(v);
  p.causal = is_causal;
  p.scale = static_cast<T>(scale);
  return p;
}

void CheckShape4(const py::array& a, std::initializer_list<int64_t> dims, const char* op, const char* name,
                 const std::string& context) {
  bool same = a.ndim() == static_cast<py::ssize_t>(dims.size());
  py::ssize_t d = 0;
  std::string want = "(";
  for (int64_t n : dims) {
    if (same) same = a.shape(d) == n;
    want += (d ? ", " : "") + std::to_string(n);
    ++d;
  }
  want += ")";
  MINIDL_CHECK(same, op, std::string(name) + " must be " + want + ", got " + ShapeString(a) + " for " + context);
}

}  // namespace

/** attention(q, k, v, mask, is_causal, scale) -> (out, lse); see reference.attention for the contract. */
py::tuple AttentionForward(const py::array& q, const py::array& k, const py::array& v,
                           const std::optional<py::array>& mask, bool is_causal, double scale) {
  const char* op = "attention";
  CheckFloatArray(q, 4, op, "q");
  return DispatchFloat(q.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const Problem<T> p = CheckOperands<T>(op, q, k, v, mask, is_causal, scale);
    CheckOutputSize(op, "out", {p.B, p.H, p.L, p.Ev}, sizeof(T));
    py::array_t<T> out({p.B, p.H, p.L, p.Ev});
    py::array_t<T> lse({p.B, p.H, p.L});
    T* o = out.mutable_data();
    T* s = lse.mutable_data();
    {
      py::gil_scoped_release release;
      Forward<T>(p, o, s);
    }
    return py::make_tuple(out, lse);
  });
}

/** attention_backward(grad, q, k, v, out, lse, mask, is_causal, scale, need) -> (dq, dk, dv), None where need is
 *  false; see reference.attention_backward. */
py::tuple AttentionBackward(const py::array& grad, const py::array& q, const py::array& k, const py::array& v,
                            const py::array& out, const py::array& lse, const std::optional<py::array>& mask,
                            bool is_causal, double scale, const std::vector<bool>& need) {
  const char* op = "attention_backward";
  MINIDL_CHECK(need.size() == 3, op, "need must hold 3 booleans (dq, dk, dv)");
  CheckFloatArray(q, 4, op, "q");
  return DispatchFloat(q.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const Problem<T> p = CheckOperands<T>(op, q, k, v, mask, is_causal, scale);
    const std::string ctx = Shapes(q, k, v);
    CheckFloatArray(grad, 4, op, "grad");
    CheckFloatArray(out, 4, op, "out");
    CheckFloatArray(lse, 3, op, "lse");
    CheckShape4(grad, {p.B, p.H, p.L, p.Ev}, op, "grad", ctx);
    CheckShape4(out, {p.B, p.H, p.L, p.Ev}, op, "out", ctx);
    CheckShape4(lse, {p.B, p.H, p.L}, op, "lse", ctx);
    CheckSameDtype(q, grad, op);
    CheckSameDtype(q, out, op);
    CheckSameDtype(q, lse, op);
    py::object outs[3] = {py::none(), py::none(), py::none()};
    Grads<T> g{DataOf<T>(grad), DataOf<T>(out), DataOf<T>(lse), nullptr, nullptr, nullptr};
    if (need[0]) {
      py::array_t<T> a({p.B, p.H, p.L, p.E});
      g.dq = a.mutable_data();
      outs[0] = a;
    }
    if (need[1]) {
      py::array_t<T> a({p.B, p.H, p.S, p.E});
      g.dk = a.mutable_data();
      outs[1] = a;
    }
    if (need[2]) {
      py::array_t<T> a({p.B, p.H, p.S, p.Ev});
      g.dv = a.mutable_data();
      outs[2] = a;
    }
    if (need[0] || need[1] || need[2]) {
      py::gil_scoped_release release;
      Backward<T>(p, g);
    }
    return py::make_tuple(outs[0], outs[1], outs[2]);
  });
}

}  // namespace cpu
}  // namespace minidl
