// build_info(): what the compiler knew when minidl._C was built (threads, SIMD, blocking).
#include <algorithm>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {

/** build_info() -> dict
 *  compiler: the compiler's version string; openmp: the _OPENMP date (0 without OpenMP);
 *  max_threads: threads the kernels will use now; simd: instruction-set macros that were
 *  defined at compile time; gemm: the GEMM's register and cache blocking. */
py::dict BuildInfo() {
  py::dict info;
#if defined(__clang__)
  info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  info["compiler"] = std::string("msvc ") + std::to_string(_MSC_VER);
#else
  info["compiler"] = std::string("unknown");
#endif
#ifdef _OPENMP
  info["openmp"] = static_cast<int>(_OPENMP);
  info["max_threads"] = omp_get_max_threads();
#else
  info["openmp"] = 0;
  info["max_threads"] = 1;
#endif
  py::list simd;
#ifdef __SSE2__
  simd.append("SSE2");
#endif
#ifdef __AVX__
  simd.append("AVX");
#endif
#ifdef __AVX2__
  simd.append("AVX2");
#endif
#ifdef __FMA__
  simd.append("FMA");
#endif
#ifdef __AVX512F__
  simd.append("AVX512F");
#endif
#ifdef __ARM_NEON
  simd.append("NEON");
#endif
  info["simd"] = simd;
  info["gemm"] = GemmDescription();
  info["gemm_blocking"] = GemmBlockingInfo();
  return info;
}

namespace {

py::dict BlockSizesDict(const GemmBlockSizes& blk) {
  py::dict d;
  d["kc"] = blk.kc;
  d["mc"] = blk.mc;
  d["nc"] = blk.nc;
  return d;
}

}  // namespace

/** gemm_blocking() -> dict
 *  float32 / float64: {mr, nr, kc, mc, nc} in use now; model_float32 / model_float64: what the
 *  cache model chose; source: "model", "MINIDL_GEMM_BLOCKING" or "set_gemm_blocking"; caches:
 *  the detected sizes in bytes (l1d, l2, l3, their ways, l3_sharing CPUs, where they came from). */
py::dict GemmBlockingInfo() {
  py::dict info;
  const CpuCaches& caches = DetectedCaches();
  auto add = [&](auto tag, const char* name) {
    using T = decltype(tag);
    py::dict d = BlockSizesDict(GemmBlocking<T>());
    const auto [mr, nr] = GemmMicroTile<T>();
    d["mr"] = mr;
    d["nr"] = nr;
    info[name] = d;
    info[(std::string("model_") + name).c_str()] = BlockSizesDict(ModelBlocking<T>(caches));
  };
  add(float{}, "float32");
  add(double{}, "float64");
  info["source"] = GemmBlockingSource();
  py::dict c;
  c["l1d"] = caches.l1d;
  c["l1d_ways"] = caches.l1d_ways;
  c["l2"] = caches.l2;
  c["l2_ways"] = caches.l2_ways;
  c["l3"] = caches.l3;
  c["l3_ways"] = caches.l3_ways;
  c["l3_sharing"] = caches.l3_sharing;
  c["source"] = caches.source;
  info["caches"] = c;
  return info;
}

/** set_gemm_blocking(kc=0, mc=0, nc=0) -> dict
 *  Overrides the GEMM cache blocking (elements; 0 keeps the model's value of that field; all 0
 *  restores the model). MC and NC are rounded up to whole micro-tiles. Returns gemm_blocking(). */
py::dict SetGemmBlockingPy(int64_t kc, int64_t mc, int64_t nc) {
  MINIDL_CHECK(SetGemmBlocking(kc, mc, nc), "set_gemm_blocking",
               "block sizes must be >= 0, got kc=" + std::to_string(kc) + " mc=" + std::to_string(mc) +
                   " nc=" + std::to_string(nc));
  return GemmBlockingInfo();
}

/** fma_peak(dtype="float32", threads=0, seconds=0.2) -> float
 *  GFLOP/s of `threads` threads (0: all OpenMP threads) running independent vector FMA chains:
 *  the measured peak the GEMM's efficiency is reported against. Releases the GIL. */
double FmaPeakPy(const std::string& dtype, int threads, double seconds) {
  MINIDL_CHECK(dtype == "float32" || dtype == "float64", "fma_peak", "dtype must be float32 or float64, got " + dtype);
#ifdef _OPENMP
  if (threads <= 0) threads = omp_get_max_threads();
#endif
  py::gil_scoped_release release;
  return MeasureFmaPeak(dtype == "float64", std::max(1, threads), seconds);
}

}  // namespace cpu
}  // namespace minidl
