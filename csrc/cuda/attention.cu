// Fused scaled-dot-product attention (flash attention), forward and backward, float32 and float64.
//
// Forward: one block per (batch*head, tile of kRows queries) walks the keys in tiles of kCols. Each
// of its kThreads threads belongs to one query row (kGroup threads per row) and owns kCols / kGroup
// scores of the current key tile and kOut / kGroup output columns. Scores are dot products over the
// head dimension, staged through shared memory kChunk columns at a time, so any E fits; the softmax
// is online (running row max m and denominator l, the accumulator rescaled when m grows), reduced
// across a row's kGroup lanes with width-kGroup shuffles; the probabilities go through shared memory
// to multiply the V tile. The (L, S) score matrix never exists: memory is O(tile) per block.
// Output columns beyond kOut are handled by more blocks on gridDim.z (each recomputing the scores),
// so no head size is refused. lse = m + log(l) is written for the backward.
//
// Backward (FlashAttention-2's scheme, deterministic: no atomics):
//   1. delta_i = rowsum(grad_i * out_i), one warp per row;
//   2. dK and dV: one block per (batch*head, tile of kRows keys) walks the query tiles, recomputing
//      P^T = exp(scale * K Q^T + mask - lse) and dS^T = P^T * (V dO^T - delta), and accumulates
//      dV += P^T dO and dK += scale * dS^T Q in registers;
//   3. dQ: one block per (batch*head, tile of kRows queries) walks the key tiles likewise and
//      accumulates dQ += scale * dS K.
//
// Masking: an additive mask (MB, MH, L, S), broadcast over batch/heads through zero strides; causal
// (key j visible to query i iff j <= i, top-left aligned) skips the key tiles wholly above the
// diagonal (and, in the dK/dV pass, the query tiles wholly before it). A row that sees no key ends
// with l = 0: its output is 0, its lse -inf, and its probabilities (hence gradients) are 0.
#include "cuda/attention.h"

#include <cmath>
#include <string>

namespace minidl::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kGroup = 8;                   // threads sharing one row of the block's own tile
constexpr int kRows = kThreads / kGroup;    // rows of the block's own tile (queries, or keys for dK/dV)
constexpr int kWarps = kThreads / 32;

// Tiles per dtype: kCols rows of the other sequence per step, kChunk head-dimension columns per
// shared-memory stage of the dot products, kOut output columns per block (registers: kOut / kGroup
// accumulators per thread). double halves them to stay under 48 KB of static shared memory.
template <typename T>
struct Tiles;
template <>
struct Tiles<float> {
  static constexpr int kCols = 32, kChunk = 64, kOut = 128;
};
template <>
struct Tiles<double> {
  static constexpr int kCols = 16, kChunk = 32, kOut = 64;
};

__device__ __forceinline__ float AttnExp(float x) { return expf(x); }
__device__ __forceinline__ double AttnExp(double x) { return exp(x); }
__device__ __forceinline__ float AttnLog(float x) { return logf(x); }
__device__ __forceinline__ double AttnLog(double x) { return log(x); }

__host__ __device__ __forceinline__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct Geometry {
  int64_t H, L, S, E, Ev;
  int64_t mask_b, mask_h;  // element strides of the mask between batches / heads (0: broadcast)
  int64_t tiles;           // tiles of kRows rows of the block's own sequence
  bool causal;
};

// dst[r * ld + c] = src[(row0 + r) * width + col0 + c] for r < R, c < C; zeros outside rows < nrows and
// columns < width (so partial tiles contribute nothing to the dot products).
template <typename T, int R, int C>
__device__ __forceinline__ void LoadTile(T* dst, int ld, const T* src, int64_t row0, int64_t nrows, int64_t width,
                                         int64_t col0) {
  for (int e = static_cast<int>(threadIdx.x); e < R * C; e += kThreads) {
    const int r = e / C, c = e % C;
    const int64_t gr = row0 + r, gc = col0 + c;
    dst[r * ld + c] = (gr < nrows && gc < width) ? src[gr * width + gc] : T(0);
  }
}

