// rnn_forward and rnn_backward: one layer and one direction of an Elman RNN (tanh, relu), LSTM or GRU over a
// whole sequence, with PyTorch's gate orders (LSTM i, f, g, o; GRU r, z, n) and bias layout.
//
// Forward: the input projection of every step is ONE GEMM (T*B, I) @ W_ih^T written straight into the
// per-step workspace; each step then adds h_{t-1} @ W_hh^T (a GEMM accumulating into that workspace) and runs
// the gate math in one fused, vectorized pass that leaves the activated gates behind for the backward.
// Backward through time: per step (in reverse) one fused pass turns dh, dc and the saved gates into the
// pre-activation gradients dG_t, and dh_{t-1} = dG_t @ W_hh is one GEMM; the weight, bias and input gradients
// are then big GEMMs / column sums over all steps at once.
//
// Workspace layout (T, B, W), row t is time t of the sequence (also for reverse = true):
//   rnn_tanh, rnn_relu: W = 0 (the outputs y are all the backward needs)
//   lstm: W = 5H: the activated gates i, f, g, o, then the cell state c_t
//   gru:  W = 4H: the activated gates r, z, n, then hn = h_{t-1} W_hn^T + b_hn
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"

// The gate loops must become SIMD: GCC keeps a float compare (the clamp in FastExp) as a branch unless it may
// assume that FP operations do not trap. This changes no result: no code here reads the FP exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

namespace minidl {
namespace cpu {
namespace {

enum class Mode { kTanh, kRelu, kLstm, kGru };

Mode ParseMode(const std::string& mode, const char* op) {
  if (mode == "rnn_tanh") return Mode::kTanh;
  if (mode == "rnn_relu") return Mode::kRelu;
  if (mode == "lstm") return Mode::kLstm;
  if (mode == "gru") return Mode::kGru;
  throw std::invalid_argument(std::string(op) + ": mode must be 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru', got '" +
                              mode + "'");
}

int64_t GatesOf(Mode m) { return m == Mode::kLstm ? 4 : m == Mode::kGru ? 3 : 1; }
int64_t WorkspaceWidth(Mode m, int64_t H) { return m == Mode::kLstm ? 5 * H : m == Mode::kGru ? 4 * H : 0; }

// ---------------------------------------------------------------------------------------------------------------
// Vectorizable exp / sigmoid / tanh: branch-free scalar code that the compiler turns into SIMD inside the
// `omp simd` gate loops (libm's expf/tanhf are calls, which block vectorization without -ffast-math).

template <typename T>
struct ExpConst;
template <>
struct ExpConst<float> {
  using Bits = uint32_t;
  static constexpr float kLo = -87.0f, kHi = 88.0f;       // 2^n stays a normal float
  static constexpr float kShifter = 12582912.0f;          // 1.5 * 2^23: adding it rounds to an integer
  static constexpr int kMantissa = 23;
  static constexpr Bits kBias = 127;
  static constexpr int kDegree = 7;                        // Taylor on |r| <= ln2/2: error < 3e-9 relative
};
template <>
struct ExpConst<double> {
  using Bits = uint64_t;
  static constexpr double kLo = -708.0, kHi = 709.0;
  static constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int kMantissa = 52;
  static constexpr Bits kBias = 1023;
  static constexpr int kDegree = 13;                       // error < 2e-16 relative
};

/** 1 + r/I (1 + r/(I+1) (... (1 + r/N))): the Taylor series of exp(r) in Horner form, unrolled at compile time. */
template <typename T, int I, int N>
inline __attribute__((always_inline)) T ExpTaylor(T r) {
  if constexpr (I > N) {
    return T(1);
  } else {
    return T(1) + r * (T(1) / T(I)) * ExpTaylor<T, I + 1, N>(r);
  }
}

template <typename T>
inline __attribute__((always_inline)) T FastExp(T x) {
  using C = ExpConst<T>;
  using Bits = typename C::Bits;
  x = x < T(C::kLo) ? T(C::kLo) : x;                      // not std::min/max: compiled outside the pragma above
  x = x > T(C::kHi) ? T(C::kHi) : x;
  const T k = x * T(1.4426950408889634) + C::kShifter;   // round(x / ln2) sits in k's low mantissa bits
  const T n = k - C::kShifter;
  Bits kb;
  std::memcpy(&kb, &k, sizeof(T));
  const Bits sb = (kb + C::kBias) << C::kMantissa;         // 2^n: the shift drops the shifter's exponent bits
  T scale;
  std::memcpy(&scale, &sb, sizeof(T));
  const T r = (x - n * T(0.693145751953125)) - n * T(1.4286068203094172321e-6);  // Cody-Waite ln2 = hi + lo
  return ExpTaylor<T, 1, C::kDegree>(r) * scale;
}

template <typename T>
inline __attribute__((always_inline)) T Sigmoid(T x) {
  return T(1) / (T(1) + FastExp<T>(-x));
}

template <typename T>
inline __attribute__((always_inline)) T Tanh(T x) {
  const T a = x < T(0) ? -x : x;          // not std::fabs/copysign: cmath's float overloads would not inline here
  const T e = FastExp<T>(T(-2) * a);
  const T big = (T(1) - e) / (T(1) + e);
  // near 0 the quotient loses relative precision to cancellation: the odd series is exact there
  const T a2 = a * a;
  const T small = a * (T(1) + a2 * (T(-1) / 3 + a2 * (T(2) / 15 + a2 * (T(-17) / 315 + a2 * (T(62) / 2835)))));
  const T t = a < T(0.0625) ? small : big;                 // selects (vblendv), not branches
  return x < T(0) ? -t : t;
}

// ---------------------------------------------------------------------------------------------------------------
// Threads for the per-step elementwise passes: an OpenMP fork/join costs about as much as a few thousand gate
// evaluations, so each thread gets at least kGateGrain of them (GEMMs pick their own threads).
constexpr int64_t kGateGrain = 4096;

int GateThreads(int64_t elements) {
#ifdef _OPENMP
  const int64_t by_work = elements / kGateGrain;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), by_work)));
