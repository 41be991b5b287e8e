// matmul and matmul_backward on the CPU, over a packed, cache-blocked, register-blocked GEMM.
//
// The GEMM follows the Goto/BLIS structure:
//   for jc over N in steps of NC      (B panel KC x NC lives in L3, shared by the threads)
//     for pc over K in steps of KC    the team packs B[pc:pc+KC, jc:jc+NC] into NR-wide micro-panels
//       work items (MC rows x a run of NR panels), taken by the threads from a shared counter:
//         pack A[ic:ic+MC, pc:pc+KC] into MR-tall micro-panels (L2, per thread)
//         for each NR panel, for each MR panel: micro-kernel (MR x NR accumulators in registers)
// Packing reads the operands through two strides, so a transposed operand (the backward's A^T
// and B^T) costs nothing extra: only the packing loop order changes. KC, MC and NC are chosen
// at run time from the detected caches (gemm_tuning.cpp). A small product (A within one MC
// block) with a row-major B skips packing B and all barriers: the micro-kernel reads B in place.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"

// Register blocking, fixed at compile time by the instruction set the compiler may use
// (-march=native picks the widest the build machine has; a portable build gets SSE2/NEON).
// MINIDL_MR rows x MINIDL_NV vectors of accumulators, plus NV vectors of B and one broadcast
// of A, must fit the register file: 14x2+3 = 31 of 32 zmm; 6x2+3 = 15 of 16 ymm/xmm.
#if defined(__AVX512F__)
#define MINIDL_VEC_BYTES 64
#define MINIDL_MR 14
#define MINIDL_NV 2
#elif defined(__AVX__)
#define MINIDL_VEC_BYTES 32
#define MINIDL_MR 6
#define MINIDL_NV 2
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define MINIDL_VEC_BYTES 16
#define MINIDL_MR 8
#define MINIDL_NV 3
#else
#define MINIDL_VEC_BYTES 16
#define MINIDL_MR 6
#define MINIDL_NV 2
#endif

namespace minidl {
namespace cpu {
namespace {

#if defined(__GNUC__)
// GCC/Clang vector extensions: arithmetic on these compiles to whole-register SIMD instructions.
// may_alias because packed buffers are written as T and read as vectors.
typedef float VecF __attribute__((vector_size(MINIDL_VEC_BYTES), __may_alias__));
typedef double VecD __attribute__((vector_size(MINIDL_VEC_BYTES), __may_alias__));
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  using type = VecF;
};
template <>
struct VecOf<double> {
  using type = VecD;
};
#endif

/** Register blocking for element type T (the cache blocking is chosen at run time: GemmBlocking
 *  in gemm_tuning.cpp). */
template <typename T>
struct Blocking {
  static constexpr int kVL = MINIDL_VEC_BYTES / static_cast<int>(sizeof(T));  // lanes per vector
  static constexpr int kMR = MINIDL_MR;                                         // micro-tile rows
  static constexpr int kNR = kVL * MINIDL_NV;                                   // micro-tile columns
};

/** Growable 64-byte aligned scratch memory, kept per thread so repeated calls do not pay for
 *  fresh pages. */
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { Release(); }

  T* Get(size_t count) {
    if (count > capacity_) {
      Release();
      ptr_ = static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(64)));
      capacity_ = count;
    }
    return ptr_;
  }

 private:
  void Release() {
    if (ptr_ != nullptr) ::operator delete(ptr_, std::align_val_t(64));
    ptr_ = nullptr;
    capacity_ = 0;
  }
  T* ptr_ = nullptr;
  size_t capacity_ = 0;
};

template <typename T>
struct Workspace {
  AlignedBuffer<T> packed_a;
  AlignedBuffer<T> packed_b;
};

template <typename T>
Workspace<T>& ThreadWorkspace() {
  static thread_local Workspace<T> workspace;
  return workspace;
}

/** The threads cooperating on one GEMM: this thread's id and the team size. */
struct Team {
  int id = 0;
  int size = 1;

  void Barrier() const {
#ifdef _OPENMP
    if (size > 1) {
#pragma omp barrier
    }
#endif
  }
};

/** [begin, end) of part `idx` when n items are cut into `parts` nearly equal parts. */
inline std::pair<int64_t, int64_t> SplitRange(int64_t n, int parts, int idx) {
  return {n * idx / parts, n * (idx + 1) / parts};
}

/** Pack rows [i0, i0+mb) x columns [p0, p0+kc) of A into MR-tall micro-panels: panel q holds
 *  element (q*MR + i, p) at dst[q*MR*kc + p*MR + i], rows past mb zero. Only panels
 *  [q_begin, q_end) are written (the caller's share). */
template <typename T>
void PackA(const StridedMatrix<T>& a, int64_t i0, int64_t mb, int64_t p0, int64_t kc, int64_t q_begin,
           int64_t q_end, T* dst) {
  constexpr int MR = Blocking<T>::kMR;
  for (int64_t q = q_begin; q < q_end; ++q) {
    T* panel = dst + q * MR * kc;
    const int64_t row0 = q * MR;
    const int64_t rows = std::min<int64_t>(MR, mb - row0);
    const T* src = a.data + (i0 + row0) * a.row_stride + p0 * a.col_stride;
    if (a.col_stride == 1 && rows == MR) {
      // Row-major A, a full panel: k outer so the panel is written in order, one cache line of
      // each of the MR rows at a time, while the next panel's rows (MR * row_stride further, in
      // no stream the prefetchers follow yet) are fetched ahead.
      constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
      const bool last = q + 1 >= q_end;
      for (int64_t p0 = 0; p0 < kc; p0 += kLine) {
        if (!last) {
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) __builtin_prefetch(src + (MR + i) * a.row_stride + p0, 0, 3);
        }
        const int64_t p1 = std::min(kc, p0 + kLine);
        for (int64_t p = p0; p < p1; ++p) {
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) panel[p * MR + i] = src[i * a.row_stride + p];
        }
      }
    } else if (a.col_stride == 1) {
      // Row-major A, the partial last panel: each row is contiguous along k.
      for (int64_t i = 0; i < rows; ++i) {
        const T* row = src + i * a.row_stride;
        for (int64_t p = 0; p < kc; ++p) panel[p * MR + i] = row[p];
      }
    } else {
      // Transposed (column-major) or general strides: walk k outer, rows inner.
      for (int64_t p = 0; p < kc; ++p) {
        const T* col = src + p * a.col_stride;
        for (int64_t i = 0; i < rows; ++i) panel[p * MR + i] = col[i * a.row_stride];
      }
    }
    if (rows < MR) {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = rows; i < MR; ++i) panel[p * MR + i] = T(0);
    }
  }
}

