// Batched GEMM: C = op(A) @ op(B), tiled in shared memory with register blocking.
//
// A block computes a BM x BN tile of C; each of its (BM/TM)*(BN/TN) threads accumulates a TM x TN
// sub-tile in registers, so every value read from shared memory feeds TM (or TN) multiply-adds
// instead of one. Operands are addressed through (row, column) strides, which lets the forward
// and both backward products (A^T, B^T) share one kernel without materializing transposes.
// Tiles hanging over the matrix edges load zeros and skip their out-of-range stores.
#include "cuda/matmul.h"

namespace minidl::cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kTM = 4, kTN = 4;
constexpr int kThreads = (kBM / kTM) * (kBN / kTN);  // 256

struct Operand {
  int64_t row, col, batch;  // element (i, j) of matrix b is at p[b*batch + i*row + j*col]
};

template <typename T>
__global__ void __launch_bounds__(kThreads, 2) GemmKernel(const T* __restrict__ a, const T* __restrict__ b,
                                                       T* __restrict__ c, int64_t batch, int64_t m, int64_t n,
                                                       int64_t k, Operand sa, Operand sb) {
  // A's tile is stored transposed (k-major) so the inner loop reads TM consecutive values of a
  // column; +4 columns of padding spread the transposing stores over the banks.
  __shared__ T as[kBK][kBM + 4];
  __shared__ T bs[kBK][kBN];
  const int tid = threadIdx.x;
  const int tx = tid % (kBN / kTN), ty = tid / (kBN / kTN);
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM, col0 = static_cast<int64_t>(blockIdx.x) * kBN;

  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {  // grid-stride over the batch (gridDim.z <= 65535)
    const T* pa = a + z * sa.batch;
    const T* pb = b + z * sb.batch;
    T acc[kTM][kTN];
    for (int i = 0; i < kTM; ++i)
      for (int j = 0; j < kTN; ++j) acc[i][j] = T(0);

    for (int64_t k0 = 0; k0 < k; k0 += kBK) {
      for (int e = tid; e < kBM * kBK; e += kThreads) {  // k fastest: coalesced for a row-major A
        const int r = e / kBK, kk = e % kBK;
        const int64_t gr = row0 + r, gk = k0 + kk;
        as[kk][r] = (gr < m && gk < k) ? pa[gr * sa.row + gk * sa.col] : T(0);
      }
      for (int e = tid; e < kBK * kBN; e += kThreads) {  // n fastest: coalesced for a row-major B
        const int kk = e / kBN, cc = e % kBN;
        const int64_t gk = k0 + kk, gc = col0 + cc;
        bs[kk][cc] = (gk < k && gc < n) ? pb[gk * sb.row + gc * sb.col] : T(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        T ra[kTM], rb[kTN];
#pragma unroll
        for (int i = 0; i < kTM; ++i) ra[i] = as[kk][ty * kTM + i];
#pragma unroll
        for (int j = 0; j < kTN; ++j) rb[j] = bs[kk][tx * kTN + j];
#pragma unroll
        for (int i = 0; i < kTM; ++i)
#pragma unroll
          for (int j = 0; j < kTN; ++j) acc[i][j] += ra[i] * rb[j];
      }
      __syncthreads();  // the next tile overwrites as/bs only after every thread has read them
    }

    T* pc = c + z * m * n;
    for (int i = 0; i < kTM; ++i) {
      const int64_t gr = row0 + ty * kTM + i;
      if (gr >= m) break;
      for (int j = 0; j < kTN; ++j) {
        const int64_t gc = col0 + tx * kTN + j;
        if (gc < n) pc[gr * n + gc] = acc[i][j];
      }
    }
  }
}

// C (batch, m, n) contiguous = op(A) (m x k) @ op(B) (k x n) with the given strides.
template <typename T>
void Gemm(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k, Operand sa, Operand sb,
          cudaStream_t stream, const char* name) {
  if (batch == 0 || m == 0 || n == 0) return;
  const int64_t tiles_m = (m + kBM - 1) / kBM, tiles_n = (n + kBN - 1) / kBN;
  if (tiles_m > 65535 || tiles_n > 2147483647) {
    throw std::runtime_error(std::string(name) + ": matrix too large for the grid (" + std::to_string(m) + " rows)");
  }
  const dim3 grid(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m),
                  static_cast<unsigned>(batch < 65535 ? batch : 65535));
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(GemmKernel<T>, grid, dim3(kThreads), 0, stream)(a, b, c, batch, m, n, k, sa, sb),
                    name);
}

}  // namespace

template <typename T>
void Matmul(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t k, int64_t n, cudaStream_t stream) {
  Gemm(a, b, c, batch, m, n, k, Operand{k, 1, m * k}, Operand{n, 1, k * n}, stream, "matmul");
}

template <typename T>
void MatmulBackward(const T* grad, const T* a, const T* b, T* grad_a, T* grad_b, int64_t batch, int64_t m,
                    int64_t k, int64_t n, cudaStream_t stream) {
  // grad_a (m x k) = grad (m x n) @ b^T: element (j, l) of b^T is b[l*n + j].
  Gemm(grad, b, grad_a, batch, m, k, n, Operand{n, 1, m * n}, Operand{1, n, k * n}, stream, "matmul_backward");
  // grad_b (k x n) = a^T (k x m) @ grad: element (l, i) of a^T is a[i*k + l].
  Gemm(a, grad, grad_b, batch, k, n, m, Operand{1, k, m * k}, Operand{n, 1, m * n}, stream, "matmul_backward");
}

template void Matmul<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
template void Matmul<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, int64_t,
                             cudaStream_t);
template void MatmulBackward<float>(const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                                    int64_t, int64_t, cudaStream_t);
template void MatmulBackward<double>(const double*, const double*, const double*, double*, double*, int64_t,
                                     int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace minidl::cuda
