// scatter_add_rows: the backward of picking rows by an index array (embedding lookups, x[idx]):
// out = zeros(rows, d); out[index[i]] += grad[i] for every i, repeats adding up.
// Threads own disjoint column blocks, so no element is written by two threads: no atomics, and the
// sum for each element runs in index order, the same on every run (deterministic, as NumPy's add.at).
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/kernels.h"

namespace minidl {
namespace cpu {
namespace {

template <typename T>
void ScatterAddRowsImpl(const T* grad, const int64_t* index, int64_t n, int64_t d, T* out) {
  // a few columns per thread still stream whole rows of grad; below ~32 Ki elements one thread is cheaper
  // than waking the others
  const int64_t work = n * d;
  int threads = 1;
#ifdef _OPENMP
  if (work >= (int64_t{1} << 15) && !omp_in_parallel())
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), d / 8)));
#endif
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const int64_t c0 = d * t / nt, c1 = d * (t + 1) / nt;
    for (int64_t i = 0; i < n; ++i) {
      T* __restrict o = out + index[i] * d;
      const T* __restrict s = grad + i * d;
      for (int64_t c = c0; c < c1; ++c) o[c] += s[c];
    }
  }
}

}  // namespace

py::array ScatterAddRows(const py::array& grad, const py::array& index, int64_t rows) {
  const char* op = "scatter_add_rows";
  CheckFloatArray(grad, 2, op, "grad");
  MINIDL_CHECK(index.ndim() == 1 && IsDtype<int64_t>(index.dtype()) && IsCContiguous(index), op,
               "index must be a C-contiguous 1-D int64 array, got " + DtypeName(index) + " " + ShapeString(index));
  MINIDL_CHECK(index.shape(0) == grad.shape(0), op,
               "index " + ShapeString(index) + " and grad " + ShapeString(grad) + " differ in length");
  MINIDL_CHECK(rows >= 0, op, "rows must be >= 0, got " + std::to_string(rows));
  const int64_t n = grad.shape(0), d = grad.shape(1);
  const int64_t* idx = static_cast<const int64_t*>(index.data());
  for (int64_t i = 0; i < n; ++i)  // memory safety: every row written must exist
    MINIDL_CHECK(idx[i] >= 0 && idx[i] < rows, op,
                 "index " + std::to_string(idx[i]) + " at position " + std::to_string(i) + " is outside 0.." +
                     std::to_string(rows - 1));
  py::array out(grad.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(d)});
  const bool f32 = IsDtype<float>(grad.dtype());
  void* o = out.mutable_data();
  const void* g = grad.data();
  {
    py::gil_scoped_release release;
    std::fill_n(static_cast<char*>(o), static_cast<size_t>(rows * d) * (f32 ? sizeof(float) : sizeof(double)), 0);
    if (f32)
      ScatterAddRowsImpl(static_cast<const float*>(g), idx, n, d, static_cast<float*>(o));
    else
      ScatterAddRowsImpl(static_cast<const double*>(g), idx, n, d, static_cast<double*>(o));
  }
  return out;
}

}  // namespace cpu
}  // namespace minidl