/** Pack rows [p0, p0+kc) x columns [j0, j0+nb) of B into NR-wide micro-panels: panel q holds
 *  element (p, q*NR + j) at dst[q*NR*kc + p*NR + j], columns past nb zero. */
template <typename T>
void PackB(const StridedMatrix<T>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nb, int64_t q_begin,
           int64_t q_end, T* dst) {
  constexpr int NR = Blocking<T>::kNR;
  if (b.col_stride == 1) {
    // Row-major B: rows outer, so B is read in order (one stream the prefetchers follow) and each
    // row's slices go to the panels; panel by panel would read one slice per row, row_stride
    // apart, a new page every few rows.
    for (int64_t p = 0; p < kc; ++p) {
      const T* row = b.data + (p0 + p) * b.row_stride + j0;
      for (int64_t q = q_begin; q < q_end; ++q) {
        const int64_t cols = std::min<int64_t>(NR, nb - q * NR);
        T* out = dst + q * NR * kc + p * NR;
        if (cols == NR) {
          std::memcpy(out, row + q * NR, sizeof(T) * NR);
        } else {
          for (int64_t j = 0; j < cols; ++j) out[j] = row[q * NR + j];
          for (int64_t j = cols; j < NR; ++j) out[j] = T(0);
        }
      }
    }
    return;
  }
  for (int64_t q = q_begin; q < q_end; ++q) {
    T* panel = dst + q * NR * kc;
    const int64_t col0 = q * NR;
    const int64_t cols = std::min<int64_t>(NR, nb - col0);
    const T* src = b.data + p0 * b.row_stride + (j0 + col0) * b.col_stride;
    // Transposed (column-major) or general strides: walk columns outer, k inner.
    for (int64_t j = 0; j < cols; ++j) {
      const T* col = src + j * b.col_stride;
      for (int64_t p = 0; p < kc; ++p) panel[p * NR + j] = col[p * b.row_stride];
    }
    if (cols < NR) {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = cols; j < NR; ++j) panel[p * NR + j] = T(0);
    }
  }
}

/** The register-blocked micro-kernel: the MR x NR tile c (leading dimension ldc) gets
 *  sum_p A(i, p) * b[p*ldb + j] over p < kc, stored or added (accumulate). A(i, p) is a[p*MR + i]
 *  in a packed micro-panel, or a[i*lda + p] for MR rows of a row-major A read in place
 *  (kAInPlace); b is a packed micro-panel (ldb = NR) or NR columns of a row-major B read in place. */
template <typename T, bool kAInPlace = false>
inline void MicroKernel(int64_t kc, const T* __restrict ap, int64_t lda, const T* __restrict bp, int64_t ldb,
                        T* __restrict c, int64_t ldc, bool accumulate) {
  constexpr int MR = Blocking<T>::kMR;
#if defined(__GNUC__)
  using V = typename VecOf<T>::type;
  constexpr int NV = MINIDL_NV;
  constexpr int VL = Blocking<T>::kVL;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    // The C tile is read or written only after kc steps: fetching its lines now hides the miss
    // (a large C is not in cache) behind the products instead of stalling the stores.
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NV * VL - 1, 1, 3);
  }
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], bp + v * VL, sizeof(V));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      // broadcast (x - 0 folds to x; 0 + x would not, for x = -0.0)
      const V av = (kAInPlace ? ap[i * lda] : ap[i]) - V{};
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
    ap += kAInPlace ? 1 : MR;
    bp += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* dst = c + i * ldc + v * VL;
      V out = acc[i][v];
      if (accumulate) {
        V old;
        std::memcpy(&old, dst, sizeof(V));
        out += old;
      }
      std::memcpy(dst, &out, sizeof(V));
    }
  }
#else
  // Portable fallback for compilers without GCC vector extensions: plain loops the optimiser
  // can vectorise along j.
  constexpr int NR = Blocking<T>::kNR;
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T av = kAInPlace ? ap[i * lda] : ap[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += av * bp[j];
    }
    ap += kAInPlace ? 1 : MR;
    bp += ldb;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
#endif
}

/** A micro-tile that may be cut short at the matrix edge: rows x cols of the MR x NR result. */
template <typename T, bool kAInPlace = false>
inline void MicroTile(int64_t kc, const T* ap, int64_t lda, const T* bp, int64_t ldb, T* c, int64_t ldc,
                      int64_t rows, int64_t cols, bool accumulate) {
  constexpr int MR = Blocking<T>::kMR;
  constexpr int NR = Blocking<T>::kNR;
  if (rows == MR && cols == NR) {
    MicroKernel<T, kAInPlace>(kc, ap, lda, bp, ldb, c, ldc, accumulate);
    return;
  }
  alignas(64) T tile[MR * NR];
  MicroKernel<T, kAInPlace>(kc, ap, lda, bp, ldb, tile, NR, false);
  for (int64_t i = 0; i < rows; ++i) {
    T* dst = c + i * ldc;
    const T* src = tile + i * NR;
    if (accumulate) {
      for (int64_t j = 0; j < cols; ++j) dst[j] += src[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) dst[j] = src[j];
    }
  }
}

/** Scratch sizes (elements): per thread a packed A block plus one B micro-panel (a partial
 *  column panel read in place is packed there); two shared packed B panels (one being filled
 *  while the other is read, so a round needs one barrier, not two). */
template <typename T>
size_t PackedASliceSize(const GemmBlockSizes& blk) {
  return static_cast<size_t>(blk.mc * blk.kc + blk.kc * Blocking<T>::kNR);
}
template <typename T>
size_t PackedASize(const GemmBlockSizes& blk, int team_size) {
  return PackedASliceSize<T>(blk) * static_cast<size_t>(team_size);
}
inline size_t PackedBSize(const GemmBlockSizes& blk) { return static_cast<size_t>(2 * blk.kc * blk.nc); }

/** Cut n into the fewest blocks of at most `max_block`, of nearly equal size rounded up to a
 *  multiple of `unit` (K = 784 becomes 4 x 196, not 3 x 256 + 16). */
