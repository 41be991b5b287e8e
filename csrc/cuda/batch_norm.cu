// batch_norm on the GPU: one block per channel walks that channel's N*L values (N runs of L
// contiguous elements). Sums accumulate in double per thread and are combined by a block reduction
// (warp shuffles, then the per-warp partials through shared memory), as the reference's float64
// statistics. The variance is two-pass (mean first, then the sum of squared deviations), stable
// whatever the offset of the data.
//
// One block per channel keeps each channel's statistics in one place (no second kernel, no
// atomics) at the cost of parallelism when C is small and N*L large.
#include "cuda/batch_norm.h"

namespace minidl::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

/** Walks (b, l) over the flat range i = start, start + step, ... < N*L of one channel without a
 *  division per element: the step is split once into whole rows and a remainder. */
struct ChannelWalk {
  int64_t b, l;         // current sample and position in the row
  int64_t db, dl;       // step as whole rows + remainder
  int64_t N, L;
  __device__ ChannelWalk(int64_t start, int64_t step, int64_t n, int64_t len)
      : b(len > 0 ? start / len : n), l(len > 0 ? start % len : 0), db(len > 0 ? step / len : 0),
        dl(len > 0 ? step % len : 0), N(n), L(len) {}  // L == 0: empty walk, no division by zero
  __device__ bool ok() const { return b < N; }
  __device__ void next() {
    b += db;
    l += dl;
    if (l >= L) {
      l -= L;
      ++b;
    }
  }
  __device__ int64_t offset(int64_t C, int64_t c) const { return (b * C + c) * L + l; }
};

/** Sum of (u, v) over the block, returned to every thread. Shuffle within each warp, the warps'
 *  partials through shared memory, then a full butterfly in every warp over those partials (each
 *  warp ends with the total in all lanes, which saves a second barrier-and-broadcast round). */
__device__ inline void BlockSum2(double& u, double& v) {
  __shared__ double part[2][kWarps];
  for (int d = 16; d > 0; d /= 2) {
    u += __shfl_xor_sync(0xffffffff, u, d);
    v += __shfl_xor_sync(0xffffffff, v, d);
  }
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  if (lane == 0) {
    part[0][warp] = u;
    part[1][warp] = v;
  }
  __syncthreads();
  u = lane < kWarps ? part[0][lane] : 0.0;
  v = lane < kWarps ? part[1][lane] : 0.0;
  for (int d = 16; d > 0; d /= 2) {  // all 32 lanes: a butterfly over lanes < kWarps only would leave
    u += __shfl_xor_sync(0xffffffff, u, d);  // lanes >= kWarps with the sum of their zeros
    v += __shfl_xor_sync(0xffffffff, v, d);
  }
  __syncthreads();  // the partials may be reused by the next call
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    BatchNormForwardKernel(const T* x, const T* weight, const T* bias, T* rm, T* rv, bool training, double momentum,
                           double eps, int64_t N, int64_t C, int64_t L, T* y, T* save_mean, T* save_invstd) {
  const int64_t c = blockIdx.x, n = N * L, tid = threadIdx.x;
  double mean = 0, invstd = 0;
  if (!training && rm != nullptr) {  // eval with buffers: the running statistics (uniform per block)
    mean = static_cast<double>(rm[c]);
    invstd = 1.0 / sqrt(static_cast<double>(rv[c]) + eps);
  } else if (n > 0) {
    double sum = 0, unused = 0;
    for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) sum += static_cast<double>(x[it.offset(C, c)]);
    BlockSum2(sum, unused);
    mean = sum / static_cast<double>(n);
    double var_sum = 0;
    unused = 0;
    for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) {
      const double d = static_cast<double>(x[it.offset(C, c)]) - mean;
      var_sum += d * d;
    }
    BlockSum2(var_sum, unused);
    invstd = 1.0 / sqrt(var_sum / static_cast<double>(n) + eps);
    if (training && rm != nullptr && tid == 0) {
      // n == 1: var_sum is exactly 0 and 0 / 0 is the NaN that PyTorch (and the reference) store.
      const double unbiased = var_sum / static_cast<double>(n - 1);
      rm[c] = static_cast<T>((1 - momentum) * static_cast<double>(rm[c]) + momentum * mean);
      rv[c] = static_cast<T>((1 - momentum) * static_cast<double>(rv[c]) + momentum * unbiased);
    }
  }
  // y in T exactly as the reference: (x - mean) * (weight * invstd) + bias.
  const T m = static_cast<T>(mean), is = static_cast<T>(invstd);
  if (tid == 0) {
    save_mean[c] = m;
    save_invstd[c] = is;
  }
  const T scale = weight[c] * is, shift = bias[c];
  for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) {
    const int64_t o = it.offset(C, c);
    y[o] = (x[o] - m) * scale + shift;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    BatchNormBackwardKernel(const T* grad, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                            bool training, int64_t N, int64_t C, int64_t L, T* gx, T* gw, T* gb) {
  const int64_t c = blockIdx.x, n = N * L, tid = threadIdx.x;
  const T m = save_mean[c], is = save_invstd[c];
  // grad_bias = sum g, grad_weight = sum g * xhat (xhat and the product in T, the sums in double).
  double sg = 0, sgx = 0;
  for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) {
    const int64_t o = it.offset(C, c);
    const T g = grad[o];
    sg += static_cast<double>(g);
    sgx += static_cast<double>(g * ((x[o] - m) * is));
  }
  BlockSum2(sg, sgx);
  if (tid == 0) {
    gb[c] = static_cast<T>(sg);
    gw[c] = static_cast<T>(sgx);
  }
  const T scale = weight[c] * is;
  if (training && n > 0) {
    const T mean_g = static_cast<T>(sg / static_cast<double>(n)), mean_gx = static_cast<T>(sgx / static_cast<double>(n));
    for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) {
      const int64_t o = it.offset(C, c);
      gx[o] = (grad[o] - mean_g - ((x[o] - m) * is) * mean_gx) * scale;
    }
  } else {
    for (ChannelWalk it(tid, kThreads, N, L); it.ok(); it.next()) {
      const int64_t o = it.offset(C, c);
      gx[o] = grad[o] * scale;
    }
  }
}