#else
  (void)elements;
  return 1;
#endif
}

/** The sizes and operands of one layer/direction; pointers into C-contiguous arrays (null when absent). */
template <typename T>
struct Rnn {
  Mode mode;
  int64_t steps, batch, in, hidden;
  bool reverse;
  const T* x;      // (steps, batch, in)
  const T* h0;     // (batch, hidden)
  const T* c0;     // (batch, hidden), LSTM only
  const T* w_ih;   // (G*hidden, in)
  const T* w_hh;   // (G*hidden, hidden)
  const T* b_ih;   // (G*hidden,) or null
  const T* b_hh;

  int64_t G() const { return GatesOf(mode) * hidden; }
  /** Time index of processing step s (forward order), and of the step before it. */
  int64_t Time(int64_t s) const { return reverse ? steps - 1 - s : s; }
  int64_t PrevTime(int64_t t) const { return reverse ? t + 1 : t - 1; }
};

// ---------------------------------------------------------------------------------------------------------------
// forward

/** The biases the gate pass adds to a row: b_ih + b_hh (LSTM, RNN), or both separately (GRU, where b_hn sits
 *  inside r * (...)). Zeros when there is no bias. */
template <typename T>
std::vector<T> FoldedBias(const Rnn<T>& r) {
  const int64_t G = r.G();
  std::vector<T> b(r.mode == Mode::kGru ? 2 * G : G, T(0));
  if (!r.b_ih) return b;
  for (int64_t k = 0; k < G; ++k) {
    if (r.mode == Mode::kGru) {
      b[k] = r.b_ih[k];
      b[G + k] = r.b_hh[k];
    } else {
      b[k] = r.b_ih[k] + r.b_hh[k];
    }
  }
  return b;
}

/** The gate pass of one step for rows [b0, b1). pre: the pre-activations (row stride ld) -- the workspace row for
 *  LSTM/GRU, y for RNN; gh: GRU's h_{t-1} W_hh^T (B, 3H). */
