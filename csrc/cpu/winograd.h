// Winograd F(4x4, 3x3) for 3x3, stride-1, dilation-1 convolutions (NCHW), forward and both
// gradients, on the GEMM engine of gemm.h. conv2d.cpp decides when to use it (winograd.cpp).
#pragma once

#include <cstdint>

namespace minidl {
namespace cpu {

/** The shapes of one 3x3 stride-1 convolution, as the Winograd kernels need them. */
struct WinogradShape {
  int64_t N, C, H, W;  // input
  int64_t O, G;        // output channels, groups (C and O multiples of G)
  int64_t ph, pw;      // zero padding
  int64_t OH, OW;      // output plane (H + 2ph - 2, W + 2pw - 2), both >= 1
};

/** y = conv2d(x, w) (+ bias[o]) (then max(., 0) when relu); bias may be null. y is written whole. */
template <typename T>
void WinogradForward(const WinogradShape& s, const T* x, const T* w, const T* bias, bool relu, T* y);

/** grad_x (when gx is not null, written whole) and grad_w (when gw is not null, written whole)
 *  of y = conv2d(x, w) for the output gradient grad. */
template <typename T>
void WinogradBackward(const WinogradShape& s, const T* grad, const T* x, const T* w, T* gx, T* gw);

}  // namespace cpu
}  // namespace minidl
