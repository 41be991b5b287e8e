// Per-thread scratch buffers kept between calls, so a kernel's big temporaries are allocated (and
// their pages faulted in) once per thread rather than on every call.
#pragma once

#include <cstddef>
#include <vector>

namespace minidl {
namespace cpu {

/** Slot `slot` (< kSlots) of pool `Pool` for the calling thread, grown to at least `count`
 *  elements; the contents are whatever the last user left. `Pool` is a tag type, one per kernel
 *  file, so kernels that may call each other never hand out the same buffer. */
template <typename T, typename Pool, int kSlots>
T* ThreadScratch(int slot, size_t count) {
  static thread_local std::vector<T> buffers[kSlots];
  std::vector<T>& buf = buffers[slot];
  if (buf.size() < count) {
    buf.clear();
    buf.shrink_to_fit();  // free the old buffer before taking the bigger one
    buf.resize(count);
  }
  return buf.data();
}

}  // namespace cpu
}  // namespace minidl
