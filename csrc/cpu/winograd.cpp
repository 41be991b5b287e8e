// Winograd F(4x4, 3x3) (Lavin & Gray's minimal filtering, interpolation points 0, +-1, +-2, inf).
//
// The output is cut into 4x4 tiles; tile t reads the 6x6 input patch starting 4 rows/columns
// further per tile (zero outside the input). With U = G w G^T (6x6 per (o, c)), V = B^T d B
// (per (c, tile)) and the 36 "frequencies" xi of the 6x6 grid:
//   forward   M[xi] (O, T)  = U[xi] (O, C) @ V[xi] (C, T);          y tile  = A^T M A
//   grad_x    dM[xi]        = A dy A^T (per (o, tile));  dV[xi] = U[xi]^T @ dM[xi];  dx patch += B dV B^T
//   grad_w    dU[xi] (O, C) = sum over tiles dM[xi] @ V[xi]^T;      dw = G^T dU G
// Every step is linear, so the two gradients are the exact adjoints of the forward: 36 GEMMs with
// 4x fewer multiplications than the direct 3x3 (2.25x vs 9 per output, 36/16 per tile).
//
// Work is split by samples (each thread its own scratch and grad_w partial, no synchronisation;
// the gradient patches of one sample overlap, so a sample never splits between threads) and a
// thread walks its tiles in chunks sized to stay in the L2 cache between the transforms and the
// GEMMs. The transforms run on kLanes tiles at once in GCC/Clang generic vectors (SSE/AVX/AVX-512
// by the build flags).
#include "cpu/winograd.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/scratch.h"

#if defined(__GNUC__) && !defined(__clang__)
// The lane vectors never cross a call boundary that other code sees (all inline, in this file):
// GCC's note that a 64-byte vector argument's ABI differs without AVX-512 does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace minidl {
namespace cpu {
namespace {

constexpr int kLanes = 8;  // tiles transformed together
constexpr int kXi = 36;    // 6x6 frequencies

template <typename T>
struct Lane;
template <>
struct Lane<float> {
  typedef float V __attribute__((vector_size(kLanes * sizeof(float))));
};
template <>
struct Lane<double> {
  typedef double V __attribute__((vector_size(kLanes * sizeof(double))));
};

template <typename T>
using Vec = typename Lane<T>::V;

template <typename T>
inline Vec<T> Load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline void Store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof(v));
}

// ---- 1-D transforms (the 2-D ones apply them to the columns, then to the rows) ----

