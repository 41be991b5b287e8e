// conv2d forward and backward on the GPU (NCHW), float32 and float64: host launchers.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace minidl::cuda {

/** Geometry of one convolution: x (N, C, H, W), w (O, C/G, KH, KW), y (N, O, OH, OW). */
struct Conv2dShape {
  int64_t N, C, H, W;
  int64_t O, KH, KW;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t G;
  int64_t OH, OW;
};

/** y = conv2d(x, w); y is fully overwritten. */
template <typename T>
void Conv2dForward(const T* x, const T* w, T* y, const Conv2dShape& s, cudaStream_t stream);

/** grad_x and grad_w of conv2d; both are fully overwritten (either pointer may be null to skip it). */
template <typename T>
void Conv2dBackward(const T* grad, const T* x, const T* w, T* grad_x, T* grad_w, const Conv2dShape& s,
                    cudaStream_t stream);

}  // namespace minidl::cuda
