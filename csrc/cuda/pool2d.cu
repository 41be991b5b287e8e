// 2-D max and average pooling, forward and backward: one thread per output element, grid-stride.
//
// Backward passes scatter with atomicAdd: windows overlap when stride < kernel, and a scatter
// keeps the kernels as simple as the forward (a gather per input would have to re-derive, for
// every input element, which windows chose it).
#include "cuda/pool2d.h"

namespace minidl::cuda {

namespace {

constexpr int kThreads = 256;

// Matches the reference: the first maximum in row-major window order among taps inside the
// input; a NaN beats everything and the last NaN wins; a window with no tap inside the input
// gives -inf and the flat index of its first in-range tap (which may lie outside the plane).
template <typename T>
__global__ void MaxPool2dKernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ indices,
                                Pool2dGeometry g, int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.ow, oh = (o / g.ow) % g.oh, plane = o / (g.ow * g.oh);
    const T* px = x + plane * g.h * g.w;
    const int64_t r0 = oh * g.sh - g.ph, c0 = ow * g.sw - g.pw;
    T best = -static_cast<T>(INFINITY);
    int64_t best_idx = -1;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t r = r0 + i * g.dh;
      if (r < 0 || r >= g.h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t cc = c0 + j * g.dw;
        if (cc < 0 || cc >= g.w) continue;
        const T v = px[r * g.w + cc];
        if (IsNan(v) || (!IsNan(best) && (best_idx < 0 || v > best))) {
          best = v;
          best_idx = r * g.w + cc;
        }
      }
    }
    if (best_idx < 0) {  // empty window: PyTorch's start tap, stepped forward by dilation to >= 0
      const int64_t r = r0 < 0 ? r0 + ((-r0 + g.dh - 1) / g.dh) * g.dh : r0;
      const int64_t cc = c0 < 0 ? c0 + ((-c0 + g.dw - 1) / g.dw) * g.dw : c0;
      best_idx = r * g.w + cc;
    }
    y[o] = best;
    indices[o] = best_idx;
  }
}

template <typename T>
__global__ void MaxPool2dBackwardKernel(const T* __restrict__ grad, const int64_t* __restrict__ indices,
                                        T* __restrict__ grad_x, Pool2dGeometry g, int64_t total) {
  const int64_t hw = g.h * g.w;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t idx = indices[o];
    if (idx >= 0 && idx < hw) atomicAdd(grad_x + (o / (g.oh * g.ow)) * hw + idx, grad[o]);
  }
}

// The window of output (oh, ow) clipped to the padded input, its clipped-to-input part, and the
// reciprocal divisor (0 for an empty window), as PyTorch computes them.
struct AvgWindow {
  int64_t r0, r1, c0, c1;
};

template <typename T>
__device__ __forceinline__ T AvgWindowOf(const Pool2dGeometry& g, int64_t oh, int64_t ow, bool count_include_pad,
                                         AvgWindow* win) {
  int64_t r0 = oh * g.sh - g.ph, c0 = ow * g.sw - g.pw;
  int64_t r1 = min(r0 + g.kh, g.h + g.ph), c1 = min(c0 + g.kw, g.w + g.pw);
  const int64_t padded = (r1 - r0) * (c1 - c0);
  r0 = max(r0, static_cast<int64_t>(0));
  c0 = max(c0, static_cast<int64_t>(0));
  r1 = min(r1, g.h);
  c1 = min(c1, g.w);
  *win = AvgWindow{r0, r1, c0, c1};
  const int64_t div = count_include_pad ? padded : (r1 - r0) * (c1 - c0);
  return div > 0 ? T(1) / static_cast<T>(div) : T(0);
}

template <typename T>
__global__ void AvgPool2dKernel(const T* __restrict__ x, T* __restrict__ y, Pool2dGeometry g, bool count_include_pad,
                                int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.ow, oh = (o / g.ow) % g.oh, plane = o / (g.ow * g.oh);
    AvgWindow win;
    const T scale = AvgWindowOf<T>(g, oh, ow, count_include_pad, &win);
    const T* px = x + plane * g.h * g.w;
    T sum = T(0);
    for (int64_t r = win.r0; r < win.r1; ++r)
      for (int64_t cc = win.c0; cc < win.c1; ++cc) sum += px[r * g.w + cc];
    y[o] = sum * scale;
  }
}