template <typename T>
void GatesForward(const Rnn<T>& r, const T* bias, T* pre, int64_t ld, const T* gh, const T* hp, const T* cp,
                  int64_t ldc_prev, T* y, int64_t b0, int64_t b1) {
  const int64_t H = r.hidden;
  for (int64_t b = b0; b < b1; ++b) {
    T* row = pre + b * ld;
    T* h = y + b * H;
    const T* hprev = hp + b * H;
    switch (r.mode) {
      case Mode::kTanh:
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) h[j] = Tanh<T>(row[j] + bias[j]);
        break;
      case Mode::kRelu:
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T v = row[j] + bias[j];
          h[j] = v > T(0) ? v : T(0);
        }
        break;
      case Mode::kLstm: {
        const T* cprev = cp + b * ldc_prev;
        T* c = row + 4 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T i = Sigmoid<T>(row[j] + bias[j]);
          const T f = Sigmoid<T>(row[H + j] + bias[H + j]);
          const T g = Tanh<T>(row[2 * H + j] + bias[2 * H + j]);
          const T o = Sigmoid<T>(row[3 * H + j] + bias[3 * H + j]);
          const T cv = f * cprev[j] + i * g;
          row[j] = i;
          row[H + j] = f;
          row[2 * H + j] = g;
          row[3 * H + j] = o;
          c[j] = cv;
          h[j] = o * Tanh<T>(cv);
        }
        break;
      }
      case Mode::kGru: {
        const T* g = gh + b * 3 * H;
        const T* bh = bias + 3 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T rr = Sigmoid<T>(row[j] + bias[j] + g[j] + bh[j]);
          const T z = Sigmoid<T>(row[H + j] + bias[H + j] + g[H + j] + bh[H + j]);
          const T hn = g[2 * H + j] + bh[2 * H + j];
          const T n = Tanh<T>(row[2 * H + j] + bias[2 * H + j] + rr * hn);
          row[j] = rr;
          row[H + j] = z;
          row[2 * H + j] = n;
          row[3 * H + j] = hn;
          h[j] = n + z * (hprev[j] - n);
        }
        break;
      }
    }
  }
}