inline int64_t BalancedBlock(int64_t n, int64_t max_block, int64_t unit) {
  const int64_t blocks = CeilDiv(n, max_block);
  return std::min(max_block, CeilDiv(CeilDiv(n, blocks), unit) * unit);
}

/** Rows `row_bytes` apart that a cache (bytes, ways, line) holds at once, one way kept for the
 *  other operands: rows whose stride is a multiple of a large power of two map to few sets
 *  (128 floats: every 8th set of a 64-set L1, so 8 sets x 7 ways = 56 rows). */
inline int64_t RowsHeld(int64_t size, int64_t ways, int64_t line, int64_t row_bytes) {
  ways = std::max<int64_t>(ways, 2);
  const int64_t sets = std::max<int64_t>(1, size / (ways * line));
  const int64_t unlimited = std::numeric_limits<int64_t>::max();
  if (row_bytes % line != 0) return unlimited;  // rows land on every set
  int64_t x = (row_bytes / line) % sets, g = sets;  // g = gcd(stride in sets, sets)
  while (x != 0) g %= x, std::swap(x, g);
  const int64_t distinct = sets / g;
  return distinct == sets ? unlimited : distinct * (ways - 1);
}

/** KC for a B read in place with row stride ldb. Its micro-panel is re-read once per MR rows of
 *  A; when its rows alias in L1 (a row stride of 128 floats keeps only 56 rows there), it streams
 *  from L2 with a constant stride the hardware prefetchers follow, which measured faster than
 *  cutting KC to what L1 holds (64 x 784 x 128: 14 passes over the C tile instead of 3). So KC
 *  is capped only by the rows L2 holds. */
template <typename T>
int64_t InPlaceKc(const GemmBlockSizes& blk, int64_t ldb) {
  const CpuCaches& c = DetectedCaches();
  return std::min(blk.kc, RowsHeld(c.l2, c.l2_ways, c.line, ldb * static_cast<int64_t>(sizeof(T))));
}

/** Fewest B rows that must stay in L1 for B to be read in place: below that (a row stride that
 *  is a multiple of 4 KiB maps every row to one set) each k step would wait on L2, and a page
 *  boundary every row stops the prefetchers; such a B is packed instead. */
constexpr int64_t kMinInPlaceKc = 32;

/** Whether B is read in place instead of packed: its rows are contiguous, A fits one L2 block
 *  (so each B micro-panel is read about once per row block either way, and packing it would
 *  only add a copy and a barrier), B fits the packed-B budget (a larger B is better read from
 *  memory once, by the packing), and its rows do not alias in L1 so badly that few stay there. */
template <typename T>
bool ReadBInPlace(const GemmBlockSizes& blk, int64_t M, int64_t N, int64_t K, const StridedMatrix<T>& b) {
  const CpuCaches& c = DetectedCaches();
  return b.col_stride == 1 && M <= blk.mc && K * N <= blk.kc * blk.nc &&
         RowsHeld(c.l1d, c.l1d_ways, c.line, b.row_stride * static_cast<int64_t>(sizeof(T))) >=
             std::min(K, kMinInPlaceKc);
}

/** Whether A's full MR-row panels are read in place instead of packed: its rows are contiguous
 *  and it fits one MC block, so packing it would cost about as much as the whole product
 *  saves (each A element is reused only across the N / NR column panels). */
template <typename T>
bool ReadAInPlace(const GemmBlockSizes& blk, int64_t M, const StridedMatrix<T>& a) {
  return a.col_stride == 1 && M <= blk.mc;
}

/** The split of one column block into work items: row blocks of `mc` rows times runs of `run`
 *  NR panels, about 4 or more items per thread of nearly equal size, so the threads finish
 *  together and a slowed thread (another process on its core) simply takes fewer. When A is
 *  packed, rows are split first (free: each item packs only its own rows of A) into a multiple
 *  of the team size, about 8 blocks per thread; the columns only when M has too few MR panels
 *  (each column run re-packs its rows of A). When A is read in place, splitting the columns
 *  costs nothing, so they are cut first, into one run per thread: a 64 x 784 x 128 product
 *  becomes 2 column runs x 4 row blocks, not 11 row blocks (6 for one thread, 5 for the other). */
struct WorkSplit {
  int64_t mc, run, m_blocks, n_runs;
  int64_t items() const { return m_blocks * n_runs; }
};

template <typename T>
WorkSplit SplitWork(int team_size, int64_t M, int64_t mc_max, int64_t n_panels, bool a_in_place) {
  constexpr int MR = Blocking<T>::kMR;
  const int64_t m_panels = CeilDiv(M, MR);
  const int64_t want = 4 * int64_t{team_size};
  int64_t blocks = CeilDiv(M, mc_max);
  int64_t run = n_panels;
  if (team_size > 1 && a_in_place && n_panels >= team_size) {
    run = CeilDiv(n_panels, team_size);
    blocks = std::max(blocks, CeilDiv(want, CeilDiv(n_panels, run)));
  } else if (team_size > 1) {
    blocks = CeilDiv(std::max(blocks, 2 * want), int64_t{team_size}) * team_size;
  }
  blocks = std::min(blocks, m_panels);
  const int64_t mc = CeilDiv(m_panels, blocks) * MR;
  while (team_size > 1 && CeilDiv(M, mc) * CeilDiv(n_panels, run) < want && run > 1) run = CeilDiv(run, 2);
  return {mc, run, CeilDiv(M, mc), CeilDiv(n_panels, run)};
}

/** Everything one team member needs to run work items of one round. */
template <typename T>
struct Round {
  const StridedMatrix<T>* a;
  const StridedMatrix<T>* b;  // read in place when packed_b is null
  const T* packed_b;          // KC slabs, each n_panels micro-panels wide; null: B in place
  T* c;
  int64_t ldc, M, jc, nc, k0, k1, kc_max;
  bool accumulate;
  WorkSplit split;
  bool a_in_place;            // full MR-row panels of A read in place, only a partial one packed
};

/** Work item `item` of a round: C[ic:ic+mb, jc + its column run] (+)= A[ic:, k0:k1] @ B[k0:k1, ...],
 *  packing its rows of A (and, when B is read in place, a partial edge panel) into `scratch`. */