template <typename T>
__global__ void AvgPool2dBackwardKernel(const T* __restrict__ grad, T* __restrict__ grad_x, Pool2dGeometry g,
                                        bool count_include_pad, int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % g.ow, oh = (o / g.ow) % g.oh, plane = o / (g.ow * g.oh);
    AvgWindow win;
    const T v = grad[o] * AvgWindowOf<T>(g, oh, ow, count_include_pad, &win);
    T* px = grad_x + plane * g.h * g.w;
    for (int64_t r = win.r0; r < win.r1; ++r)
      for (int64_t cc = win.c0; cc < win.c1; ++cc) atomicAdd(px + r * g.w + cc, v);
  }
}

int64_t Outputs(const Pool2dGeometry& g) { return g.n * g.c * g.oh * g.ow; }
int64_t Inputs(const Pool2dGeometry& g) { return g.n * g.c * g.h * g.w; }

}  // namespace

template <typename T>
void MaxPool2d(const T* x, T* y, int64_t* indices, const Pool2dGeometry& g, cudaStream_t stream) {
  const int64_t total = Outputs(g);
  if (total == 0) return;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(MaxPool2dKernel<T>, dim3(GridFor(total, kThreads)), dim3(kThreads), 0,
                                  stream)(x, y, indices, g, total),
                    "max_pool2d");
}

template <typename T>
void MaxPool2dBackward(const T* grad, const int64_t* indices, T* grad_x, const Pool2dGeometry& g,
                       cudaStream_t stream) {
  if (Inputs(g) == 0) return;
  MINIDL_CUDA_CHECK(cudaMemsetAsync(grad_x, 0, sizeof(T) * Inputs(g), stream), "max_pool2d_backward");
  const int64_t total = Outputs(g);
  if (total == 0) return;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(MaxPool2dBackwardKernel<T>, dim3(GridFor(total, kThreads)), dim3(kThreads), 0,
                                  stream)(grad, indices, grad_x, g, total),
                    "max_pool2d_backward");
}

template <typename T>
void AvgPool2d(const T* x, T* y, const Pool2dGeometry& g, bool count_include_pad, cudaStream_t stream) {
  const int64_t total = Outputs(g);
  if (total == 0) return;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AvgPool2dKernel<T>, dim3(GridFor(total, kThreads)), dim3(kThreads), 0,
                                  stream)(x, y, g, count_include_pad, total),
                    "avg_pool2d");
}

template <typename T>
void AvgPool2dBackward(const T* grad, T* grad_x, const Pool2dGeometry& g, bool count_include_pad,
                       cudaStream_t stream) {
  if (Inputs(g) == 0) return;
  MINIDL_CUDA_CHECK(cudaMemsetAsync(grad_x, 0, sizeof(T) * Inputs(g), stream), "avg_pool2d_backward");
  const int64_t total = Outputs(g);
  if (total == 0) return;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(AvgPool2dBackwardKernel<T>, dim3(GridFor(total, kThreads)), dim3(kThreads), 0,
                                  stream)(grad, grad_x, g, count_include_pad, total),
                    "avg_pool2d_backward");
}

#define MINIDL_INSTANTIATE(T)                                                                              \
  template void MaxPool2d<T>(const T*, T*, int64_t*, const Pool2dGeometry&, cudaStream_t);                  \
  template void MaxPool2dBackward<T>(const T*, const int64_t*, T*, const Pool2dGeometry&, cudaStream_t);    \
  template void AvgPool2d<T>(const T*, T*, const Pool2dGeometry&, bool, cudaStream_t);                      \
  template void AvgPool2dBackward<T>(const T*, T*, const Pool2dGeometry&, bool, cudaStream_t);
MINIDL_INSTANTIATE(float)
MINIDL_INSTANTIATE(double)
#undef MINIDL_INSTANTIATE

}  // namespace minidl::cuda