template <typename T>
void Forward(const Rnn<T>& r, T* y, T* hn, T* cn, T* ws) {
  const int64_t Ts = r.steps, B = r.batch, H = r.hidden, G = r.G();
  const bool rnn = r.mode == Mode::kTanh || r.mode == Mode::kRelu;
  // the pre-activations live in the workspace rows (LSTM, GRU) or in y itself (RNN: h overwrites them)
  T* pre = rnn ? y : ws;
  const int64_t ld = rnn ? H : WorkspaceWidth(r.mode, H);
  const StridedMatrix<T> w_ih_t = StridedMatrix<T>{r.w_ih, r.in, 1}.Transposed();
  const StridedMatrix<T> w_hh_t = StridedMatrix<T>{r.w_hh, H, 1}.Transposed();
  Gemm<T>(Ts * B, G, r.in, {r.x, r.in, 1}, w_ih_t, pre, ld, false);
  const std::vector<T> bias = FoldedBias(r);
  std::vector<T> gh(r.mode == Mode::kGru ? B * G : 0);
  const int threads = GateThreads(B * G);
  for (int64_t s = 0; s < Ts; ++s) {
    const int64_t t = r.Time(s), tp = r.PrevTime(t);
    const T* hp = s == 0 ? r.h0 : y + tp * B * H;
    const T* cp = s == 0 ? r.c0 : ws + tp * B * ld + 4 * H;
    const int64_t ldc_prev = s == 0 ? H : ld;
    T* pre_t = pre + t * B * ld;
    if (r.mode == Mode::kGru) {
      Gemm<T>(B, G, H, {hp, H, 1}, w_hh_t, gh.data(), G, false);
    } else {
      Gemm<T>(B, G, H, {hp, H, 1}, w_hh_t, pre_t, ld, true);
    }
    T* y_t = y + t * B * H;
    if (threads <= 1) {
      GatesForward<T>(r, bias.data(), pre_t, ld, gh.data(), hp, cp, ldc_prev, y_t, 0, B);
      continue;
    }
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
      const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
      const int nt = 1, id = 0;
#endif
      const int64_t b0 = B * id / nt, b1 = B * (id + 1) / nt;
      GatesForward<T>(r, bias.data(), pre_t + b0 * ld, ld, gh.empty() ? nullptr : gh.data() + b0 * G, hp + b0 * H,
                      cp ? cp + b0 * ldc_prev : nullptr, ldc_prev, y_t + b0 * H, 0, b1 - b0);
    }
  }
  const int64_t last = r.Time(Ts - 1);
  std::copy(y + last * B * H, y + (last + 1) * B * H, hn);
  if (r.mode == Mode::kLstm) {
    for (int64_t b = 0; b < B; ++b) {
      const T* c = ws + (last * B + b) * ld + 4 * H;
      std::copy(c, c + H, cn + b * H);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// backward

/** The pass of one step for rows [b0, b1): from dh (the recurrent gradient into h_t, updated in place to what
 *  h_{t-1} receives besides the GEMM) plus gy, and dc (LSTM, in place), the pre-activation gradients dgx (for
 *  W_ih, b_ih, x) and dgh (for W_hh, b_hh, h; the same array except for GRU). */
template <typename T>
void GatesBackward(const Rnn<T>& r, const T* gy, T* dh, T* dc, const T* y, const T* ws, int64_t ld, const T* hp,
                   const T* cp, int64_t ldc_prev, T* dgx, T* dgh, int64_t b0, int64_t b1) {
  const int64_t H = r.hidden, G = r.G();
  for (int64_t b = b0; b < b1; ++b) {
    const T* g = gy + b * H;
    T* d = dh + b * H;
    T* ox = dgx + b * G;
    T* oh = dgh + b * G;
    switch (r.mode) {
      case Mode::kTanh: {
        const T* h = y + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) ox[j] = (d[j] + g[j]) * (T(1) - h[j] * h[j]);
        break;
      }
      case Mode::kRelu: {
        const T* h = y + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) ox[j] = T(h[j] > T(0)) * (d[j] + g[j]);
        break;
      }
      case Mode::kLstm: {
        const T* row = ws + b * ld;
        const T* c = row + 4 * H;
        const T* cprev = cp + b * ldc_prev;
        T* dcb = dc + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T i = row[j], f = row[H + j], gg = row[2 * H + j], o = row[3 * H + j];
          const T dht = d[j] + g[j];
          const T tc = Tanh<T>(c[j]);
          const T dct = dcb[j] + dht * o * (T(1) - tc * tc);
          ox[j] = dct * gg * i * (T(1) - i);
          ox[H + j] = dct * cprev[j] * f * (T(1) - f);
          ox[2 * H + j] = dct * i * (T(1) - gg * gg);
          ox[3 * H + j] = dht * tc * o * (T(1) - o);
          dcb[j] = dct * f;
        }
        break;
      }
      case Mode::kGru: {
        const T* row = ws + b * ld;
        const T* hprev = hp + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T rr = row[j], z = row[H + j], n = row[2 * H + j], hn = row[3 * H + j];
          const T dht = d[j] + g[j];
          const T dan = dht * (T(1) - z) * (T(1) - n * n);
          const T dar = dan * hn * rr * (T(1) - rr);
          const T daz = dht * (hprev[j] - n) * z * (T(1) - z);
          ox[j] = dar;
          ox[H + j] = daz;
          ox[2 * H + j] = dan;
          oh[j] = dar;
          oh[H + j] = daz;
          oh[2 * H + j] = dan * rr;
          d[j] = dht * z;        // the direct path h' = ... + z * h; the GEMM adds dgh @ W_hh
        }
        break;
      }
    }
  }
}

/** out[k] = sum over rows of a[:, k], a (rows, cols) row-major; threads split the columns. */
template <typename T>
void ColumnSums(const T* a, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kChunk = 64;
  const int64_t chunks = CeilDiv(cols, kChunk);
  const int threads = static_cast<int>(std::min<int64_t>(GateThreads(rows * cols), chunks));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t k0 = ch * kChunk, k1 = std::min(cols, k0 + kChunk);
    T* o = out + k0;
    std::fill(o, o + (k1 - k0), T(0));
    for (int64_t i = 0; i < rows; ++i) {
      const T* src = a + i * cols + k0;
#pragma omp simd
      for (int64_t k = 0; k < k1 - k0; ++k) o[k] += src[k];
    }
  }
}

