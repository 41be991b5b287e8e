// Shared helpers for the minidl C++ kernels: dtype dispatch, argument checks, index math.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // sysconf: the physical-memory bound of CheckOutputSize
#endif

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace minidl {

namespace py = pybind11;

/** Throw std::invalid_argument("op: msg") unless `cond` holds. pybind11 turns it into ValueError.
 *  Kernels receive inputs already validated in Python; this is the last line of defense against
 *  a caller that bypasses the Python layer (a wrong pointer would otherwise crash the process). */
#define MINIDL_CHECK(cond, op, msg)                                                     \
  do {                                                                                  \
    if (!(cond)) throw std::invalid_argument(std::string(op) + ": " + std::string(msg)); \
  } while (0)

/** "(2, 3, 4)" for error messages. */
inline std::string ShapeString(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (d) s += ", ";
    s += std::to_string(a.shape(d));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

/** numpy's name of an array's dtype ("float32", "int64", ...). */
inline std::string DtypeName(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline bool IsCContiguous(const py::array& a) { return (a.flags() & py::array::c_style) != 0; }

/** Whether two dtypes are the same type (NumPy's PyArray_EquivTypes: kind, size and byte order). Equal dtypes
 *  need not be one object: a dtype rebuilt by pickle, or spelled with an explicit native byte order, is another
 *  object, and comparing by identity would refuse "float32 because it is not float32". */
inline bool SameDtype(const py::dtype& a, const py::dtype& b) {
  return a.is(b) || py::detail::npy_api::get().PyArray_EquivTypes_(a.ptr(), b.ptr());
}

/** Whether `d` is the dtype of C++ type T. */
template <typename T>
inline bool IsDtype(const py::dtype& d) {
  return SameDtype(d, py::dtype::of<T>());
}

/** Check that `a` is a C-contiguous float32/float64 array with `ndim` dimensions; `name` is the
 *  argument's name in messages. */
inline void CheckFloatArray(const py::array& a, py::ssize_t ndim, const char* op, const char* name) {
  MINIDL_CHECK(a.ndim() == ndim, op,
               std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " + ShapeString(a));
  const bool is_float = IsDtype<float>(a.dtype()) || IsDtype<double>(a.dtype());
  MINIDL_CHECK(is_float, op, std::string(name) + " must be float32 or float64, got " + DtypeName(a));
  MINIDL_CHECK(IsCContiguous(a), op, std::string(name) + " must be C-contiguous (make it contiguous in Python)");
}

/** Check that all arrays share the dtype of the first. */
inline void CheckSameDtype(const py::array& a, const py::array& b, const char* op) {
  MINIDL_CHECK(SameDtype(a.dtype(), b.dtype()), op, "dtypes differ: " + DtypeName(a) + " and " + DtypeName(b));
}

/** Check that two arrays have the same shape. */
inline void CheckSameShape(const py::array& a, const py::array& b, const char* op) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == b.shape(d);
  MINIDL_CHECK(same, op, "shapes differ: " + ShapeString(a) + " and " + ShapeString(b));
}

/** A new uninitialised C-contiguous array of a's dtype and shape. */
inline py::array EmptyLike(const py::array& a) {
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  return py::array(a.dtype(), shape);
}

/** Call `fn(T{})` with T = float or double according to `dtype`; anything else is a ValueError.
 *  Usage: DispatchFloat(x.dtype(), "conv2d", [&](auto tag) { using T = decltype(tag); ... }); */
template <typename Fn>
auto DispatchFloat(const py::dtype& dtype, const char* op, Fn&& fn) {
  if (IsDtype<float>(dtype)) return fn(float{});
  if (IsDtype<double>(dtype)) return fn(double{});
  throw std::invalid_argument(std::string(op) + ": unsupported dtype " + py::str(dtype).cast<std::string>() +
                              " (float32 or float64 expected)");
}

/** Typed pointers into arrays whose dtype was checked to be T. */
template <typename T>
inline const T* DataOf(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
inline T* MutableDataOf(py::array& a) { return static_cast<T*>(a.mutable_data()); }

/** Row-major flat offsets. */
inline int64_t Index2(int64_t i, int64_t j, int64_t cols) { return i * cols + j; }
inline int64_t Index3(int64_t i, int64_t j, int64_t k, int64_t d1, int64_t d2) { return (i * d1 + j) * d2 + k; }
inline int64_t Index4(int64_t n, int64_t c, int64_t h, int64_t w, int64_t C, int64_t H, int64_t W) {
  return ((n * C + c) * H + h) * W + w;
}

/** ceil(a / b) for b > 0, a >= 0. */
inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/** The most elements a kernel allocates for one output (the Python layer checks the same bound
 *  first: minidl/backends/geometry.py MAX_ELEMENTS). */
constexpr double kMaxOutputElements = 281474976710656.0;  // 2^48

/** This machine's physical memory in bytes (0 where the OS does not say). */
inline double PhysicalMemoryBytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
#else
  return 0.0;
#endif
}

/** Check, before allocating, that an output of these dims (each >= 0) and element size is within
 *  kMaxOutputElements and the machine's memory (a ValueError naming the op, not NumPy's
 *  MemoryError); zero-length dims count as 1, as NumPy's own size check does. */
inline void CheckOutputSize(const char* op, const char* what, std::initializer_list<int64_t> dims,
                            int64_t itemsize) {
  double count = 1.0;
  bool empty = false;
  std::string shape = "(";
  for (const int64_t d : dims) {
    count *= d > 1 ? double(d) : 1.0;
    empty = empty || d == 0;
    shape += (shape.size() > 1 ? ", " : "") + std::to_string(d);
  }
  const double memory = PhysicalMemoryBytes();
  MINIDL_CHECK(count <= kMaxOutputElements && (empty || memory == 0.0 || count * double(itemsize) <= memory), op,
               std::string(what) + " would have shape " + shape + "), more than 2^48 elements or this machine's " +
                   std::to_string(static_cast<int64_t>(memory / double(1 << 30))) + " GiB of memory");
}

}  // namespace minidl
