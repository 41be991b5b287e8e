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

/** Cache blocking of the GEMM for one element type (elements): KC (depth of a packed slab), MC
 *  (rows of one thread's packed A block), NC (columns of the shared packed B panel). */
struct GemmBlockSizes {
  int64_t kc;
  int64_t mc;
  int64_t nc;
};

/** The data caches the CPU reports (bytes; ways 0 when unknown). l3_sharing: logical CPUs that
 *  share the L3. `source` says where the figures came from. */
struct CpuCaches {
  int64_t l1d = 0, l1d_ways = 0;
  int64_t l2 = 0, l2_ways = 0;
  int64_t l3 = 0, l3_ways = 0, l3_sharing = 1;
  std::string source;
  int64_t line = 64;  // bytes per cache line
};

/** The caches of this CPU, detected once (sysconf, then /sys/devices/system/cpu/cpu0/cache). */
const CpuCaches& DetectedCaches();

/** The blocking the analytic model (Low et al., "Analytical modeling is enough for
 *  high-performance BLIS") derives from `caches` for element type T with this build's
 *  micro-tile: KC from L1, MC from L2, NC from the L3 share of one core. */
template <typename T>
GemmBlockSizes ModelBlocking(const CpuCaches& caches);

/** The blocking Gemm uses now for T: the model's, unless MINIDL_GEMM_BLOCKING="kc,mc,nc" (read
 *  once) or SetGemmBlocking overrides it. MC and NC are rounded up to whole micro-tiles. */
template <typename T>
GemmBlockSizes GemmBlocking();

/** Overrides the blocking of both element types (values in elements; 0 restores the model's
 *  value of that field). Returns false, changing nothing, for a negative value. */
bool SetGemmBlocking(int64_t kc, int64_t mc, int64_t nc);

/** Where the blocking in use comes from: "model", "MINIDL_GEMM_BLOCKING" or "set_gemm_blocking". */
std::string GemmBlockingSource();

/** Measured FMA throughput (GFLOP/s, 2 flops per lane per FMA) of `threads` threads running
 *  independent vector FMA chains for about `seconds`: the ceiling the GEMM is judged against. */
double MeasureFmaPeak(bool is_double, int threads, double seconds);

}  // namespace cpu
}  // namespace minidl
