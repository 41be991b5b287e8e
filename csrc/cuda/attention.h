// Fused scaled-dot-product attention on the GPU (csrc/cuda/attention.cu): host launchers, T = float or double.
// The contract is minidl/backends/reference.py's attention / attention_backward.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace minidl::cuda {

/** Geometry of one attention call: q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev), C-contiguous; the additive
 *  mask (when given) is (MB, MH, L, S) with MB in {1, B} and MH in {1, H}, broadcast by index. */
struct AttentionShape {
  int64_t B, H, L, S, E, Ev;
  int64_t MB, MH;  // the mask's leading dimensions (ignored without a mask)
};

/** out (B, H, L, Ev) and lse (B, H, L): softmax(scale * q k^T + mask) v, and the log of the softmax's
 *  denominator. A row that sees no key gets out = 0 and lse = -inf. `mask` may be null. */
template <typename T>
void AttentionForward(const T* q, const T* k, const T* v, const T* mask, bool causal, double scale,
                      const AttentionShape& shape, T* out, T* lse, cudaStream_t stream);

/** dq, dk, dv of attention (a null one is not computed); `delta` is a (B, H, L) workspace (rowsum(grad * out)),
 *  needed whenever dq or dk is wanted. */
template <typename T>
void AttentionBackward(const T* grad, const T* q, const T* k, const T* v, const T* out, const T* lse, const T* mask,
                       bool causal, double scale, const AttentionShape& shape, T* dq, T* dk, T* dv, T* delta,
                       cudaStream_t stream);

}  // namespace minidl::cuda