// s[i] = x[x0 + r] . y[y0 + t + kGroup * i] over `width` columns, r = this thread's row, t its lane within the
// row's group; rows past nx / ny count as zeros. Staged through xs (kRows x (kChunk+1)) and ys (kCols x
// (kChunk+1)) kChunk columns at a time, always at least one stage. Begins with a barrier, so a caller may
// overwrite any shared buffer after the call whose readers all ran before it; with load_x false, xs already
// holds x's rows (width <= kChunk) and is only read.
template <typename T>
__device__ __forceinline__ void Scores(T (&s)[Tiles<T>::kCols / kGroup], const T* x, int64_t x0, int64_t nx,
                                       const T* y, int64_t y0, int64_t ny, int64_t width, T* xs, T* ys,
                                       bool load_x) {
  constexpr int kC = Tiles<T>::kCols, kW = Tiles<T>::kChunk, kLd = kW + 1, kN = kC / kGroup;
  const int r = static_cast<int>(threadIdx.x) / kGroup, t = static_cast<int>(threadIdx.x) % kGroup;
#pragma unroll
  for (int i = 0; i < kN; ++i) s[i] = T(0);
  int64_t c0 = 0;
  do {
    __syncthreads();  // the previous stage's (or the caller's) readers are done
    if (load_x) LoadTile<T, kRows, kW>(xs, kLd, x, x0, nx, width, c0);
    LoadTile<T, kC, kW>(ys, kLd, y, y0, ny, width, c0);
    __syncthreads();
    const int n = static_cast<int>(Min64(width - c0, kW));
#pragma unroll 2
    for (int c = 0; c < n; ++c) {
      const T xv = xs[r * kLd + c];
#pragma unroll
      for (int i = 0; i < kN; ++i) s[i] += xv * ys[(t + kGroup * i) * kLd + c];
    }
    c0 += kW;
  } while (c0 < width);
}

template <typename T>
__device__ __forceinline__ T GroupMax(T v) {
#pragma unroll
  for (int d = kGroup / 2; d > 0; d /= 2) {
    const T o = __shfl_xor_sync(0xffffffffu, v, d, kGroup);
    v = o > v ? o : v;
  }
  return v;
}

template <typename T>
__device__ __forceinline__ T GroupSum(T v) {  // every lane ends with the same bits (addition commutes)
#pragma unroll
  for (int d = kGroup / 2; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d, kGroup);
  return v;
}

__device__ __forceinline__ bool Visible(int64_t i, int64_t j, const Geometry& g) {
  return i < g.L && j < g.S && (!g.causal || j <= i);
}