template <typename T>
void RunItem(const Round<T>& r, int64_t item, const GemmBlockSizes& blk, T* scratch) {
  constexpr int MR = Blocking<T>::kMR;
  constexpr int NR = Blocking<T>::kNR;
  T* packed_a = scratch;
  T* edge_b = scratch + blk.mc * blk.kc;
  const int64_t n_panels = CeilDiv(r.nc, NR);
  const int64_t ic = (item / r.split.n_runs) * r.split.mc;
  const int64_t mb = std::min(r.split.mc, r.M - ic);
  const int64_t m_panels = CeilDiv(mb, MR);
  const int64_t jp0 = (item % r.split.n_runs) * r.split.run;
  const int64_t jp1 = std::min(n_panels, jp0 + r.split.run);
  for (int64_t pc = r.k0; pc < r.k1; pc += r.kc_max) {
    const int64_t kc = std::min(r.kc_max, r.k1 - pc);
    const bool add = r.accumulate || pc > 0;
    if (!r.a_in_place) {
      PackA(*r.a, ic, mb, pc, kc, 0, m_panels, packed_a);
    } else if (mb % MR != 0) {  // a partial panel read in place would run past A's last row
      PackA(*r.a, ic, mb, pc, kc, m_panels - 1, m_panels, packed_a);
    }
    // jr outer, ir inner: one B micro-panel stays in L1 while the A block streams from L2.
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t cols = std::min<int64_t>(NR, r.nc - jp * NR);
      const T* bp;
      int64_t ldb = NR;
      if (r.packed_b != nullptr) {
        bp = r.packed_b + (pc - r.k0) * n_panels * NR + jp * NR * kc;
      } else if (cols == NR) {
        bp = r.b->data + pc * r.b->row_stride + (r.jc + jp * NR);
        ldb = r.b->row_stride;
      } else {  // a partial panel read in place would run past B's last column
        PackB(*r.b, pc, kc, r.jc + jp * NR, cols, 0, 1, edge_b);
        bp = edge_b;
      }
      for (int64_t ip = 0; ip < m_panels; ++ip) {
        const int64_t rows = std::min<int64_t>(MR, mb - ip * MR);
        T* cp = r.c + (ic + ip * MR) * r.ldc + r.jc + jp * NR;
        if (r.a_in_place && rows == MR) {
          const T* ap = r.a->data + (ic + ip * MR) * r.a->row_stride + pc;
          MicroTile<T, true>(kc, ap, r.a->row_stride, bp, ldb, cp, r.ldc, rows, cols, add);
        } else {
          MicroTile<T>(kc, packed_a + ip * MR * kc, MR, bp, ldb, cp, r.ldc, rows, cols, add);
        }
      }
    }
  }
}

/** Takes work items from `next` until none are left. */
template <typename T>
void RunItems(const Round<T>& r, std::atomic<int64_t>& next, const GemmBlockSizes& blk, T* scratch) {
  const int64_t items = r.split.items();
  for (int64_t item = next.fetch_add(1, std::memory_order_relaxed); item < items;
       item = next.fetch_add(1, std::memory_order_relaxed)) {
    RunItem(r, item, blk, scratch);
  }
}

/** One GEMM computed by a team (M, N, K > 0). Every member calls it with the same arguments.
 *  packed_b and the two counters are shared; each thread packs A into its own slice of
 *  packed_a. Threads take work items -- an MC row block times a run of NR column panels -- from
 *  a shared counter, so a thread that is slowed down (another process on its core) simply takes
 *  fewer items. A small product with row-major B reads B in place: no packing, no barrier.
 *  Otherwise each round the team packs a B panel together (all of K when the panel fits the
 *  buffer), waits at one barrier, and computes; rounds alternate between two B buffers, so the
 *  next round's packing never overwrites a panel still being read. */
template <typename T>
void GemmTeam(const Team& team, const GemmBlockSizes& blk, int64_t M, int64_t N, int64_t K,
              const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c, int64_t ldc, bool accumulate,
              T* packed_a, T* packed_b, std::atomic<int64_t>* counters) {
  constexpr int MR = Blocking<T>::kMR;
  constexpr int NR = Blocking<T>::kNR;
  const int64_t capacity = blk.kc * blk.nc;  // elements of each packed_b buffer
  T* scratch = packed_a + static_cast<size_t>(team.id) * PackedASliceSize<T>(blk);
  const int64_t mc_max = BalancedBlock(M, blk.mc, MR);
  const int64_t kc_max = BalancedBlock(K, blk.kc, 1);
  if (ReadBInPlace(blk, M, N, K, b)) {
    const int64_t kc_in_place = BalancedBlock(K, InPlaceKc<T>(blk, b.row_stride), 1);
    const Round<T> r{&a, &b, nullptr, c, ldc, M, 0, N, 0, K, kc_in_place, accumulate,
                     SplitWork<T>(team.size, M, mc_max, CeilDiv(N, NR), ReadAInPlace(blk, M, a)),
                     ReadAInPlace(blk, M, a)};
    RunItems(r, counters[0], blk, scratch);
    return;
  }
  // A round packs B[k0:k0+round_k, jc:jc+nc]: all of K if that leaves at least 8 panels of
  // columns per round, else as many KC slabs as the buffer holds (a narrow B with a long K then
  // takes few rounds, and so few barriers, instead of one round per KC rows).
  const int64_t nc_fit = (capacity / K) / NR * NR;
  const bool whole_k = nc_fit >= std::min<int64_t>(8 * NR, CeilDiv(N, NR) * NR);
  const int64_t nc_max = BalancedBlock(N, whole_k ? std::min<int64_t>(nc_fit, blk.nc) : blk.nc, NR);
  const int64_t slabs = std::max<int64_t>(1, capacity / (kc_max * CeilDiv(nc_max, NR) * NR));
  const int64_t round_k = whole_k ? K : slabs * kc_max;
  int64_t round = 0;
  for (int64_t jc = 0; jc < N; jc += nc_max) {
    const int64_t nc = std::min(nc_max, N - jc);
    const int64_t n_panels = CeilDiv(nc, NR);
    const WorkSplit split = SplitWork<T>(team.size, M, mc_max, n_panels, ReadAInPlace(blk, M, a));
    for (int64_t k0 = 0; k0 < K; k0 += round_k) {
      const int64_t k1 = std::min(K, k0 + round_k);
      T* buffer = packed_b + (round & 1) * capacity;
      const auto [bq0, bq1] = SplitRange(n_panels, team.size, team.id);
      for (int64_t pc = k0; pc < k1; pc += kc_max) {
        PackB(b, pc, std::min(kc_max, k1 - pc), jc, nc, bq0, bq1, buffer + (pc - k0) * n_panels * NR);
      }
      // NOTE: after this barrier every thread has finished the previous round, so the other
      // buffer and the other counter (both last used there) are free to be reset and refilled.
      team.Barrier();
      if (team.id == 0) counters[(round + 1) & 1].store(0, std::memory_order_relaxed);
      const Round<T> r{&a, &b, buffer, c, ldc, M, jc, nc, k0, k1, kc_max, accumulate || k0 > 0, split,
                       ReadAInPlace(blk, M, a)};
      RunItems(r, counters[round & 1], blk, scratch);
      ++round;
    }
  }
}