/** r = B^T d (6 -> 6). */
template <typename V>
inline void InputT(const V d[6], V r[6]) {
  r[0] = 4 * d[0] - 5 * d[2] + d[4];
  r[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
  r[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
  r[3] = 2 * (d[3] - d[1]) - d[2] + d[4];
  r[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
  r[5] = 4 * d[1] - 5 * d[3] + d[5];
}

/** r = B v (6 -> 6), the adjoint of InputT. */
template <typename V>
inline void InputAdjT(const V v[6], V r[6]) {
  r[0] = 4 * v[0];
  r[1] = 4 * (v[2] - v[1] + v[5]) + 2 * (v[4] - v[3]);
  r[2] = -5 * v[0] - 4 * (v[1] + v[2]) - v[3] - v[4];
  r[3] = v[1] - v[2] + 2 * (v[3] - v[4]) - 5 * v[5];
  r[4] = v[0] + v[1] + v[2] + v[3] + v[4];
  r[5] = v[5];
}

/** r = A^T m (6 -> 4). */
template <typename V>
inline void OutputT(const V m[6], V r[4]) {
  const V a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
  r[0] = m[0] + a + c;
  r[1] = b + 2 * d;
  r[2] = a + 4 * c;
  r[3] = b + 8 * d + m[5];
}

/** r = A g (4 -> 6), the adjoint of OutputT. */
template <typename V>
inline void OutputAdjT(const V g[4], V r[6]) {
  const V even = g[0] + g[2], odd = g[1] + g[3], even4 = g[0] + 4 * g[2], odd4 = 2 * g[1] + 8 * g[3];
  r[0] = g[0];
  r[1] = even + odd;
  r[2] = even - odd;
  r[3] = even4 + odd4;
  r[4] = even4 - odd4;
  r[5] = g[3];
}

/** The 6x3 G (in double: the weight transform runs once per call). */
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

// ---- geometry of the tiles ----

struct Tiles {
  const WinogradShape& s;
  int64_t th, tw, per_sample;  // tile rows and columns per sample
  int64_t Cg, Og;

  explicit Tiles(const WinogradShape& shape)
      : s(shape), th(CeilDiv(shape.OH, 4)), tw(CeilDiv(shape.OW, 4)), per_sample(th * tw),
        Cg(shape.C / shape.G), Og(shape.O / shape.G) {}

  /** Sample, first output row and column of tile t (counted from sample 0). */
  void Locate(int64_t t, int64_t* n, int64_t* r, int64_t* c) const {
    *n = t / per_sample;
    const int64_t rem = t % per_sample;
    *r = rem / tw * 4;
    *c = rem % tw * 4;
  }
};

/** Per-thread scratch kept between calls (slots: V, M or dM, dV). */
struct WinogradScratch;

template <typename T>
T* Scratch(int slot, size_t count) {
  return ThreadScratch<T, WinogradScratch, 3>(slot, count);
}

/** Tiles per chunk: the chunk's transformed operands (V and M, both 36 planes) within about the
 *  L2 cache the CPU reports (1 MiB where it reports none), a multiple of kLanes, at least 64
 *  so that the GEMMs stay wide enough to amortise their packing of U. */
template <typename T>
int64_t ChunkTiles(int64_t channels, int64_t tiles) {
  static const int64_t l2 = [] {
    long v = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return v > 0 ? int64_t(v) : int64_t{1} << 20;
  }();
  int64_t chunk = l2 / (kXi * channels * int64_t(sizeof(T)));
  chunk = std::max<int64_t>(64, chunk / kLanes * kLanes);
  return std::max<int64_t>(kLanes, std::min(chunk, CeilDiv(tiles, kLanes) * kLanes));
}

// ---- the four per-chunk transforms ----

/** V[xi][c][j] for the tiles [t0, t0 + count) (j = t - t0) of all C channels; ld = chunk. */
template <typename T>
void TransformInput(const Tiles& tl, const T* x, int64_t t0, int64_t count, T* V, int64_t ld) {
  const WinogradShape& s = tl.s;
  const int64_t plane = s.H * s.W;
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t j0 = 0; j0 < count; j0 += kLanes) {
      alignas(64) T d[6][6][kLanes];
      for (int l = 0; l < kLanes; ++l) {
        if (j0 + l >= count) {  // past the chunk: zeros (their results are never read)
          for (int i = 0; i < 6; ++i)
            for (int k = 0; k < 6; ++k) d[i][k][l] = T(0);
          continue;
        }
        int64_t n, r, col;
        tl.Locate(t0 + j0 + l, &n, &r, &col);
        const T* src = x + (n * s.C + c) * plane;
        r -= s.ph;
        col -= s.pw;
        // the rows [i0, i1) and columns [k0, k1) of the patch inside the input; zeros around them
        const int i0 = int(std::max<int64_t>(0, -r)), i1 = int(std::max<int64_t>(i0, std::min<int64_t>(6, s.H - r)));
        const int k0 = int(std::max<int64_t>(0, -col)), k1 = int(std::max<int64_t>(k0, std::min<int64_t>(6, s.W - col)));
        for (int i = 0; i < 6; ++i) {
          if (i < i0 || i >= i1) {
            for (int k = 0; k < 6; ++k) d[i][k][l] = T(0);
            continue;
          }
          const T* row = src + (r + i) * s.W + col;
          for (int k = 0; k < k0; ++k) d[i][k][l] = T(0);
          for (int k = k0; k < k1; ++k) d[i][k][l] = row[k];
          for (int k = k1; k < 6; ++k) d[i][k][l] = T(0);
        }
      }
      Vec<T> tmp[6][6];
      for (int k = 0; k < 6; ++k) {  // columns: tmp = B^T d
        Vec<T> in[6], out[6];
        for (int i = 0; i < 6; ++i) in[i] = Load(d[i][k]);
        InputT(in, out);
        for (int i = 0; i < 6; ++i) tmp[i][k] = out[i];
      }
      for (int i = 0; i < 6; ++i) {  // rows: (B^T d) B
        Vec<T> out[6];
        InputT(tmp[i], out);
        for (int k = 0; k < 6; ++k) Store(V + ((i * 6 + k) * s.C + c) * ld + j0, out[k]);
      }
    }
  }
}

/** y tiles (+ bias, relu) from M[xi][o][j]. */
template <typename T>
void TransformOutput(const Tiles& tl, const T* M, int64_t ld, int64_t t0, int64_t count, const T* bias, bool relu,
                     T* y) {
  const WinogradShape& s = tl.s;
  const int64_t plane = s.OH * s.OW;
  for (int64_t o = 0; o < s.O; ++o) {
    const T b = bias ? bias[o] : T(0);
    for (int64_t j0 = 0; j0 < count; j0 += kLanes) {
      Vec<T> tmp[4][6];
      for (int k = 0; k < 6; ++k) {  // columns: A^T M
        Vec<T> in[6], out[4];
        for (int i = 0; i < 6; ++i) in[i] = Load(M + ((i * 6 + k) * s.O + o) * ld + j0);
        OutputT(in, out);
        for (int i = 0; i < 4; ++i) tmp[i][k] = out[i];
      }
      alignas(64) T res[4][4][kLanes];
      for (int i = 0; i < 4; ++i) {  // rows: (A^T M) A
        Vec<T> out[4];
        OutputT(tmp[i], out);
        for (int k = 0; k < 4; ++k) {
          Vec<T> v = out[k] + b;
          if (relu) v = v > Vec<T>{} ? v : Vec<T>{};
          Store(res[i][k], v);
        }
      }
      for (int l = 0; l < kLanes && j0 + l < count; ++l) {
        int64_t n, r, col;
        tl.Locate(t0 + j0 + l, &n, &r, &col);
        T* dst = y + (n * s.O + o) * plane;
        const int rows = int(std::min<int64_t>(4, s.OH - r)), cols = int(std::min<int64_t>(4, s.OW - col));
        for (int i = 0; i < rows; ++i)
          for (int k = 0; k < cols; ++k) dst[(r + i) * s.OW + col + k] = res[i][k][l];
      }
    }
  }
}

/** dM[xi][o][j] = (A dy A^T)[xi] of the output-gradient tiles (zero past the output's edge). */
template <typename T>
void TransformGrad(const Tiles& tl, const T* grad, int64_t t0, int64_t count, T* dM, int64_t ld) {
  const WinogradShape& s = tl.s;
  const int64_t plane = s.OH * s.OW;
  for (int64_t o = 0; o < s.O; ++o) {
    for (int64_t j0 = 0; j0 < count; j0 += kLanes) {
      alignas(64) T g[4][4][kLanes];
      for (int l = 0; l < kLanes; ++l) {
        int rows = 0, cols = 0;
        const T* src = nullptr;
        if (j0 + l < count) {
          int64_t n, r, col;
          tl.Locate(t0 + j0 + l, &n, &r, &col);
          src = grad + (n * s.O + o) * plane + r * s.OW + col;
          rows = int(std::min<int64_t>(4, s.OH - r));
          cols = int(std::min<int64_t>(4, s.OW - col));
        }
        for (int i = 0; i < 4; ++i)  // zeros past the output's edge
          for (int k = 0; k < 4; ++k) g[i][k][l] = i < rows && k < cols ? src[i * s.OW + k] : T(0);
      }
      Vec<T> tmp[6][4];
      for (int k = 0; k < 4; ++k) {  // columns: A g
        Vec<T> in[4], out[6];
        for (int i = 0; i < 4; ++i) in[i] = Load(g[i][k]);
        OutputAdjT(in, out);
        for (int i = 0; i < 6; ++i) tmp[i][k] = out[i];
      }
      for (int i = 0; i < 6; ++i) {  // rows: (A g) A^T
        Vec<T> out[6];
        OutputAdjT(tmp[i], out);
        for (int k = 0; k < 6; ++k) Store(dM + ((i * 6 + k) * s.O + o) * ld + j0, out[k]);
      }
    }
  }
}

/** gx patches += B dV B^T (only the in-range pixels of each 6x6 patch). */
template <typename T>
void ScatterInputGrad(const Tiles& tl, const T* dV, int64_t ld, int64_t t0, int64_t count, T* gx) {
  const WinogradShape& s = tl.s;
  const int64_t plane = s.H * s.W;
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t j0 = 0; j0 < count; j0 += kLanes) {
      Vec<T> tmp[6][6];
      for (int k = 0; k < 6; ++k) {  // columns: B dV
        Vec<T> in[6], out[6];
        for (int i = 0; i < 6; ++i) in[i] = Load(dV + ((i * 6 + k) * s.C + c) * ld + j0);
        InputAdjT(in, out);
        for (int i = 0; i < 6; ++i) tmp[i][k] = out[i];
      }
      alignas(64) T d[6][6][kLanes];
      for (int i = 0; i < 6; ++i) {  // rows: (B dV) B^T
        Vec<T> out[6];
        InputAdjT(tmp[i], out);
        for (int k = 0; k < 6; ++k) Store(d[i][k], out[k]);
      }
      for (int l = 0; l < kLanes && j0 + l < count; ++l) {
        int64_t n, r, col;
        tl.Locate(t0 + j0 + l, &n, &r, &col);
        T* dst = gx + (n * s.C + c) * plane;
        r -= s.ph;
        col -= s.pw;
        const int i0 = int(std::max<int64_t>(0, -r)), i1 = int(std::min<int64_t>(6, s.H - r));
        const int k0 = int(std::max<int64_t>(0, -col)), k1 = int(std::min<int64_t>(6, s.W - col));
        for (int i = i0; i < i1; ++i)
          for (int k = k0; k < k1; ++k) dst[(r + i) * s.W + col + k] += d[i][k][l];
      }
    }
  }
}