// The mask of (batch*head) bh, or null.
template <typename T>
__device__ __forceinline__ const T* MaskOf(const T* mask, int64_t bh, const Geometry& g) {
  return mask == nullptr ? nullptr : mask + (bh / g.H) * g.mask_b + (bh % g.H) * g.mask_h;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    AttentionForwardKernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                           const T* __restrict__ mask, T scale, Geometry g, T* __restrict__ out,
                           T* __restrict__ lse) {
  constexpr int kC = Tiles<T>::kCols, kW = Tiles<T>::kChunk, kLd = kW + 1, kN = kC / kGroup;
  constexpr int kO = Tiles<T>::kOut, kA = kO / kGroup, kP = kC + 1;
  __shared__ T qs[kRows * kLd];
  __shared__ T ks[kC * kLd];
  __shared__ T vs[kC * kO];
  __shared__ T ps[kRows * kP];
  const T kNegInf = T(-INFINITY);
  const int r = static_cast<int>(threadIdx.x) / kGroup, t = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t bh = blockIdx.x, col0 = static_cast<int64_t>(blockIdx.z) * kO;
  const T* qb = q + bh * g.L * g.E;
  const T* kb = k + bh * g.S * g.E;
  const T* vb = v + bh * g.S * g.Ev;
  const T* mb = MaskOf(mask, bh, g);
  const bool q_resident = g.E <= kW;  // the query tile stays in qs for the whole walk over the keys

  for (int64_t tile = blockIdx.y; tile < g.tiles; tile += gridDim.y) {  // grid-stride: gridDim.y <= 65535
    const int64_t q0 = tile * kRows, i = q0 + r;
    if (q_resident) {
      __syncthreads();  // the previous tile's readers of qs are done; Scores' first barrier publishes it
      LoadTile<T, kRows, kW>(qs, kLd, qb, q0, g.L, g.E, 0);
    }
    T m = kNegInf, l = T(0), acc[kA];
#pragma unroll
    for (int c = 0; c < kA; ++c) acc[c] = T(0);
    const int64_t kend = g.causal ? Min64(g.S, q0 + kRows) : g.S;  // later key tiles are all above the diagonal
    for (int64_t j0 = 0; j0 < kend; j0 += kC) {
      T s[kN];
      Scores<T>(s, qb, q0, g.L, kb, j0, g.S, g.E, qs, ks, !q_resident);
      T mx = kNegInf;
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        const int64_t j = j0 + t + kGroup * n;
        T val = kNegInf;
        if (Visible(i, j, g)) val = scale * s[n] + (mb != nullptr ? mb[i * g.S + j] : T(0));
        s[n] = val;
        mx = val > mx ? val : mx;
      }
      mx = GroupMax(mx);
      const T m_new = mx > m ? mx : m;
      const T base = m_new == kNegInf ? T(0) : m_new;  // all -inf so far: exp(-inf - 0) = 0, nothing NaN
      T sum = T(0);
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        s[n] = AttnExp(s[n] - base);
        sum += s[n];
      }
      sum = GroupSum(sum);
      const T alpha = AttnExp(m - base);  // 0 while m is -inf (acc and l are 0 then)
      l = l * alpha + sum;
      m = m_new;
#pragma unroll
      for (int c = 0; c < kA; ++c) acc[c] *= alpha;
#pragma unroll
      for (int n = 0; n < kN; ++n) ps[r * kP + t + kGroup * n] = s[n];
      LoadTile<T, kC, kO>(vs, kO, vb, j0, g.S, g.Ev, col0);
      __syncthreads();
#pragma unroll 2
      for (int j = 0; j < kC; ++j) {
        const T p = ps[r * kP + j];
#pragma unroll
        for (int c = 0; c < kA; ++c) acc[c] += p * vs[j * kO + t + kGroup * c];
      }
    }
    if (i < g.L) {
      const T inv = l > T(0) ? T(1) / l : T(0);
      T* o = out + (bh * g.L + i) * g.Ev;
#pragma unroll
      for (int c = 0; c < kA; ++c) {
        const int64_t col = col0 + t + kGroup * c;
        if (col < g.Ev) o[col] = acc[c] * inv;
      }
      if (blockIdx.z == 0 && t == 0) lse[bh * g.L + i] = l > T(0) ? m + AttnLog(l) : kNegInf;
    }
  }
}

// delta[row] = sum_c grad[row, c] * out[row, c]: one warp per row, grid-stride over the rows.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    AttentionDeltaKernel(const T* __restrict__ grad, const T* __restrict__ out, int64_t rows, int64_t ev,
                         T* __restrict__ delta) {
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {  // the same trip count for a warp's 32 lanes
    T sum = T(0);
    for (int64_t c = lane; c < ev; c += 32) sum += grad[row * ev + c] * out[row * ev + c];
#pragma unroll
    for (int d = 16; d > 0; d /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, d);
    if (lane == 0) delta[row] = sum;
  }
}

