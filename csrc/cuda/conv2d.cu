// conv2d and its gradients as implicit GEMMs: no im2col buffer, the GEMM operands are gathered
// from the NCHW tensors while a tile is loaded into shared memory. Per group g (grid.z):
//   forward   y[g]      (Og, N*OH*OW) = W[g] (Og, Kg)          @ cols (Kg, N*OH*OW),        Kg = Cg*KH*KW
//   grad_w    gW[g]     (Og, Kg)      = grad[g] (Og, N*OH*OW)  @ cols^T (N*OH*OW, Kg)
//   grad_x    gX[g]     (Cg, N*H*W)   = W[g]^T (Cg, Og*KH*KW)  @ taps (Og*KH*KW, N*H*W)
// grad_x is written as a gather (each input pixel sums the output taps that read it) rather than
// GEMM + col2im scatter: every output element is written once, with no atomics, deterministically.
// One tiled kernel serves all three; the operand functors know how to gather (zero outside).
//
// Index math is 32-bit (checked by the binding: N*H*W, N*OH*OW and the weight fit in int32 per
// group); element offsets into x / y / grad are 64-bit.
#include "cuda/conv2d.h"

#include <algorithm>

namespace minidl::cuda {
namespace {

// (16*TM)x64 output tile per block of 256 threads laid out 16 x 16, each thread a TMx4 register
// block, K in steps of 16. TM = 4 (64x64 tiles) normally; TM = 1 when the GEMM has at most 16 rows
// (few filters per group, depthwise), where a 64-row tile would leave most of the block idle.
constexpr int kBN = 64, kBK = 16;
constexpr int kThreads = 256;
constexpr int kTN = kBN / 16;

/** Device-side copy of the geometry, int32 for cheap division. */
struct Geo {
  int N, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, G, OH, OW;
  int Cg, Og, KHW, P, HW;  // channels per group, taps per filter, output and input plane sizes
};

// ---- operand gatherers: A(m, k) and B(k, n) of one group, zero outside the matrix ----------

/** Forward A: W[g] (Og, Kg), row-major inside w. */
template <typename T>
struct WeightRows {
  const T* w;
  Geo s;
  __device__ T operator()(int g, int m, int k, int M, int K) const {
    if (m >= M || k >= K) return T(0);
    return w[(static_cast<int64_t>(g) * s.Og + m) * K + k];
  }
};

/** Forward B and grad_w B^T: cols(k = (c, p, q), n = (b, i, j)) = x_pad[b, g*Cg + c, i*sh + p*dh, j*sw + q*dw]. */
template <typename T>
__device__ inline T GatherX(const T* x, const Geo& s, int g, int k, int col) {
  const int c = k / s.KHW, pq = k - c * s.KHW, p = pq / s.KW, q = pq - p * s.KW;
  const int b = col / s.P, ij = col - b * s.P, i = ij / s.OW, j = ij - i * s.OW;
  const int h = i * s.sh - s.ph + p * s.dh, w = j * s.sw - s.pw + q * s.dw;
  if (h < 0 || h >= s.H || w < 0 || w >= s.W) return T(0);
  return x[((static_cast<int64_t>(b) * s.C + g * s.Cg + c) * s.H + h) * s.W + w];
}

template <typename T>
struct XCols {  // B(k, n) = cols(k, n)
  const T* x;
  Geo s;
  __device__ T operator()(int g, int k, int n, int K, int N) const {
    return (k < K && n < N) ? GatherX(x, s, g, k, n) : T(0);
  }
};

template <typename T>
struct XColsT {  // B(k, n) = cols(n, k): k runs over output positions, n over filter taps
  const T* x;
  Geo s;
  __device__ T operator()(int g, int k, int n, int K, int N) const {
    return (k < K && n < N) ? GatherX(x, s, g, n, k) : T(0);
  }
};

/** grad_w A: grad[g] (Og, N*OH*OW) from grad (N, O, OH, OW). */
template <typename T>
struct GradRows {
  const T* grad;
  Geo s;
  __device__ T operator()(int g, int m, int k, int M, int K) const {
    if (m >= M || k >= K) return T(0);
    const int b = k / s.P, ij = k - b * s.P;
    return grad[(static_cast<int64_t>(b) * s.O + g * s.Og + m) * s.P + ij];
  }
};

/** grad_x A: W[g]^T, A(m = c, k = (o, p, q)) = w[g*Og + o, c, p, q]. */
template <typename T>
struct WeightCols {
  const T* w;
  Geo s;
  __device__ T operator()(int g, int m, int k, int M, int K) const {
    if (m >= M || k >= K) return T(0);
    const int o = k / s.KHW, pq = k - o * s.KHW;
    return w[((static_cast<int64_t>(g) * s.Og + o) * s.Cg + m) * s.KHW + pq];
  }
};

/** grad_x B: taps(k = (o, p, q), n = (b, h, w)) = grad[b, g*Og + o, i, j] where output (i, j) reads
 *  input (h, w) through tap (p, q): i*sh = h + ph - p*dh (exactly divisible, in range), likewise j. */
template <typename T>
struct GradTaps {
  const T* grad;
  Geo s;
  __device__ T operator()(int g, int k, int n, int K, int N) const {
    if (k >= K || n >= N) return T(0);
    const int o = k / s.KHW, pq = k - o * s.KHW, p = pq / s.KW, q = pq - p * s.KW;
    const int b = n / s.HW, hw = n - b * s.HW, h = hw / s.W, w = hw - h * s.W;
    const int ti = h + s.ph - p * s.dh, tj = w + s.pw - q * s.dw;
    if (ti < 0 || tj < 0) return T(0);
    const int i = ti / s.sh, j = tj / s.sw;
    if (i * s.sh != ti || j * s.sw != tj || i >= s.OH || j >= s.OW) return T(0);
    return grad[((static_cast<int64_t>(b) * s.O + g * s.Og + o) * s.OH + i) * s.OW + j];
  }
};

// ---- result writers: C(m, n) of one group ----------------------------------------------------

template <typename T>
struct StoreY {  // y[b, g*Og + m, i, j], n = (b, i, j)
  T* y;
  Geo s;
  __device__ void operator()(int g, int m, int n, T v) const {
    const int b = n / s.P, ij = n - b * s.P;
    y[(static_cast<int64_t>(b) * s.O + g * s.Og + m) * s.P + ij] = v;
  }
};

template <typename T>
struct StoreGradW {  // grad_w[g*Og + m, k], n = k = (c, p, q)
  T* gw;
  Geo s;
  __device__ void operator()(int g, int m, int n, T v) const {
    gw[(static_cast<int64_t>(g) * s.Og + m) * (s.Cg * s.KHW) + n] = v;
  }
};

template <typename T>
struct StoreGradX {  // grad_x[b, g*Cg + m, h, w], n = (b, h, w)
  T* gx;
  Geo s;
  __device__ void operator()(int g, int m, int n, T v) const {
    const int b = n / s.HW, hw = n - b * s.HW;
    gx[(static_cast<int64_t>(b) * s.C + g * s.Cg + m) * s.HW + hw] = v;
  }
};

/** C[g] (M, N) = A[g] (M, K) @ B[g] (K, N), group g = g0 + blockIdx.z. Tiles of A and B go through
 *  shared memory (A stored k-major so both inner-loop reads are contiguous across the warp); each
 *  thread accumulates a 4x4 block in registers, rows ty + 16*i and columns tx + 16*j so that the
 *  stores of a warp hit consecutive columns. */
template <typename T, int kTM, typename LoadA, typename LoadB, typename Store>
__global__ void __launch_bounds__(kThreads) ImplicitGemm(LoadA a, LoadB b, Store c, int M, int N, int K, int g0) {
  constexpr int kBM = 16 * kTM;
  __shared__ T As[kBK][kBM];
  __shared__ T Bs[kBK][kBN];
  const int g = g0 + static_cast<int>(blockIdx.z);
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const int t = static_cast<int>(threadIdx.x), tx = t % 16, ty = t / 16;
  T acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = T(0);

  for (int k0 = 0; k0 < K; k0 += kBK) {
    // Each thread loads 4 elements of each tile; consecutive threads take consecutive k (A) and n (B).
#pragma unroll
    for (int r = 0; r < kBM * kBK / kThreads; ++r) {
      const int e = t + r * kThreads, mm = e / kBK, kk = e % kBK;
      As[kk][mm] = a(g, m0 + mm, k0 + kk, M, K);
    }
#pragma unroll
    for (int r = 0; r < kBK * kBN / kThreads; ++r) {
      const int e = t + r * kThreads, kk = e / kBN, nn = e % kBN;
      Bs[kk][nn] = b(g, k0 + kk, n0 + nn, K, N);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T av[kTM], bv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();  // the next iteration overwrites the tiles
  }
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) c(g, m, n, acc[i][j]);
    }
  }
}