/** Which gradients to compute, in the order (x, h0, c0, w_ih, w_hh, b_ih, b_hh). */
struct Mask {
  bool x, h0, c0, w_ih, w_hh, b_ih, b_hh;
};

template <typename T>
struct Grads {
  T *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh;  // null where not wanted
};

template <typename T>
void Backward(const Rnn<T>& r, const T* gy, const T* ghn, const T* gcn, const T* y, const T* ws, const Mask& m,
              const Grads<T>& out) {
  const int64_t Ts = r.steps, B = r.batch, H = r.hidden, G = r.G(), I = r.in;
  const int64_t ld = WorkspaceWidth(r.mode, H);
  const bool gru = r.mode == Mode::kGru, lstm = r.mode == Mode::kLstm;
  std::unique_ptr<T[]> dgx(new T[Ts * B * G]);
  std::unique_ptr<T[]> dgh_own(gru ? new T[Ts * B * G] : nullptr);
  T* dgh = gru ? dgh_own.get() : dgx.get();
  std::vector<T> dh(ghn, ghn + B * H);
  std::vector<T> dc(lstm ? gcn : nullptr, lstm ? gcn + B * H : nullptr);
  const StridedMatrix<T> w_hh{r.w_hh, H, 1};
  const int threads = GateThreads(B * G);
  for (int64_t s = Ts - 1; s >= 0; --s) {
    const int64_t t = r.Time(s), tp = r.PrevTime(t);
    const T* hp = s == 0 ? r.h0 : y + tp * B * H;
    const T* cp = s == 0 ? r.c0 : ws + tp * B * ld + 4 * H;
    const int64_t ldc_prev = s == 0 ? H : ld;
    const int64_t o = t * B;
    auto pass = [&](int64_t b0, int64_t b1) {
      GatesBackward<T>(r, gy + (o + b0) * H, dh.data() + b0 * H, lstm ? dc.data() + b0 * H : nullptr,
                       y + (o + b0) * H, ws + (o + b0) * ld, ld, hp + b0 * H, cp ? cp + b0 * ldc_prev : nullptr,
                       ldc_prev, dgx.get() + (o + b0) * G, dgh + (o + b0) * G, 0, b1 - b0);
    };
    if (threads <= 1) {
      pass(0, B);
    } else {
#pragma omp parallel num_threads(threads)
      {
#ifdef _OPENMP
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
        const int nt = 1, id = 0;
#endif
        pass(B * id / nt, B * (id + 1) / nt);
      }
    }
    if (s > 0 || m.h0) Gemm<T>(B, H, G, {dgh + o * G, G, 1}, w_hh, dh.data(), H, gru);
  }
  if (m.h0) std::copy(dh.begin(), dh.end(), out.h0);
  if (m.c0 && lstm) std::copy(dc.begin(), dc.end(), out.c0);
  if (m.x) Gemm<T>(Ts * B, I, G, {dgx.get(), G, 1}, {r.w_ih, I, 1}, out.x, I, false);
  if (m.w_ih) Gemm<T>(G, I, Ts * B, StridedMatrix<T>{dgx.get(), G, 1}.Transposed(), {r.x, I, 1}, out.w_ih, I, false);
  if (m.w_hh) {
    // dW_hh = sum_t dG_t^T h_{t-1}: the steps whose h_{t-1} is in y, then the first step's h0
    const int64_t first = r.Time(0), rest = (Ts - 1) * B;
    const T* dg_rest = dgh + (r.reverse ? 0 : B) * G;
    const T* h_rest = y + (r.reverse ? B : 0) * H;
    Gemm<T>(G, H, rest, StridedMatrix<T>{dg_rest, G, 1}.Transposed(), {h_rest, H, 1}, out.w_hh, H, false);
    Gemm<T>(G, H, B, StridedMatrix<T>{dgh + first * B * G, G, 1}.Transposed(), {r.h0, H, 1}, out.w_hh, H, true);
  }
  if (m.b_ih) ColumnSums<T>(dgx.get(), Ts * B, G, out.b_ih);
  if (m.b_hh) ColumnSums<T>(dgh, Ts * B, G, out.b_hh);
}

