// Host launchers of the 2-D pooling kernels (csrc/cuda/pool2d.cu); T = float or double; NCHW,
// C-contiguous device memory. Geometry as in the reference (minidl/backends/reference.py); the
// output size (oh, ow) is computed by the caller (minidl/backends/geometry.py).
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace minidl::cuda {

/** Window geometry shared by the pooling kernels. */
struct Pool2dGeometry {
  int64_t n, c, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

/** y, indices (n, c, oh, ow): max over each window; indices are int64 flat h*W+w in x's plane. */
template <typename T>
void MaxPool2d(const T* x, T* y, int64_t* indices, const Pool2dGeometry& g, cudaStream_t stream);

/** grad_x (n, c, h, w) = grad scatter-added at indices (out-of-plane indices dropped). */
template <typename T>
void MaxPool2dBackward(const T* grad, const int64_t* indices, T* grad_x, const Pool2dGeometry& g,
                       cudaStream_t stream);

/** y = window sums / divisor (dilation must be 1). */
template <typename T>
void AvgPool2d(const T* x, T* y, const Pool2dGeometry& g, bool count_include_pad, cudaStream_t stream);

template <typename T>
void AvgPool2dBackward(const T* grad, T* grad_x, const Pool2dGeometry& g, bool count_include_pad,
                       cudaStream_t stream);

}  // namespace minidl::cuda