// dQ for a tile of kRows queries and kOut of its E columns (gridDim.z covers E).
template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    AttentionDqKernel(const T* __restrict__ grad, const T* __restrict__ q, const T* __restrict__ k,
                      const T* __restrict__ v, const T* __restrict__ lse, const T* __restrict__ delta,
                      const T* __restrict__ mask, T scale, Geometry g, T* __restrict__ dq) {
  constexpr int kC = Tiles<T>::kCols, kW = Tiles<T>::kChunk, kLd = kW + 1, kN = kC / kGroup;
  constexpr int kO = Tiles<T>::kOut, kA = kO / kGroup, kP = kC + 1;
  __shared__ T xs[kRows * kLd];
  __shared__ T ys[kC * kLd];
  __shared__ T os[kC * kO];
  __shared__ T ps[kRows * kP];
  const T kNegInf = T(-INFINITY);
  const int r = static_cast<int>(threadIdx.x) / kGroup, t = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t bh = blockIdx.x, col0 = static_cast<int64_t>(blockIdx.z) * kO;
  const T* qb = q + bh * g.L * g.E;
  const T* kb = k + bh * g.S * g.E;
  const T* vb = v + bh * g.S * g.Ev;
  const T* gb = grad + bh * g.L * g.Ev;
  const T* mb = MaskOf(mask, bh, g);

  for (int64_t tile = blockIdx.y; tile < g.tiles; tile += gridDim.y) {
    const int64_t q0 = tile * kRows, i = q0 + r;
    const T lse_i = i < g.L ? lse[bh * g.L + i] : kNegInf;
    const T d_i = i < g.L ? delta[bh * g.L + i] : T(0);
    T acc[kA];
#pragma unroll
    for (int c = 0; c < kA; ++c) acc[c] = T(0);
    const int64_t kend = g.causal ? Min64(g.S, q0 + kRows) : g.S;
    for (int64_t j0 = 0; j0 < kend; j0 += kC) {
      T s[kN], dp[kN];
      Scores<T>(s, qb, q0, g.L, kb, j0, g.S, g.E, xs, ys, true);     // q k^T
      Scores<T>(dp, gb, q0, g.L, vb, j0, g.S, g.Ev, xs, ys, true);   // dO v^T
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        const int64_t j = j0 + t + kGroup * n;
        T p = T(0);
        if (Visible(i, j, g) && lse_i != kNegInf)
          p = AttnExp(scale * s[n] + (mb != nullptr ? mb[i * g.S + j] : T(0)) - lse_i);
        ps[r * kP + t + kGroup * n] = p * (dp[n] - d_i);  // dS
      }
      LoadTile<T, kC, kO>(os, kO, kb, j0, g.S, g.E, col0);
      __syncthreads();
#pragma unroll 2
      for (int j = 0; j < kC; ++j) {
        const T ds = ps[r * kP + j];
#pragma unroll
        for (int c = 0; c < kA; ++c) acc[c] += ds * os[j * kO + t + kGroup * c];
      }
    }
    if (i < g.L) {
      T* o = dq + (bh * g.L + i) * g.E;
#pragma unroll
      for (int c = 0; c < kA; ++c) {
        const int64_t col = col0 + t + kGroup * c;
        if (col < g.E) o[col] = scale * acc[c];
      }
    }
  }
}