// ---------------------------------------------------------------------------------------------------------------
// argument checks (memory safety only: the Python op validated the shapes) and array plumbing

void CheckShape(const py::array& a, std::initializer_list<int64_t> dims, const char* op, const char* name) {
  CheckFloatArray(a, static_cast<py::ssize_t>(dims.size()), op, name);
  int d = 0;
  for (const int64_t want : dims) {
    MINIDL_CHECK(a.shape(d) == want, op, std::string(name) + " has shape " + ShapeString(a) + ", dimension " +
                                             std::to_string(d) + " should be " + std::to_string(want));
    ++d;
  }
}

/** Check the operands shared by forward and backward; returns (steps, batch, in, hidden). */
template <typename T>
Rnn<T> CheckOperands(const char* op, Mode mode, const py::array& x, const py::array& h0,
                     const std::optional<py::array>& c0, const py::array& w_ih, const py::array& w_hh,
                     const std::optional<py::array>& b_ih, const std::optional<py::array>& b_hh, bool reverse) {
  CheckFloatArray(x, 3, op, "x");
  CheckFloatArray(w_hh, 2, op, "w_hh");
  const int64_t Ts = x.shape(0), B = x.shape(1), I = x.shape(2), H = w_hh.shape(1);
  const int64_t G = GatesOf(mode) * H;
  MINIDL_CHECK(Ts >= 1 && H >= 1, op, "need at least one time step and one hidden unit, got x " + ShapeString(x) +
                                          " and w_hh " + ShapeString(w_hh));
  CheckShape(w_hh, {G, H}, op, "w_hh");
  CheckShape(w_ih, {G, I}, op, "w_ih");
  CheckShape(h0, {B, H}, op, "h0");
  MINIDL_CHECK(c0.has_value() == (mode == Mode::kLstm), op, "c0 must be given for lstm, and only for lstm");
  if (c0) CheckShape(*c0, {B, H}, op, "c0");
  MINIDL_CHECK(b_ih.has_value() == b_hh.has_value(), op, "b_ih and b_hh must both be given or both be None");
  if (b_ih) {
    CheckShape(*b_ih, {G}, op, "b_ih");
    CheckShape(*b_hh, {G}, op, "b_hh");
  }
  for (const py::array* a : {&h0, &w_ih, &w_hh}) CheckSameDtype(x, *a, op);
  if (c0) CheckSameDtype(x, *c0, op);
  if (b_ih) {
    CheckSameDtype(x, *b_ih, op);
    CheckSameDtype(x, *b_hh, op);
  }
  return Rnn<T>{mode, Ts, B, I, H, reverse, DataOf<T>(x), DataOf<T>(h0), c0 ? DataOf<T>(*c0) : nullptr,
                DataOf<T>(w_ih), DataOf<T>(w_hh), b_ih ? DataOf<T>(*b_ih) : nullptr,
                b_hh ? DataOf<T>(*b_hh) : nullptr};
}

template <typename T>
T* NewArray(std::vector<py::array>& keep, std::vector<py::ssize_t> dims) {
  keep.emplace_back(py::array_t<T>(dims));
  return MutableDataOf<T>(keep.back());
}

}  // namespace

/** rnn_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse) -> (y, h_n, c_n, workspace); see
 *  reference.rnn_forward for the contract. */
py::tuple RnnForward(const std::string& mode_name, const py::array& x, const py::array& h0,
                     const std::optional<py::array>& c0, const py::array& w_ih, const py::array& w_hh,
                     const std::optional<py::array>& b_ih, const std::optional<py::array>& b_hh, bool reverse) {
  const char* op = "rnn_forward";
  const Mode mode = ParseMode(mode_name, op);
  CheckFloatArray(x, 3, op, "x");
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const Rnn<T> r = CheckOperands<T>(op, mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse);
    const int64_t W = WorkspaceWidth(mode, r.hidden);
    CheckOutputSize(op, "workspace", {r.steps, r.batch, std::max(W, r.hidden)}, sizeof(T));
    std::vector<py::array> keep;
    T* y = NewArray<T>(keep, {r.steps, r.batch, r.hidden});
    T* hn = NewArray<T>(keep, {r.batch, r.hidden});
    T* ws = NewArray<T>(keep, {r.steps, r.batch, W});
    T* cn = mode == Mode::kLstm ? NewArray<T>(keep, {r.batch, r.hidden}) : nullptr;
    {
      py::gil_scoped_release release;
      Forward<T>(r, y, hn, cn, ws);
    }
    return py::make_tuple(keep[0], keep[1], cn ? py::object(keep[3]) : py::none(), keep[2]);
  });
}

