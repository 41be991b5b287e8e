// Batched GEMM: C = op(A) @ op(B), tiled in shared memory with register blocking.
//
// A block computes a BM x BN tile of C; each of its (BM/TM)*(BN/TN) threads accumulates a TM x TN
// sub-tile in registers, so every value read from shared memory feeds TM (or TN) multiply-adds
// instead of one. Operands are addressed through (row, column) strides, which lets the forward
// and both backward products (A^T, B^T) share one kernel without materializing transposes.
// Tiles hanging over the matrix edges load zeros and skip their out-of-range stores.
//
// Global loads and C stores are vectorized (float4 / double2: 16 bytes) where the host found the
// operand's layout allows it (VecOk: unit-stride rows, widths and strides multiples of the vector,
// aligned base); transposed, ragged-width or misaligned operands take the guarded scalar path, so
// every shape and stride stays correct.
#include "cuda/matmul.h"

namespace minidl::cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kTM = 4, kTN = 4;
constexpr int kThreads = (kBM / kTM) * (kBN / kTN);  // 256

struct Operand {
  int64_t row, col, batch;  // element (i, j) of matrix b is at p[b*batch + i*row + j*col]
  bool vec;                 // rows load as 16-byte vectors (see VecOk); decided once per launch
};

// The 16-byte vector of T and its lanes.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  static constexpr int kWidth = 4;
  static __device__ __forceinline__ void Load(const float* p, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
  static __device__ __forceinline__ void Store(float* p, const float* in) {
    *reinterpret_cast<float4*>(p) = make_float4(in[0], in[1], in[2], in[3]);
  }
};
template <>
struct Vec<double> {
  static constexpr int kWidth = 2;
  static __device__ __forceinline__ void Load(const double* p, double* out) {
    const double2 v = *reinterpret_cast<const double2*>(p);
    out[0] = v.x, out[1] = v.y;
  }
  static __device__ __forceinline__ void Store(double* p, const double* in) {
    *reinterpret_cast<double2*>(p) = make_double2(in[0], in[1]);
  }
};

