// batch_norm forward and backward on the GPU, x (N, C, L), float32 and float64: host launchers.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace minidl::cuda {

/** y, save_mean, save_invstd as KERNELS.md says. running_mean/running_var may be null (no buffers);
 *  when training they are updated in place (unless N*L == 0). */
template <typename T>
void BatchNormForward(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var, bool training,
                      double momentum, double eps, int64_t N, int64_t C, int64_t L, T* y, T* save_mean,
                      T* save_invstd, cudaStream_t stream);

/** grad_x, grad_weight, grad_bias (all fully overwritten). */
template <typename T>
void BatchNormBackward(const T* grad, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                       bool training, int64_t N, int64_t C, int64_t L, T* grad_x, T* grad_weight, T* grad_bias,
                       cudaStream_t stream);

}  // namespace minidl::cuda