/** rnn_backward(mode, grad_y, grad_hn, grad_cn, x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, workspace, reverse,
 *  output_mask) -> (grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh); see
 *  reference.rnn_backward. */
py::tuple RnnBackward(const std::string& mode_name, const py::array& grad_y, const py::array& grad_hn,
                      const std::optional<py::array>& grad_cn, const py::array& x, const py::array& h0,
                      const std::optional<py::array>& c0, const py::array& w_ih, const py::array& w_hh,
                      const std::optional<py::array>& b_ih, const std::optional<py::array>& b_hh,
                      const py::array& y, const py::array& workspace, bool reverse,
                      const std::vector<bool>& output_mask) {
  const char* op = "rnn_backward";
  const Mode mode = ParseMode(mode_name, op);
  MINIDL_CHECK(output_mask.size() == 7, op, "output_mask must hold 7 booleans (x, h0, c0, w_ih, w_hh, b_ih, b_hh)");
  CheckFloatArray(x, 3, op, "x");
  return DispatchFloat(x.dtype(), op, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const Rnn<T> r = CheckOperands<T>(op, mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse);
    const int64_t B = r.batch, H = r.hidden, G = r.G();
    CheckShape(grad_y, {r.steps, B, H}, op, "grad_y");
    CheckShape(y, {r.steps, B, H}, op, "y");
    CheckShape(grad_hn, {B, H}, op, "grad_hn");
    CheckShape(workspace, {r.steps, B, WorkspaceWidth(mode, H)}, op, "workspace");
    MINIDL_CHECK(grad_cn.has_value() == (mode == Mode::kLstm), op, "grad_cn must be given for lstm, and only then");
    if (grad_cn) CheckShape(*grad_cn, {B, H}, op, "grad_cn");
    for (const py::array* a : {&grad_y, &y, &grad_hn, &workspace}) CheckSameDtype(x, *a, op);
    if (grad_cn) CheckSameDtype(x, *grad_cn, op);
    const Mask m{output_mask[0], output_mask[1], output_mask[2] && mode == Mode::kLstm, output_mask[3],
                 output_mask[4], output_mask[5] && b_ih.has_value(), output_mask[6] && b_hh.has_value()};
    CheckOutputSize(op, "gate gradients", {r.steps, B, 2 * G}, sizeof(T));
    py::object outs[7];
    auto make = [&](int k, bool want, std::vector<py::ssize_t> dims) -> T* {
      if (!want) return nullptr;
      py::array_t<T> a(dims);
      outs[k] = a;
      return a.mutable_data();
    };
    const Grads<T> g{make(0, m.x, {r.steps, B, r.in}),  make(1, m.h0, {B, H}),   make(2, m.c0, {B, H}),
                     make(3, m.w_ih, {G, r.in}),          make(4, m.w_hh, {G, H}), make(5, m.b_ih, {G}),
                     make(6, m.b_hh, {G})};
    const bool any = m.x || m.h0 || m.c0 || m.w_ih || m.w_hh || m.b_ih || m.b_hh;
    if (any) {
      py::gil_scoped_release release;
      Backward<T>(r, DataOf<T>(grad_y), DataOf<T>(grad_hn), grad_cn ? DataOf<T>(*grad_cn) : nullptr, DataOf<T>(y),
                  DataOf<T>(workspace), m, g);
    }
    py::tuple result(7);
    for (int k = 0; k < 7; ++k) result[k] = outs[k] ? outs[k] : py::none();
    return result;
  });
}

}  // namespace cpu
}  // namespace minidl
