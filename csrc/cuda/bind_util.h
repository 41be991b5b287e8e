// Helpers for the bindings of minidl._C_cuda (host compiler only): pointers arrive as Python ints,
// dtypes as strings, the stream as an int.
#pragma once

#include <cstdint>
#include <string>

#include "common.h"
#include "cuda/common.cuh"

namespace minidl::cuda {

template <typename T>
inline T* Ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

inline cudaStream_t Stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

/** Call fn(T{}) with T = float for "float32", double for "float64"; anything else is a ValueError. */
template <typename Fn>
auto DispatchDtype(const std::string& dtype, const char* op, Fn&& fn) {
  if (dtype == "float32") return fn(float{});
  if (dtype == "float64") return fn(double{});
  throw std::invalid_argument(std::string(op) + ": unsupported dtype " + dtype + " (float32 or float64 expected)");
}

/** A null pointer is only acceptable for an empty buffer. */
inline void CheckPtr(std::uintptr_t p, int64_t elements, const char* op, const char* name) {
  MINIDL_CHECK(p != 0 || elements == 0, op, std::string(name) + " is a null pointer");
}

}  // namespace minidl::cuda
