// build_info(): what the compiler knew when minidl._C was built (threads, SIMD, blocking).
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
  return info;
}

}  // namespace cpu
}  // namespace minidl