/** Threads worth using for one M x N x K product: about 1 MFLOP per thread at least, so tiny
 *  products do not pay the fork/join. */
int ThreadsFor(double flops) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  const int max_threads = omp_get_max_threads();
  const double by_work = flops / double(1 << 20);  // compared as a double: it may exceed INT_MAX
  return by_work >= max_threads ? max_threads : std::max(1, static_cast<int>(by_work));
#else
  (void)flops;
  return 1;
#endif
}

/** Products with nothing to multiply: M or N empty, or K empty (C = 0, or unchanged when
 *  accumulating). Returns true when it handled the call. */
template <typename T>
bool GemmDegenerate(int64_t M, int64_t N, int64_t K, T* c, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return true;
  if (K > 0) return false;
  if (!accumulate) {
    for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, T(0));
  }
  return true;
}

/** A single-threaded GEMM on this thread's own scratch buffers. */
template <typename T>
void GemmSerial(int64_t M, int64_t N, int64_t K, const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c,
                int64_t ldc, bool accumulate) {
  if (GemmDegenerate(M, N, K, c, ldc, accumulate)) return;
  Workspace<T>& ws = ThreadWorkspace<T>();
  std::atomic<int64_t> counters[2] = {{0}, {0}};
  const GemmBlockSizes blk = GemmBlocking<T>();
  T* packed_b = ReadBInPlace(blk, M, N, K, b) ? nullptr : ws.packed_b.Get(PackedBSize(blk));
  GemmTeam<T>(Team{}, blk, M, N, K, a, b, c, ldc, accumulate, ws.packed_a.Get(PackedASize<T>(blk, 1)), packed_b,
              counters);
}

// ---------------------------------------------------------------------------------------------
// Skinny products. A GEMM whose M or N is 1 is a matrix-vector product (GEMV): the micro-kernel
// would waste all but one row or column of its MR x NR tile, so these get their own loops, which
// read each matrix element once and accumulate in double (one output can sum 2^31 terms). A
// product whose M x N is too small to give every thread a tile, but whose K is long, is cut
// along K instead: each chunk of K is an independent partial product, summed at the end.

/** Rows of a GEMV output handled as one block: their double accumulators stay in L1. */
constexpr int64_t kGemvRowBlock = 2048;
/** The shortest K chunk worth giving a thread (the partial sums cost M x N each). */
constexpr int64_t kMinKChunk = 8192;
/** Split K only when each chunk's partial M x N result is at most this many elements. */
constexpr int64_t kMaxSplitKOutput = int64_t{1} << 14;

/** Elements a dot product sums in the input type before adding the block's sum to a double:
 *  a few terms per vector lane, so the rounding stays that of a double accumulator while the
 *  inner loop needs no conversions. */
constexpr int64_t kDotBlock = 1024;

/** sum_k a[k] * x[k] over n contiguous elements, returned in double. */
template <typename T>
double Dot(const T* a, const T* x, int64_t n) {
  double total = 0.0;
  int64_t k = 0;
#if defined(__GNUC__)
  using V = typename VecOf<T>::type;
  constexpr int L = Blocking<T>::kVL;
  for (; k + 4 * L <= n;) {
    const int64_t end = std::min(n, k + kDotBlock) - 4 * L;
    V acc[4] = {};
    for (; k <= end; k += 4 * L) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        V va, vx;
        std::memcpy(&va, a + k + u * L, sizeof(V));
        std::memcpy(&vx, x + k + u * L, sizeof(V));
        acc[u] += va * vx;
      }
    }
    const V sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    double block = 0.0;
    for (int l = 0; l < L; ++l) block += double(sum[l]);
    total += block;
  }
#endif
  for (; k < n; ++k) total += double(a[k]) * double(x[k]);
  return total;
}

/** acc[i] += sum_k x[k * xs] * col_k[i] for i < rows, where column k of A starts at
 *  a + k * col_stride and is contiguous (A's row stride is 1). */
template <typename T>
void AxpyColumns(const T* a, int64_t col_stride, int64_t rows, const T* x, int64_t xs, int64_t k0, int64_t k1,
                 double* __restrict acc) {
  int64_t k = k0;
  for (; k + 4 <= k1; k += 4) {
    const double x0 = x[k * xs], x1 = x[(k + 1) * xs], x2 = x[(k + 2) * xs], x3 = x[(k + 3) * xs];
    const T* __restrict c0 = a + k * col_stride;
    const T* __restrict c1 = c0 + col_stride;
    const T* __restrict c2 = c1 + col_stride;
    const T* __restrict c3 = c2 + col_stride;
#pragma GCC ivdep
    for (int64_t i = 0; i < rows; ++i) acc[i] += (x0 * c0[i] + x1 * c1[i]) + (x2 * c2[i] + x3 * c3[i]);
  }
  for (; k < k1; ++k) {
    const double xk = x[k * xs];
    const T* __restrict col = a + k * col_stride;
#pragma GCC ivdep
    for (int64_t i = 0; i < rows; ++i) acc[i] += xk * col[i];
  }
}

/** One row block's share of a GEMV: acc[i - i0] = sum over k in [k0, k1) of A(i, k) x[k * xs]
 *  for rows [i0, i1), i1 - i0 <= kGemvRowBlock. Reads A along whichever stride is 1. */