/** U[xi][o][c] = (G w[o, c] G^T)[xi]. */
template <typename T>
void TransformWeights(const Tiles& tl, const T* w, T* U) {
  const int64_t O = tl.s.O, Cg = tl.Cg;
  for (int64_t oc = 0; oc < O * Cg; ++oc) {
    const T* g = w + oc * 9;
    double tmp[6][3];
    for (int i = 0; i < 6; ++i)
      for (int k = 0; k < 3; ++k) tmp[i][k] = kG[i][0] * g[k] + kG[i][1] * g[3 + k] + kG[i][2] * g[6 + k];
    for (int i = 0; i < 6; ++i)
      for (int k = 0; k < 6; ++k)
        U[(i * 6 + k) * O * Cg + oc] = T(tmp[i][0] * kG[k][0] + tmp[i][1] * kG[k][1] + tmp[i][2] * kG[k][2]);
  }
}

/** gw[o, c] = G^T dU[.][o][c] G (the adjoint of TransformWeights). */
template <typename T>
void UntransformWeightGrad(const Tiles& tl, const T* dU, T* gw) {
  const int64_t OC = tl.s.O * tl.Cg;
  for (int64_t oc = 0; oc < OC; ++oc) {
    double tmp[3][6];
    for (int a = 0; a < 3; ++a)
      for (int k = 0; k < 6; ++k) {
        double acc = 0;
        for (int i = 0; i < 6; ++i) acc += kG[i][a] * double(dU[(i * 6 + k) * OC + oc]);
        tmp[a][k] = acc;
      }
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double acc = 0;
        for (int k = 0; k < 6; ++k) acc += tmp[a][k] * kG[k][b];
        gw[oc * 9 + a * 3 + b] = T(acc);
      }
  }
}

