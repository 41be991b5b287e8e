// Deliberately broken kernels (test-only, never part of minidl._C_cuda): tests/test_cuda_emu.py
// checks that the emulator, or the sanitizer build, turns each bug into a failure.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "cuda/common.cuh"

namespace {

constexpr int kThreads = 64;

// Sum of 64 values by a shared-memory tree; `sync` = false drops the barrier between the stores
// and the first reads (a classic race).
__global__ void TreeSum(const float* x, float* out, bool sync) {
  __shared__ float s[kThreads];
  s[threadIdx.x] = x[threadIdx.x];
  if (sync) __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    if (sync) __syncthreads();
  }
  if (threadIdx.x == 0) *out = s[0];
}

__global__ void EarlyReturn(float* out) {  // threads >= 32 leave before the barrier
  if (threadIdx.x >= 32) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void DivergentShuffle(float* out) {  // only half the warp reaches a full-mask shuffle
  float v = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16) v += __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

__global__ void WarpSum(const float* x, float* out) {  // correct: used to test the shuffles
  float v = x[threadIdx.x];
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  out[threadIdx.x] = v;
}

__global__ void OobShared(float* out) {  // writes s[kThreads] .. s[2*kThreads-1]
  __shared__ float s[kThreads];
  s[threadIdx.x] = 1.0f;
  __syncthreads();
  out[0] = s[0];
}

__global__ void OobGlobal(float* y, int n) {  // one element past the end
  y[threadIdx.x + 1] = static_cast<float>(n);
}

void Check(cudaError_t err, const char* name) { MINIDL_CUDA_CHECK(err, name); }

}  // namespace

PYBIND11_MODULE(MINIDL_CUDA_MODULE_NAME, m) {
  m.def("tree_sum", [](std::vector<float> x, bool sync) {
    float out = 0;
    Check(MINIDL_LAUNCH(TreeSum, dim3(1), dim3(kThreads), 0, nullptr)(x.data(), &out, sync), "tree_sum");
    return out;
  });
  m.def("early_return", [] {
    std::vector<float> out(64);
    Check(MINIDL_LAUNCH(EarlyReturn, dim3(1), dim3(64), 0, nullptr)(out.data()), "early_return");
  });
  m.def("divergent_shuffle", [] {
    std::vector<float> out(32);
    Check(MINIDL_LAUNCH(DivergentShuffle, dim3(1), dim3(32), 0, nullptr)(out.data()), "divergent_shuffle");
  });
  m.def("warp_sum", [](std::vector<float> x) {
    std::vector<float> out(x.size());
    Check(MINIDL_LAUNCH(WarpSum, dim3(1), dim3(static_cast<unsigned>(x.size())), 0, nullptr)(x.data(), out.data()),
          "warp_sum");
    return out;
  });
  m.def("bad_config", [] {
    std::vector<float> out(1);
    Check(MINIDL_LAUNCH(OobShared, dim3(1), dim3(64, 32), 0, nullptr)(out.data()), "bad_config");
  });
  m.def("oob_shared", [] {
    std::vector<float> out(1);
    Check(MINIDL_LAUNCH(OobShared, dim3(1), dim3(2 * kThreads), 0, nullptr)(out.data()), "oob_shared");
  });
  m.def("oob_global", [] {
    float* y = nullptr;
    Check(cudaMalloc(&y, 32 * sizeof(float)), "oob_global");
    const cudaError_t err = MINIDL_LAUNCH(OobGlobal, dim3(1), dim3(32), 0, nullptr)(y, 32);
    cudaFree(y);
    Check(err, "oob_global");
  });
}
