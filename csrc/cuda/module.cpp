// PYBIND11_MODULE of minidl._C_cuda (and of the emulated test module _C_cuda_emu, built from the
// same sources): every registered binder's m.def lines, plus a GPU probe that never crashes.
#include <pybind11/pybind11.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/registry.h"

#ifndef MINIDL_CUDA_MODULE_NAME
#define MINIDL_CUDA_MODULE_NAME _C_cuda
#endif

namespace {

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

// "ok: N device(s)" or "no usable GPU: <error name>: <error string>"; importing the module on a
// machine without a driver works, and this says why nothing can run.
std::string Status() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return std::string("no usable GPU: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
  }
  if (n == 0) return "no usable GPU: no CUDA device found";
#if defined(MINIDL_CUDA_EMULATION)
  return "ok: emulated on the CPU (test build)";
#else
  return "ok: " + std::to_string(n) + " device(s)";
#endif
}

}  // namespace

PYBIND11_MODULE(MINIDL_CUDA_MODULE_NAME, m) {
  m.doc() = "minidl's CUDA kernels (device pointers as ints, dtype as a string, CuPy's stream as an int)";
#if defined(MINIDL_CUDA_EMULATION)
  m.attr("emulated") = true;
#else
  m.attr("emulated") = false;
#endif
  m.def("device_count", &DeviceCount, "Number of usable CUDA devices (0 when there is no driver or GPU).");
  m.def("status", &Status, "'ok: ...' or 'no usable GPU: <reason>'.");
  for (minidl::cuda::Binder bind : minidl::cuda::Binders()) bind(m);
}