// One block per channel: grid.x allows 2^31 - 1 blocks, more than any channel count.
}  // namespace

template <typename T>
void BatchNormForward(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var, bool training,
                      double momentum, double eps, int64_t N, int64_t C, int64_t L, T* y, T* save_mean,
                      T* save_invstd, cudaStream_t stream) {
  if (C <= 0) return;
  auto* kernel = &BatchNormForwardKernel<T>;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(kernel, dim3(static_cast<unsigned>(C)), dim3(kThreads), 0, stream)(
                        x, weight, bias, running_mean, running_var, training, momentum, eps, N, C, L, y, save_mean,
                        save_invstd),
                    "batch_norm");
}

template <typename T>
void BatchNormBackward(const T* grad, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                       bool training, int64_t N, int64_t C, int64_t L, T* grad_x, T* grad_weight, T* grad_bias,
                       cudaStream_t stream) {
  if (C <= 0) return;
  auto* kernel = &BatchNormBackwardKernel<T>;
  MINIDL_CUDA_CHECK(MINIDL_LAUNCH(kernel, dim3(static_cast<unsigned>(C)), dim3(kThreads), 0, stream)(
                        grad, x, weight, save_mean, save_invstd, training, N, C, L, grad_x, grad_weight, grad_bias),
                    "batch_norm_backward");
}

#define MINIDL_INSTANTIATE(T)                                                                                     \
  template void BatchNormForward<T>(const T*, const T*, const T*, T*, T*, bool, double, double, int64_t, int64_t, \
                                    int64_t, T*, T*, T*, cudaStream_t);                                           \
  template void BatchNormBackward<T>(const T*, const T*, const T*, const T*, const T*, bool, int64_t, int64_t,    \
                                     int64_t, T*, T*, T*, cudaStream_t);
MINIDL_INSTANTIATE(float)
MINIDL_INSTANTIATE(double)
#undef MINIDL_INSTANTIATE

}  // namespace minidl::cuda