Geo MakeGeo(const Conv2dShape& s) {
  Geo g{};
  g.N = static_cast<int>(s.N), g.C = static_cast<int>(s.C), g.H = static_cast<int>(s.H), g.W = static_cast<int>(s.W);
  g.O = static_cast<int>(s.O), g.KH = static_cast<int>(s.KH), g.KW = static_cast<int>(s.KW);
  g.sh = static_cast<int>(s.sh), g.sw = static_cast<int>(s.sw), g.ph = static_cast<int>(s.ph);
  g.pw = static_cast<int>(s.pw), g.dh = static_cast<int>(s.dh), g.dw = static_cast<int>(s.dw);
  g.G = static_cast<int>(s.G), g.OH = static_cast<int>(s.OH), g.OW = static_cast<int>(s.OW);
  g.Cg = g.C / g.G, g.Og = g.O / g.G, g.KHW = g.KH * g.KW, g.P = g.OH * g.OW, g.HW = g.H * g.W;
  return g;
}

/** Launch one GEMM per group; grid.z is limited to 65535, so many groups go in several launches. */
template <typename T, typename LoadA, typename LoadB, typename Store>
void LaunchGemm(LoadA a, LoadB b, Store c, int M, int N, int K, int groups, cudaStream_t stream, const char* name) {
  if (M <= 0 || N <= 0 || groups <= 0) return;
  constexpr int kMaxZ = 65535;
  const bool small = M <= 16;
  auto* kernel = small ? &ImplicitGemm<T, 1, LoadA, LoadB, Store> : &ImplicitGemm<T, 4, LoadA, LoadB, Store>;
  const int bm = small ? 16 : 64;
  for (int g0 = 0; g0 < groups; g0 += kMaxZ) {
    const dim3 grid((N + kBN - 1) / kBN, (M + bm - 1) / bm, std::min(kMaxZ, groups - g0));
    MINIDL_CUDA_CHECK(MINIDL_LAUNCH(kernel, grid, dim3(kThreads), 0, stream)(a, b, c, M, N, K, g0), name);
  }
}

}  // namespace