template <typename T>
void GemvBlock(const StridedMatrix<T>& A, const T* x, int64_t xs, int64_t i0, int64_t i1, int64_t k0, int64_t k1,
               double* acc) {
  const int64_t rows = i1 - i0;
  std::fill(acc, acc + rows, 0.0);
  const bool rows_contiguous = A.col_stride == 1 && (A.row_stride != 1 || k1 - k0 >= rows);
  if (rows_contiguous && xs == 1) {
    for (int64_t i = i0; i < i1; ++i) acc[i - i0] = Dot(A.data + i * A.row_stride + k0, x + k0, k1 - k0);
  } else if (A.row_stride == 1) {
    AxpyColumns(A.data + i0, A.col_stride, rows, x, xs, k0, k1, acc);
  } else {
    // Neither stride is 1 (or x is strided): plain loops, still one pass over A.
    for (int64_t i = i0; i < i1; ++i) {
      const T* row = A.data + i * A.row_stride;
      double s = 0.0;
      for (int64_t k = k0; k < k1; ++k) s += double(row[k * A.col_stride]) * double(x[k * xs]);
      acc[i - i0] = s;
    }
  }
}

/** y[i * ys] = sum_k A(i, k) x[k * xs] (+ y[i * ys] when accumulate) for rows [i0, i1), k in
 *  [k0, k1), on the calling thread. */
template <typename T>
void GemvRange(const StridedMatrix<T>& A, const T* x, int64_t xs, int64_t i0, int64_t i1, int64_t k0, int64_t k1,
               T* y, int64_t ys, bool accumulate) {
  double acc[kGemvRowBlock];
  for (int64_t b0 = i0; b0 < i1; b0 += kGemvRowBlock) {
    const int64_t b1 = std::min(i1, b0 + kGemvRowBlock);
    GemvBlock(A, x, xs, b0, b1, k0, k1, acc);
    for (int64_t i = b0; i < b1; ++i) {
      T& out = y[i * ys];
      out = accumulate ? static_cast<T>(double(out) + acc[i - b0]) : static_cast<T>(acc[i - b0]);
    }
  }
}

/** A matrix-vector view of a GEMM with M == 1 or N == 1: y (rows) = A (rows x K) @ x. */
template <typename T>
struct GemvView {
  int64_t rows;
  StridedMatrix<T> A;
  const T* x;
  int64_t xs;
  int64_t ys;
};

template <typename T>
GemvView<T> AsGemv(int64_t M, int64_t N, const StridedMatrix<T>& a, const StridedMatrix<T>& b, int64_t ldc) {
  if (N == 1) return {M, a, b.data, b.row_stride, ldc};  // c[:, 0] = A @ b[:, 0]
  return {N, b.Transposed(), a.data, a.col_stride, 1};    // c[0, :]^T = B^T @ a[0, :]^T
}

/** C (M x N, leading dimension ldc) = the partial products over K chunks, computed by the team
 *  and summed in chunk order (the result does not depend on which thread took which chunk).
 *  partial(k0, k1, out, ldo) writes out = the product over k in [k0, k1). Threads take chunks
 *  from a shared counter, so one slowed down by another process takes fewer. */
template <typename T, typename Partial>
void SplitK(int threads, int64_t M, int64_t N, int64_t K, T* c, int64_t ldc, bool accumulate, Partial&& partial) {
  const int64_t out_size = M * N;
  int64_t chunk = std::max(kMinKChunk, CeilDiv(K, 8 * int64_t{threads}));
  chunk = std::max(chunk, CeilDiv(K * out_size, int64_t{1} << 22));  // bounds the partials' memory
  const int64_t chunks = CeilDiv(K, chunk);
  std::vector<T> partials(static_cast<size_t>(chunks * out_size));
  std::atomic<int64_t> next{0};
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(threads, chunks)))
#endif
  for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < chunks;
       i = next.fetch_add(1, std::memory_order_relaxed)) {
    const int64_t k0 = i * chunk;
    partial(k0, std::min(K, k0 + chunk), partials.data() + i * out_size, N);
  }
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t j = 0; j < N; ++j) {
      T s = accumulate ? c[r * ldc + j] : T(0);
      for (int64_t i = 0; i < chunks; ++i) s += partials[i * out_size + r * N + j];
      c[r * ldc + j] = s;
    }
  }
}

/** A GEMV (M == 1 or N == 1) with `threads` threads: blocks of rows when there are enough, else
 *  chunks of K. */
template <typename T>
void Gemv(int threads, int64_t M, int64_t N, int64_t K, const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c,
          int64_t ldc, bool accumulate) {
  const GemvView<T> v = AsGemv(M, N, a, b, ldc);
  if (threads <= 1) {
    GemvRange(v.A, v.x, v.xs, 0, v.rows, 0, K, c, v.ys, accumulate);
    return;
  }
  // About 4 row chunks per thread, each a multiple of 64 rows (whole vectors) and at most a block.
  const int64_t row_chunk = std::min(kGemvRowBlock, CeilDiv(CeilDiv(v.rows, 4 * int64_t{threads}), 64) * 64);
  const int64_t row_chunks = CeilDiv(v.rows, row_chunk);
  if (row_chunks >= 2 * int64_t{threads} || K < 2 * kMinKChunk) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (int64_t chunk = 0; chunk < row_chunks; ++chunk) {
      const int64_t i0 = chunk * row_chunk;
      GemvRange(v.A, v.x, v.xs, i0, std::min(v.rows, i0 + row_chunk), 0, K, c, v.ys, accumulate);
    }
    return;
  }
  // Few rows, long K: each chunk's partial (M x N, so `rows` long) is a GEMV over that chunk.
  SplitK<T>(threads, M, N, K, c, ldc, accumulate, [&](int64_t k0, int64_t k1, T* out, int64_t ldo) {
    const GemvView<T> w = AsGemv(M, N, a, b, ldo);
    GemvRange(w.A, w.x, w.xs, 0, w.rows, k0, k1, out, w.ys, false);
  });
}

/** Whether a product is better cut along K than into tiles: too few MR x NR tiles to keep
 *  `threads` busy, a small result, and a K long enough for several chunks. */
template <typename T>
bool PreferSplitK(int threads, int64_t M, int64_t N, int64_t K) {
  const int64_t tiles = CeilDiv(M, Blocking<T>::kMR) * CeilDiv(N, Blocking<T>::kNR);
  return threads > 1 && tiles < 4 * int64_t{threads} && M * N <= kMaxSplitKOutput && K >= 2 * kMinKChunk;
}