// dK (kOut of its E columns) and dV (kOut of its Ev columns) for a tile of kRows keys; gridDim.z covers the wider
// of the two; a null dk / dv (or a column range past its width) is skipped.
template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    AttentionDkDvKernel(const T* __restrict__ grad, const T* __restrict__ q, const T* __restrict__ k,
                        const T* __restrict__ v, const T* __restrict__ lse, const T* __restrict__ delta,
                        const T* __restrict__ mask, T scale, Geometry g, T* __restrict__ dk, T* __restrict__ dv) {
  constexpr int kC = Tiles<T>::kCols, kW = Tiles<T>::kChunk, kLd = kW + 1, kN = kC / kGroup;
  constexpr int kO = Tiles<T>::kOut, kA = kO / kGroup, kP = kC + 1;
  __shared__ T xs[kRows * kLd];
  __shared__ T ys[kC * kLd];
  __shared__ T os[kC * kO];
  __shared__ T ps[kRows * kP];
  __shared__ T lse_s[kC];
  __shared__ T delta_s[kC];
  const T kNegInf = T(-INFINITY);
  const int r = static_cast<int>(threadIdx.x) / kGroup, t = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t bh = blockIdx.x, col0 = static_cast<int64_t>(blockIdx.z) * kO;
  const bool do_v = dv != nullptr && col0 < g.Ev, do_k = dk != nullptr && col0 < g.E;  // uniform in the block
  const T* qb = q + bh * g.L * g.E;
  const T* kb = k + bh * g.S * g.E;
  const T* vb = v + bh * g.S * g.Ev;
  const T* gb = grad + bh * g.L * g.Ev;
  const T* mb = MaskOf(mask, bh, g);

  for (int64_t tile = blockIdx.y; tile < g.tiles; tile += gridDim.y) {
    const int64_t k0 = tile * kRows, j = k0 + r;  // this thread's key
    T acc_v[kA], acc_k[kA];
#pragma unroll
    for (int c = 0; c < kA; ++c) acc_v[c] = acc_k[c] = T(0);
    // Causal: query i sees key j only if i >= j, so the query tiles ending before k0 are skipped.
    for (int64_t q0 = g.causal ? k0 / kC * kC : 0; q0 < g.L; q0 += kC) {
      // This query tile's lse and delta. Their previous readers ran before at least one barrier of the previous
      // step (the one ahead of a product below); Scores' first barrier publishes them.
      if (static_cast<int>(threadIdx.x) < kC) {
        const int64_t qi = q0 + threadIdx.x;
        lse_s[threadIdx.x] = qi < g.L ? lse[bh * g.L + qi] : kNegInf;
        delta_s[threadIdx.x] = qi < g.L && delta != nullptr ? delta[bh * g.L + qi] : T(0);
      }
      T s[kN], p[kN];
      Scores<T>(s, kb, k0, g.S, qb, q0, g.L, g.E, xs, ys, true);  // (k q^T)[j, i]
#pragma unroll
      for (int n = 0; n < kN; ++n) {
        const int c = t + kGroup * n;
        const int64_t i = q0 + c;
        p[n] = T(0);
        if (Visible(i, j, g) && lse_s[c] != kNegInf)
          p[n] = AttnExp(scale * s[n] + (mb != nullptr ? mb[i * g.S + j] : T(0)) - lse_s[c]);
      }
      if (do_v) {  // dV += P^T dO
#pragma unroll
        for (int n = 0; n < kN; ++n) ps[r * kP + t + kGroup * n] = p[n];
        LoadTile<T, kC, kO>(os, kO, gb, q0, g.L, g.Ev, col0);
        __syncthreads();
#pragma unroll 2
        for (int c = 0; c < kC; ++c) {
          const T pc = ps[r * kP + c];
#pragma unroll
          for (int a = 0; a < kA; ++a) acc_v[a] += pc * os[c * kO + t + kGroup * a];
        }
      }
      if (do_k) {  // dK += scale * dS^T Q, dS^T = P^T * (v dO^T - delta)
        T dp[kN];
        Scores<T>(dp, vb, k0, g.S, gb, q0, g.L, g.Ev, xs, ys, true);  // its first barrier ends the dV readers
#pragma unroll
        for (int n = 0; n < kN; ++n) ps[r * kP + t + kGroup * n] = p[n] * (dp[n] - delta_s[t + kGroup * n]);
        LoadTile<T, kC, kO>(os, kO, qb, q0, g.L, g.E, col0);
        __syncthreads();
#pragma unroll 2
        for (int c = 0; c < kC; ++c) {
          const T ds = ps[r * kP + c];
#pragma unroll
          for (int a = 0; a < kA; ++a) acc_k[a] += ds * os[c * kO + t + kGroup * a];
        }
      }
    }
    if (j < g.S) {
#pragma unroll
      for (int a = 0; a < kA; ++a) {
        const int64_t col = col0 + t + kGroup * a;
        if (do_v && col < g.Ev) dv[(bh * g.S + j) * g.Ev + col] = acc_v[a];
        if (do_k && col < g.E) dk[(bh * g.S + j) * g.E + col] = scale * acc_k[a];
      }
    }
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Geometry MakeGeometry(const AttentionShape& s, bool causal, int64_t own_rows) {
  Geometry g{};
  g.H = s.H, g.L = s.L, g.S = s.S, g.E = s.E, g.Ev = s.Ev;
  g.mask_h = s.MH == 1 ? 0 : s.L * s.S;
  g.mask_b = s.MB == 1 ? 0 : s.MH * s.L * s.S;
  g.tiles = CeilDiv(own_rows, kRows);
  g.causal = causal;
  return g;
}

// (batch*head, row tiles (grid-stride beyond 65535), column passes).
dim3 GridOf(const AttentionShape& s, int64_t tiles, int64_t passes, const char* name) {
  const int64_t bh = s.B * s.H;
  if (bh > 2147483647 || passes > 65535) {
    throw std::runtime_error(std::string(name) + ": too large for the grid (" + std::to_string(bh) +
                             " batch*heads, " + std::to_string(passes) + " column blocks)");
  }
  return dim3(static_cast<unsigned>(bh), static_cast<unsigned>(Min64(tiles, 65535)), static_cast<unsigned>(passes));
}

}  // namespace

template <typename T>
void AttentionForward(const T* q, const T* k, const T* v, const T* mask, bool causal, double scale,
                      const AttentionShape& shape, T* out, T* lse, cudaStream_t stream) {
  if (shape.B * shape.H == 0 || shape.L == 0) return;
  const Geometry g = MakeGeometry(shape, causal, shape.L);
  // At least one column pass even when Ev == 0: lse is still wanted.
  const int64_t passes = shape.Ev > 0 ? CeilDiv(shape.Ev, Tiles<T>::kOut) : 1;
  const dim3 grid = GridOf(shape, g.tiles, passes, "attention");
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AttentionForwardKernel<T>, grid, dim3(kThreads), 0, stream)(
                        q, k, v, mask, static_cast<T>(scale), g, out, lse),
                    "attention");
}