// ---- threads ----

int ThreadsFor(const WinogradShape& s) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  // Whole samples per thread, and about 1 MFLOP of GEMM work each at least.
  const double flops = 2.0 * kXi * double(s.O) * double(s.C / s.G) * double(s.N) * double(CeilDiv(s.OH, 4)) *
                       double(CeilDiv(s.OW, 4));
  const double by_work = std::max(1.0, flops / double(1 << 20));
  return int(std::max<int64_t>(1, std::min<int64_t>({omp_get_max_threads(), s.N, int64_t(by_work)})));
#else
  (void)s;
  return 1;
#endif
}

inline int ThreadId() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/** Runs fn(first tile, tile count) over the thread's samples, in chunks of `chunk` tiles. */
template <typename Fn>
void ForEachChunk(const Tiles& tl, int threads, int t, int64_t chunk, Fn&& fn) {
  const int64_t n0 = tl.s.N * t / threads, n1 = tl.s.N * (t + 1) / threads;
  for (int64_t t0 = n0 * tl.per_sample; t0 < n1 * tl.per_sample; t0 += chunk)
    fn(t0, std::min(chunk, n1 * tl.per_sample - t0));
}

}  // namespace

template <typename T>
void WinogradForward(const WinogradShape& s, const T* x, const T* w, const T* bias, bool relu, T* y) {
  const Tiles tl(s);
  std::vector<T> U(size_t(kXi * s.O * tl.Cg));
  TransformWeights(tl, w, U.data());
  const int threads = ThreadsFor(s);
  const int64_t chunk = ChunkTiles<T>(s.C + s.O, s.N * tl.per_sample / threads);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    T* V = Scratch<T>(0, size_t(kXi * s.C * chunk));
    T* M = Scratch<T>(1, size_t(kXi * s.O * chunk));
    ForEachChunk(tl, threads, ThreadId(), chunk, [&](int64_t t0, int64_t count) {
      TransformInput(tl, x, t0, count, V, chunk);
      for (int xi = 0; xi < kXi; ++xi)
        for (int64_t grp = 0; grp < s.G; ++grp)
          Gemm<T>(tl.Og, count, tl.Cg, {U.data() + (xi * s.O + grp * tl.Og) * tl.Cg, tl.Cg, 1},
                  {V + (xi * s.C + grp * tl.Cg) * chunk, chunk, 1}, M + (xi * s.O + grp * tl.Og) * chunk, chunk,
                  false);
      TransformOutput(tl, M, chunk, t0, count, bias, relu, y);
    });
  }
}