// Whether operand `s`, `cols` columns wide, loads as whole 16-byte vectors of kWidth elements
// starting at columns that are multiples of kWidth (tile origins, multiples of kBK / kBN, are):
// the row is unit-stride, row and batch strides are multiples of the width, the base is aligned,
// and the width divides `cols`, so that no vector straddles the edge (the kernel then guards whole
// vectors and needs no per-element path; every caller's row stride equals `cols` anyway).
template <typename T>
bool VecOk(const T* p, const Operand& s, int64_t batch, int64_t cols) {
  constexpr int64_t w = Vec<T>::kWidth;
  return s.col == 1 && s.row % w == 0 && cols % w == 0 && (batch == 1 || s.batch % w == 0) &&
         reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// VecA / VecB: the operand's tile rows load as vectors (Operand::vec). Compile-time, so each
// variant carries only its own loads' address arithmetic: as one runtime-branching kernel the
// float64 version spilled under the 128-register cap.
template <typename T, bool VecA, bool VecB>
__global__ void __launch_bounds__(kThreads, 2) GemmKernel(const T* __restrict__ a, const T* __restrict__ b,
                                                       T* __restrict__ c, int64_t batch, int64_t m, int64_t n,
                                                       int64_t k, Operand sa, Operand sb, bool vec_c) {
  constexpr int kW = Vec<T>::kWidth;
  static_assert(kBK % kW == 0 && kBN % kW == 0 && kTN % kW == 0, "tiles must split into whole vectors");
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
      if constexpr (VecA) {
        for (int e = tid; e < kBM * kBK / kW; e += kThreads) {
          const int r = e / (kBK / kW), kk = e % (kBK / kW) * kW;
          const int64_t gr = row0 + r, gk = k0 + kk;
          T v[kW] = {};
          if (gr < m && gk < k) Vec<T>::Load(pa + gr * sa.row + gk, v);  // k % kW == 0: whole vectors
#pragma unroll
          for (int i = 0; i < kW; ++i) as[kk + i][r] = v[i];
        }
      } else {
        for (int e = tid; e < kBM * kBK; e += kThreads) {  // k fastest: coalesced for a row-major A
          const int r = e / kBK, kk = e % kBK;
          const int64_t gr = row0 + r, gk = k0 + kk;
          as[kk][r] = (gr < m && gk < k) ? pa[gr * sa.row + gk * sa.col] : T(0);
        }
      }
      if constexpr (VecB) {
        for (int e = tid; e < kBK * kBN / kW; e += kThreads) {
          const int kk = e / (kBN / kW), cc = e % (kBN / kW) * kW;
          const int64_t gk = k0 + kk, gc = col0 + cc;
          T v[kW] = {};
          if (gk < k && gc < n) Vec<T>::Load(pb + gk * sb.row + gc, v);  // n % kW == 0: whole vectors
#pragma unroll
          for (int j = 0; j < kW; ++j) bs[kk][cc + j] = v[j];
        }
      } else {
#pragma unroll 1  // kept rolled: unrolled, its hoisted addresses spill next to a vectorized A
        for (int e = tid; e < kBK * kBN; e += kThreads) {  // n fastest: coalesced for a row-major B
          const int kk = e / kBN, cc = e % kBN;
          const int64_t gk = k0 + kk, gc = col0 + cc;
          bs[kk][cc] = (gk < k && gc < n) ? pb[gk * sb.row + gc * sb.col] : T(0);
        }
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
#pragma unroll
    for (int i = 0; i < kTM; ++i) {  // unrolled, so acc stays in registers
      const int64_t gr = row0 + ty * kTM + i;
      if (gr >= m) continue;
#pragma unroll
      for (int j = 0; j < kTN; j += kW) {  // a thread's kTN columns are whole vectors
        const int64_t gc = col0 + tx * kTN + j;
        if (vec_c) {  // n % kW == 0: a vector lies wholly inside or outside C
          if (gc < n) Vec<T>::Store(pc + gr * n + gc, &acc[i][j]);
        } else {
#pragma unroll
          for (int jj = 0; jj < kW; ++jj)
            if (gc + jj < n) pc[gr * n + gc + jj] = acc[i][j + jj];
        }
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
  sa.vec = VecOk(a, sa, batch, k);
  sb.vec = VecOk(b, sb, batch, n);
  // C is contiguous (row stride n, batch stride m*n): vectors stay aligned when n is a multiple.
  const bool vec_c = n % Vec<T>::kWidth == 0 && reinterpret_cast<uintptr_t>(c) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m),
                  static_cast<unsigned>(batch < 65535 ? batch : 65535));
  auto kernel = GemmKernel<T, false, false>;
  if (sa.vec) kernel = sb.vec ? GemmKernel<T, true, true> : GemmKernel<T, true, false>;
  else if (sb.vec) kernel = GemmKernel<T, false, true>;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(kernel, grid, dim3(kThreads), 0, stream)(a, b, c, batch, m, n, k, sa, sb, vec_c),
                    name);
}

}  // namespace

template <typename T>
void Matmul(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t k, int64_t n, cudaStream_t stream) {
  Gemm(a, b, c, batch, m, n, k, Operand{k, 1, m * k, false}, Operand{n, 1, k * n, false}, stream, "matmul");
}

template <typename T>
void MatmulBackward(const T* grad, const T* a, const T* b, T* grad_a, T* grad_b, int64_t batch, int64_t m,
                    int64_t k, int64_t n, cudaStream_t stream) {
  // A null grad_a / grad_b is a gradient nobody wants: its GEMM is skipped.
  // grad_a (m x k) = grad (m x n) @ b^T: element (j, l) of b^T is b[l*n + j].
  if (grad_a != nullptr)
    Gemm(grad, b, grad_a, batch, m, k, n, Operand{n, 1, m * n, false}, Operand{1, n, k * n, false}, stream,
         "matmul_backward");
  // grad_b (k x n) = a^T (k x m) @ grad: element (l, i) of a^T is a[i*k + l].
  if (grad_b != nullptr)
    Gemm(a, grad, grad_b, batch, k, n, m, Operand{1, k, m * k, false}, Operand{n, 1, m * n, false}, stream,
         "matmul_backward");
}

template void Matmul<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
template void Matmul<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, int64_t,
                             cudaStream_t);
template void MatmulBackward<float>(const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                                    int64_t, int64_t, cudaStream_t);
template void MatmulBackward<double>(const double*, const double*, const double*, double*, double*, int64_t,
                                     int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace minidl::cuda