template <typename T>
void AttentionBackward(const T* grad, const T* q, const T* k, const T* v, const T* out, const T* lse, const T* mask,
                       bool causal, double scale, const AttentionShape& shape, T* dq, T* dk, T* dv, T* delta,
                       cudaStream_t stream) {
  const char* name = "attention_backward";
  const int64_t bh = shape.B * shape.H;
  if (bh == 0) return;
  if ((dq != nullptr || dk != nullptr) && shape.L > 0) {
    const int64_t rows = bh * shape.L;
    MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AttentionDeltaKernel<T>, dim3(GridFor(rows, kWarps)), dim3(kThreads), 0,
                                    stream)(grad, out, rows, shape.Ev, delta),
                      name);
  }
  if (dq != nullptr && shape.L > 0 && shape.E > 0) {
    const Geometry g = MakeGeometry(shape, causal, shape.L);
    const dim3 grid = GridOf(shape, g.tiles, CeilDiv(shape.E, Tiles<T>::kOut), name);
    MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AttentionDqKernel<T>, grid, dim3(kThreads), 0, stream)(
                          grad, q, k, v, lse, delta, mask, static_cast<T>(scale), g, dq),
                      name);
  }
  if (shape.S > 0) {
    T* dk_ = shape.E > 0 ? dk : nullptr;
    T* dv_ = shape.Ev > 0 ? dv : nullptr;
    const int64_t nk = dk_ != nullptr ? CeilDiv(shape.E, Tiles<T>::kOut) : 0;
    const int64_t nv = dv_ != nullptr ? CeilDiv(shape.Ev, Tiles<T>::kOut) : 0;
    if (nk > 0 || nv > 0) {
      const Geometry g = MakeGeometry(shape, causal, shape.S);
      const dim3 grid = GridOf(shape, g.tiles, nk > nv ? nk : nv, name);
      MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AttentionDkDvKernel<T>, grid, dim3(kThreads), 0, stream)(
                            grad, q, k, v, lse, delta, mask, static_cast<T>(scale), g, dk_, dv_),
                        name);
    }
  }
}

template void AttentionForward<float>(const float*, const float*, const float*, const float*, bool, double,
                                      const AttentionShape&, float*, float*, cudaStream_t);
template void AttentionForward<double>(const double*, const double*, const double*, const double*, bool, double,
                                       const AttentionShape&, double*, double*, cudaStream_t);
template void AttentionBackward<float>(const float*, const float*, const float*, const float*, const float*,
                                       const float*, const float*, bool, double, const AttentionShape&, float*,
                                       float*, float*, float*, cudaStream_t);
template void AttentionBackward<double>(const double*, const double*, const double*, const double*, const double*,
                                        const double*, const double*, bool, double, const AttentionShape&, double*,
                                        double*, double*, double*, cudaStream_t);

}  // namespace minidl::cuda
