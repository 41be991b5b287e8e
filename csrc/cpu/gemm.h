// The CPU GEMM engine shared by the kernels that reduce to a matrix product (matmul, conv2d).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace minidl {
namespace cpu {

/** A read-only matrix seen through two strides (in elements): element (i, j) is
 *  data[i * row_stride + j * col_stride]. A row-major (R, C) buffer is {data, C, 1}; its
 *  transpose, with no copy, is {data, 1, C}. */
template <typename T>
struct StridedMatrix {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;

  /** The same buffer seen as the transposed matrix. */
  StridedMatrix Transposed() const { return {data, col_stride, row_stride}; }
};

/** C = A @ B (or C += A @ B when `accumulate`), A (M, K) and B (K, N) strided, C (M, N) row-major
 *  with leading dimension ldc. Uses the OpenMP threads when the product is large enough;
 *  callers must not hold the GIL (this never touches Python objects). M, N or K may be 0;
 *  K == 0 writes zeros (or leaves C unchanged when accumulating). */
template <typename T>
void Gemm(int64_t M, int64_t N, int64_t K, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
          bool accumulate);

/** `batch` independent products C[i] = A[i] @ B[i]; operand i starts at data + i * batch_stride.
 *  C[i] is row-major (M, N) with leading dimension N, at c + i * c_batch_stride. Parallel over
 *  the batch when that balances better than parallelising each product. */
template <typename T>
void GemmBatched(int64_t batch, int64_t M, int64_t N, int64_t K, StridedMatrix<T> a, int64_t a_batch_stride,
                 StridedMatrix<T> b, int64_t b_batch_stride, T* c, int64_t c_batch_stride);

/** The micro-tile (rows MR, columns NR) of the compiled GEMM for T: products whose M and N are
 *  multiples of these waste no work in partial tiles, which lets callers pick an orientation. */
template <typename T>
std::pair<int, int> GemmMicroTile();

/** One line describing the compiled blocking (micro-tile, KC/MC/NC, vector width). */
std::string GemmDescription();

}  // namespace cpu
}  // namespace minidl
