// Host launchers of the batched GEMM kernels (csrc/cuda/matmul.cu); T = float or double.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace minidl::cuda {

/** c[b] = a[b] @ b[b] for b < batch; a (batch, m, k), b (batch, k, n), c (batch, m, n), all
 *  C-contiguous device memory. */
template <typename T>
void Matmul(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t k, int64_t n, cudaStream_t stream);

/** grad_a = grad @ b^T (batch, m, k) and grad_b = a^T @ grad (batch, k, n), grad (batch, m, n); a null
 *  grad_a or grad_b is skipped. */
template <typename T>
void MatmulBackward(const T* grad, const T* a, const T* b, T* grad_a, T* grad_b, int64_t batch, int64_t m,
                    int64_t k, int64_t n, cudaStream_t stream);

}  // namespace minidl::cuda