/** Any product on the calling thread alone. */
template <typename T>
void ProductSerial(int64_t M, int64_t N, int64_t K, const StridedMatrix<T>& a, const StridedMatrix<T>& b, T* c,
                   int64_t ldc, bool accumulate) {
  if (GemmDegenerate(M, N, K, c, ldc, accumulate)) return;
  if (M == 1 || N == 1) {
    Gemv<T>(1, M, N, K, a, b, c, ldc, accumulate);
  } else {
    GemmSerial<T>(M, N, K, a, b, c, ldc, accumulate);
  }
}

}  // namespace

template <typename T>
void Gemm(int64_t M, int64_t N, int64_t K, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
          bool accumulate) {
  if (GemmDegenerate(M, N, K, c, ldc, accumulate)) return;
  const int threads = ThreadsFor(2.0 * double(M) * double(N) * double(K));
  if (threads <= 1) {
    ProductSerial<T>(M, N, K, a, b, c, ldc, accumulate);
    return;
  }
  if (M == 1 || N == 1) {
    Gemv<T>(threads, M, N, K, a, b, c, ldc, accumulate);
    return;
  }
  if (PreferSplitK<T>(threads, M, N, K)) {
    SplitK<T>(threads, M, N, K, c, ldc, accumulate, [&](int64_t k0, int64_t k1, T* out, int64_t ldo) {
      const StridedMatrix<T> ak{a.data + k0 * a.col_stride, a.row_stride, a.col_stride};
      const StridedMatrix<T> bk{b.data + k0 * b.row_stride, b.row_stride, b.col_stride};
      GemmSerial<T>(M, N, k1 - k0, ak, bk, out, ldo, false);
    });
    return;
  }
#ifdef _OPENMP
  Workspace<T>& ws = ThreadWorkspace<T>();
  const GemmBlockSizes blk = GemmBlocking<T>();
  T* packed_a = ws.packed_a.Get(PackedASize<T>(blk, threads));
  T* packed_b = ReadBInPlace(blk, M, N, K, b) ? nullptr : ws.packed_b.Get(PackedBSize(blk));
  std::atomic<int64_t> counters[2] = {{0}, {0}};
#pragma omp parallel num_threads(threads)
  {
    const Team team{omp_get_thread_num(), omp_get_num_threads()};
    GemmTeam<T>(team, blk, M, N, K, a, b, c, ldc, accumulate, packed_a, packed_b, counters);
  }
#endif
}

template <typename T>
void GemmBatched(int64_t batch, int64_t M, int64_t N, int64_t K, StridedMatrix<T> a, int64_t a_batch_stride,
                 StridedMatrix<T> b, int64_t b_batch_stride, T* c, int64_t c_batch_stride) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const double flops_each = 2.0 * double(M) * double(N) * double(K);
  const int threads = ThreadsFor(flops_each * double(batch));
  // Whole products per thread when the batch divides evenly or is long, or when each product
  // is too small to split well; otherwise one product at a time with all threads.
  const bool over_batch = threads > 1 && batch >= 2 &&
                          (batch % threads == 0 || batch >= 4 * threads || flops_each < double(1 << 24));
  if (!over_batch) {
    for (int64_t i = 0; i < batch; ++i) {
      const StridedMatrix<T> ai{a.data + i * a_batch_stride, a.row_stride, a.col_stride};
      const StridedMatrix<T> bi{b.data + i * b_batch_stride, b.row_stride, b.col_stride};
      Gemm<T>(M, N, K, ai, bi, c + i * c_batch_stride, N, false);
    }
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
  for (int64_t i = 0; i < batch; ++i) {
    const StridedMatrix<T> ai{a.data + i * a_batch_stride, a.row_stride, a.col_stride};
    const StridedMatrix<T> bi{b.data + i * b_batch_stride, b.row_stride, b.col_stride};
    ProductSerial<T>(M, N, K, ai, bi, c + i * c_batch_stride, N, false);
  }
}

template void Gemm<float>(int64_t, int64_t, int64_t, StridedMatrix<float>, StridedMatrix<float>, float*, int64_t,
                          bool);
template void Gemm<double>(int64_t, int64_t, int64_t, StridedMatrix<double>, StridedMatrix<double>, double*,
                           int64_t, bool);
template void GemmBatched<float>(int64_t, int64_t, int64_t, int64_t, StridedMatrix<float>, int64_t,
                                 StridedMatrix<float>, int64_t, float*, int64_t);
template void GemmBatched<double>(int64_t, int64_t, int64_t, int64_t, StridedMatrix<double>, int64_t,
                                  StridedMatrix<double>, int64_t, double*, int64_t);

template <typename T>
std::pair<int, int> GemmMicroTile() {
  return {Blocking<T>::kMR, Blocking<T>::kNR};
}
template std::pair<int, int> GemmMicroTile<float>();
template std::pair<int, int> GemmMicroTile<double>();

std::string GemmDescription() {
  auto describe = [](auto tag, const char* name) {
    using T = decltype(tag);
    const GemmBlockSizes blk = GemmBlocking<T>();
    return std::string(name) + ": " + std::to_string(Blocking<T>::kMR) + "x" + std::to_string(Blocking<T>::kNR) +
           " micro-kernel, KC=" + std::to_string(blk.kc) + " MC=" + std::to_string(blk.mc) +
           " NC=" + std::to_string(blk.nc);
  };
  return describe(float{}, "float32") + "; " + describe(double{}, "float64") + "; vector " +
         std::to_string(MINIDL_VEC_BYTES) + " bytes; blocking from " + GemmBlockingSource();
}

namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/** The micro-kernel's accumulator count (fits the register file) of independent FMA chains of whole vectors, `iters` steps each; returns a value that
 *  depends on every chain, so the work cannot be optimised away. */
template <typename T>
T FmaChains(int64_t iters) {
#if defined(__GNUC__)
  using V = typename VecOf<T>::type;
  constexpr int kChains = MINIDL_MR * MINIDL_NV;
  V acc[kChains];
  const V mul = V{} + T(0.999999);
  const V add = V{} + T(1e-7);
#pragma GCC unroll 32
  for (int i = 0; i < kChains; ++i) acc[i] = V{} + T(i);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * mul + add;
  }
  T total = 0;
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < Blocking<T>::kVL; ++l) total += acc[i][l];
  return total;
#else
  T x = 1;
  for (int64_t it = 0; it < iters; ++it) x = x * T(0.999999) + T(1e-7);
  return x;
#endif
}