template <typename T>
void WinogradBackward(const WinogradShape& s, const T* grad, const T* x, const T* w, T* gx, T* gw) {
  const Tiles tl(s);
  const int64_t u_size = kXi * s.O * tl.Cg;
  std::vector<T> U;
  if (gx) {
    U.resize(size_t(u_size));
    TransformWeights(tl, w, U.data());
  }
  const int threads = ThreadsFor(s);
  const int64_t chunk = ChunkTiles<T>(s.C + s.O, s.N * tl.per_sample / threads);
  // grad_w: one partial dU per thread (a fixed split, so the sum is the same every call).
  std::vector<T> dU(gw ? size_t(u_size * threads) : 0, T(0));
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    const int t = ThreadId();
    if (gx) {
      const int64_t per = s.C * s.H * s.W;
      std::fill(gx + s.N * t / threads * per, gx + s.N * (t + 1) / threads * per, T(0));
    }
    T* V = gw ? Scratch<T>(0, size_t(kXi * s.C * chunk)) : nullptr;
    T* dM = Scratch<T>(1, size_t(kXi * s.O * chunk));
    T* dV = gx ? Scratch<T>(2, size_t(kXi * s.C * chunk)) : nullptr;
    T* mine = gw ? dU.data() + t * u_size : nullptr;
    ForEachChunk(tl, threads, t, chunk, [&](int64_t t0, int64_t count) {
      TransformGrad(tl, grad, t0, count, dM, chunk);
      if (gw) {
        TransformInput(tl, x, t0, count, V, chunk);
        for (int xi = 0; xi < kXi; ++xi)
          for (int64_t grp = 0; grp < s.G; ++grp)
            Gemm<T>(tl.Og, tl.Cg, count, {dM + (xi * s.O + grp * tl.Og) * chunk, chunk, 1},
                    {V + (xi * s.C + grp * tl.Cg) * chunk, 1, chunk}, mine + (xi * s.O + grp * tl.Og) * tl.Cg, tl.Cg,
                    true);
      }
      if (gx) {
        for (int xi = 0; xi < kXi; ++xi)
          for (int64_t grp = 0; grp < s.G; ++grp)
            Gemm<T>(tl.Cg, count, tl.Og, {U.data() + (xi * s.O + grp * tl.Og) * tl.Cg, 1, tl.Cg},
                    {dM + (xi * s.O + grp * tl.Og) * chunk, chunk, 1}, dV + (xi * s.C + grp * tl.Cg) * chunk, chunk,
                    false);
        ScatterInputGrad(tl, dV, chunk, t0, count, gx);
      }
    });
  }
  if (gw) {
    for (int t = 1; t < threads; ++t)
      for (int64_t i = 0; i < u_size; ++i) dU[size_t(i)] += dU[size_t(t * u_size + i)];
    UntransformWeightGrad(tl, dU.data(), gw);
  }
}

template void WinogradForward<float>(const WinogradShape&, const float*, const float*, const float*, bool, float*);
template void WinogradForward<double>(const WinogradShape&, const double*, const double*, const double*, bool,
                                      double*);
template void WinogradBackward<float>(const WinogradShape&, const float*, const float*, const float*, float*,
                                      float*);
template void WinogradBackward<double>(const WinogradShape&, const double*, const double*, const double*, double*,
                                       double*);

}  // namespace cpu
}  // namespace minidl
