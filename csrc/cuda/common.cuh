// Shared by every CUDA source of minidl: the runtime (real or emulated), launch and error macros.
//
// The same kernel source is compiled two ways:
//   * by nvcc into minidl._C_cuda (real GPUs);
//   * by g++ with -DMINIDL_CUDA_EMULATION into the test-only module _C_cuda_emu, where
//     cuda/emu/cuda_emu.h runs every block and thread on the CPU (tests/cuda_emu/build.py).
// Kernels therefore stay inside the portable subset: __global__ __device__ __shared__
// __syncthreads() __shfl_{down,xor,up,}_sync(0xffffffff, ...) atomicAdd blockIdx threadIdx
// blockDim gridDim dim3 warpSize min max float2 float4 double2 make_{float2,float4,double2};
// launches through MINIDL_LAUNCH, dynamic shared memory through MINIDL_DYNAMIC_SHARED (no <<<>>>,
// no `extern __shared__`).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(MINIDL_CUDA_EMULATION)
#include "cuda/emu/cuda_emu.h"
#else
#include <cuda_runtime.h>
#endif

namespace minidl::cuda {

/** Throw std::runtime_error("<kernel>: <CUDA's error string>") unless `expr` is cudaSuccess. */
inline void ThrowIfFailed(cudaError_t err, const char* kernel) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(kernel) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
}

#if defined(__CUDACC__)
/** Holds a launch's configuration; calling it with the kernel's arguments launches. A function
 *  (not `<<<>>>` written at the call site) so that the emulated build can offer the same syntax. */
template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  template <typename... A>
  cudaError_t operator()(A&&... args) const {
    kernel<<<grid, block, smem, stream>>>(static_cast<A&&>(args)...);
    return cudaGetLastError();
  }
};
template <typename... P>
inline Launcher<P...> MakeLauncher(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream) {
  return Launcher<P...>{kernel, grid, block, smem, stream};
}
#endif

/** Blocks of `threads` covering `n` items, capped (kernels loop grid-stride beyond the cap). */
inline unsigned GridFor(int64_t n, int threads, int64_t cap = 65535) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

/** NaN test that does not depend on <cmath> overloads being visible in device code. */
template <typename T>
__host__ __device__ __forceinline__ bool IsNan(T v) {
  return v != v;
}

}  // namespace minidl::cuda

#if defined(MINIDL_CUDA_EMULATION)
#define MINIDL_LAUNCH(...) ::minidl_emu::MakeLauncher(__VA_ARGS__)
#define MINIDL_DYNAMIC_SHARED(T, name) T* name = ::minidl_emu::DynamicShared<T>()
#else
/** MINIDL_LAUNCH(kernel, grid, block, smem_bytes, stream)(args...) launches `kernel` and returns
 *  cudaGetLastError(); variadic so that a template-id with commas needs no parentheses. */
#define MINIDL_LAUNCH(...) ::minidl::cuda::MakeLauncher(__VA_ARGS__)
#define MINIDL_DYNAMIC_SHARED(T, name)                            \
  extern __shared__ __align__(16) unsigned char minidl_dyn_smem_[]; \
  T* name = reinterpret_cast<T*>(minidl_dyn_smem_)
#endif

/** MINIDL_CUDA_CHECK(expr, "kernel_name"): a CUDA error becomes std::runtime_error naming the kernel. */
#define MINIDL_CUDA_CHECK(expr, kernel) ::minidl::cuda::ThrowIfFailed((expr), (kernel))