template <typename T>
double FmaPeak(int threads, double seconds) {
  constexpr int kChains = MINIDL_MR * MINIDL_NV;
  const double flops_per_iter = 2.0 * kChains * Blocking<T>::kVL;
  int64_t iters = 1 << 16;
  double best = 0.0;
  volatile T sink = 0;
  for (;;) {
    const double t0 = NowSeconds();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
      const T r = FmaChains<T>(iters);
#ifdef _OPENMP
#pragma omp critical
#endif
      sink = sink + r;
    }
    const double elapsed = NowSeconds() - t0;
    if (elapsed > 0) best = std::max(best, flops_per_iter * double(iters) * threads / elapsed / 1e9);
    if (elapsed >= seconds / 4) {
      seconds -= elapsed;
      if (seconds <= 0) break;
    } else {
      iters *= 2;
    }
  }
  return best;
}

}  // namespace

double MeasureFmaPeak(bool is_double, int threads, double seconds) {
  threads = std::max(1, threads);
  return is_double ? FmaPeak<double>(threads, seconds) : FmaPeak<float>(threads, seconds);
}

namespace {

/** Shapes of a matmul call: (batch, M, K, N), batch = 1 for 2-D. Checks ndim 2 or 3, matching
 *  batch and inner dimensions, one float dtype, C-contiguity. */
struct MatmulShape {
  bool batched;
  int64_t batch, M, K, N;
};

MatmulShape CheckMatmulOperands(const py::array& a, const py::array& b, const char* op) {
  MINIDL_CHECK(a.ndim() == 2 || a.ndim() == 3, op,
               "a must be 2-D (M, K) or 3-D (B, M, K), got shape " + ShapeString(a));
  CheckFloatArray(a, a.ndim(), op, "a");
  CheckFloatArray(b, a.ndim(), op, "b");
  CheckSameDtype(a, b, op);
  const bool batched = a.ndim() == 3;
  const int d = batched ? 1 : 0;
  MatmulShape s{batched, batched ? a.shape(0) : 1, a.shape(d), a.shape(d + 1), b.shape(d + 1)};
  MINIDL_CHECK(!batched || b.shape(0) == s.batch, op,
               "batch sizes differ: a " + ShapeString(a) + ", b " + ShapeString(b));
  MINIDL_CHECK(b.shape(d) == s.K, op,
               "inner dimensions differ: a " + ShapeString(a) + " @ b " + ShapeString(b));
  return s;
}

std::vector<py::ssize_t> Dims(const MatmulShape& s, int64_t rows, int64_t cols) {
  if (s.batched) return {s.batch, rows, cols};
  return {rows, cols};
}

}  // namespace

/** matmul(a, b) -> c
 *  a: (M, K) or (B, M, K); b: (K, N) or (B, K, N); both C-contiguous, same dtype (float32 or
 *  float64). Returns c = a @ b, (M, N) or (B, M, N), a new C-contiguous array of that dtype.
 *  Accumulates in the input dtype. Releases the GIL while computing. */
py::array MatmulForward(const py::array& a, const py::array& b) {
  const MatmulShape s = CheckMatmulOperands(a, b, "matmul");
  return DispatchFloat(a.dtype(), "matmul", [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> c(Dims(s, s.M, s.N));
    const T* pa = DataOf<T>(a);
    const T* pb = DataOf<T>(b);
    T* pc = c.mutable_data();
    {
      py::gil_scoped_release release;
      GemmBatched<T>(s.batch, s.M, s.N, s.K, {pa, s.K, 1}, s.M * s.K, {pb, s.N, 1}, s.K * s.N, pc, s.M * s.N);
    }
    return c;
  });
}

/** matmul_backward(grad, a, b, need_a=True, need_b=True) -> (grad_a, grad_b)
 *  grad: (M, N) or (B, M, N), the gradient of c = a @ b; a, b as in matmul. All C-contiguous,
 *  one dtype. Returns grad_a = grad @ b^T with a's shape and grad_b = a^T @ grad with b's
 *  shape; either is None, and never computed, when its need flag is false. The transposes are
 *  strided reads inside the GEMM's packing, never copies. Releases the GIL while computing. */
py::tuple MatmulBackward(const py::array& grad, const py::array& a, const py::array& b, bool need_a, bool need_b) {
  const MatmulShape s = CheckMatmulOperands(a, b, "matmul_backward");
  CheckFloatArray(grad, a.ndim(), "matmul_backward", "grad");
  CheckSameDtype(grad, a, "matmul_backward");
  const int d = s.batched ? 1 : 0;
  MINIDL_CHECK((!s.batched || grad.shape(0) == s.batch) && grad.shape(d) == s.M && grad.shape(d + 1) == s.N,
               "matmul_backward",
               "grad has shape " + ShapeString(grad) + ", expected the shape of a " + ShapeString(a) + " @ b " +
                   ShapeString(b));
  return DispatchFloat(a.dtype(), "matmul_backward", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::object out_a = py::none(), out_b = py::none();
    T* pga = nullptr;
    T* pgb = nullptr;
    if (need_a) {
      py::array_t<T> grad_a(Dims(s, s.M, s.K));
      pga = grad_a.mutable_data();
      out_a = grad_a;
    }
    if (need_b) {
      py::array_t<T> grad_b(Dims(s, s.K, s.N));
      pgb = grad_b.mutable_data();
      out_b = grad_b;
    }
    const T* pg = DataOf<T>(grad);
    const T* pa = DataOf<T>(a);
    const T* pb = DataOf<T>(b);
    {
      py::gil_scoped_release release;
      const StridedMatrix<T> g{pg, s.N, 1};
      const StridedMatrix<T> b_t = StridedMatrix<T>{pb, s.N, 1}.Transposed();  // (N, K)
      const StridedMatrix<T> a_t = StridedMatrix<T>{pa, s.K, 1}.Transposed();  // (K, M)
      if (pga != nullptr) GemmBatched<T>(s.batch, s.M, s.K, s.N, g, s.M * s.N, b_t, s.K * s.N, pga, s.M * s.K);
      if (pgb != nullptr) GemmBatched<T>(s.batch, s.K, s.N, s.M, a_t, s.M * s.K, g, s.M * s.N, pgb, s.K * s.N);
    }
    return py::make_tuple(out_a, out_b);
  });
}

}  // namespace cpu
}  // namespace minidl
