// Allocator tuning for the training loop's memory pattern.
//
// A training step allocates and frees the same large activation and gradient arrays every iteration.
// glibc serves blocks above M_MMAP_THRESHOLD with fresh mmap()s and returns free heap tops to the OS
// beyond M_TRIM_THRESHOLD, so each step pays a page fault per 4 KiB of every large array (measured:
// 38 -> 24 ms per MNIST-CNN step on a 2-core VM once the memory is reused). Raising both thresholds
// keeps freed blocks in the heap for the next step. It is process-wide, so Python asks for it once,
// when the native provider loads, and MINIDL_MALLOC_TUNING=0 turns it off.
#include <cstdlib>  // defines __GLIBC__ on glibc systems
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {

py::dict TuneAllocator(int64_t mmap_threshold, int64_t trim_threshold) {
  MINIDL_CHECK(mmap_threshold > 0 && trim_threshold > 0, "tune_allocator", "thresholds must be positive");
  py::dict out;
#if defined(__GLIBC__)
  // glibc rejects an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit): clamp to what it takes.
  const int64_t mmap_cap = int64_t{32} << 20;
  const int64_t mmap_value = mmap_threshold < mmap_cap ? mmap_threshold : mmap_cap;
  const int64_t trim_value = trim_threshold < (int64_t{1} << 30) ? trim_threshold : (int64_t{1} << 30);
  const bool ok_mmap = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_value)) == 1;
  const bool ok_trim = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_value)) == 1;
  out["allocator"] = "glibc";
  out["mmap_threshold"] = ok_mmap ? py::object(py::int_(mmap_value)) : py::object(py::none());
  out["trim_threshold"] = ok_trim ? py::object(py::int_(trim_value)) : py::object(py::none());
#else
  (void)mmap_threshold;
  (void)trim_threshold;
  out["allocator"] = "not glibc: left as it is";
#endif
  return out;
}

}  // namespace cpu
}  // namespace minidl