template <typename T>
void Conv2dForward(const T* x, const T* w, T* y, const Conv2dShape& shape, cudaStream_t stream) {
  const Geo s = MakeGeo(shape);
  LaunchGemm<T>(WeightRows<T>{w, s}, XCols<T>{x, s}, StoreY<T>{y, s}, s.Og, s.N * s.P, s.Cg * s.KHW, s.G, stream,
                "conv2d");
}

template <typename T>
void Conv2dBackward(const T* grad, const T* x, const T* w, T* grad_x, T* grad_w, const Conv2dShape& shape,
                    cudaStream_t stream) {
  const Geo s = MakeGeo(shape);
  if (grad_w != nullptr)  // K = N*OH*OW may be 0 (empty batch): the kernel then writes zeros
    LaunchGemm<T>(GradRows<T>{grad, s}, XColsT<T>{x, s}, StoreGradW<T>{grad_w, s}, s.Og, s.Cg * s.KHW, s.N * s.P,
                  s.G, stream, "conv2d_backward");
  if (grad_x != nullptr)
    LaunchGemm<T>(WeightCols<T>{w, s}, GradTaps<T>{grad, s}, StoreGradX<T>{grad_x, s}, s.Cg, s.N * s.HW,
                  s.Og * s.KHW, s.G, stream, "conv2d_backward");
}

template void Conv2dForward<float>(const float*, const float*, float*, const Conv2dShape&, cudaStream_t);
template void Conv2dForward<double>(const double*, const double*, double*, const Conv2dShape&, cudaStream_t);
template void Conv2dBackward<float>(const float*, const float*, const float*, float*, float*, const Conv2dShape&,
                                    cudaStream_t);
template void Conv2dBackward<double>(const double*, const double*, const double*, double*, double*,
                                     const Conv2dShape&, cudaStream_t);

}  // namespace minidl::cuda
