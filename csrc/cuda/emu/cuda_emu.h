// cuda_emu.h -- run minidl's CUDA kernels on the CPU, for tests on machines without a GPU.
//
// Included by csrc/cuda/common.cuh instead of <cuda_runtime.h> when MINIDL_CUDA_EMULATION is
// defined; the kernel sources are compiled unchanged by g++ (`-x c++`). It covers exactly the
// subset the kernels may use (see common.cuh), and turns the mistakes a CPU would silently
// forgive into errors:
//   * every CUDA thread of a block is a ucontext fiber; blocks run one after another;
//   * __syncthreads() is a block barrier. A thread that finishes while others still call
//     __syncthreads, or threads calling it different numbers of times, is a launch error
//     ("divergent __syncthreads"); so is a state in which no thread can move (deadlock);
//   * warp shuffles exchange values through a per-warp slot array between two warp barriers,
//     so every lane named in the mask must arrive (a shuffle in a divergent branch deadlocks);
//   * invalid launch configurations fail as on a GPU (cudaErrorInvalidConfiguration);
//   * dynamic shared memory is a fresh heap block of exactly the requested size, filled with
//     0xFF bytes (NaN for floats), so AddressSanitizer sees overruns and reads of unwritten
//     shared memory show up as NaN; cudaMalloc'd memory is poisoned the same way.
//   * MINIDL_EMU_ORDER=reverse runs the fibers of a block in reverse order: a missing
//     __syncthreads usually gives a wrong result in one of the two orders.
// Fibers of one block run on one OS thread (cheap switches, deterministic); launches are
// serialized by a mutex, which is what lets `__shared__` be a function-local `static`.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// Everything here is inline; hidden visibility keeps two emulated modules loaded in one process
// (say, a sanitized and a plain one) from binding to each other's copies.
#pragma GCC visibility push(hidden)

// ---- the CUDA runtime types and error codes the host code uses --------------------------------
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned int x, y, z;
};
using cudaStream_t = struct CUstream_st*;
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                      cudaMemcpyDeviceToDevice, cudaMemcpyDefault };

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Static shared memory: function-local statics, all placed in one ELF section so that the
// launcher can poison the whole section (0xFF bytes) before every block -- a read of shared
// memory no thread of this block has written then yields NaN instead of a stale value.
#define __shared__ __attribute__((section("minidl_emu_shared"))) static
extern "C" unsigned char __start_minidl_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" unsigned char __stop_minidl_emu_shared[] __attribute__((weak, visibility("hidden")));
#define warpSize 32

// The 16-byte vector types (and their makers) kernels load and store through; aligned as in CUDA,
// so a misaligned reinterpret_cast to them is a UBSan "misaligned address" error here.
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

namespace minidl_emu {

constexpr int kWarp = 32;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockZ = 64;
constexpr unsigned kMaxGridYZ = 65535;
constexpr size_t kMaxDynamicShared = 227 * 1024;  // opt-in maximum of sm_90

enum class Wait { kNone, kBlock, kWarp, kDone };

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  uint3 tid;
  int linear = 0;
  Wait wait = Wait::kNone;
  uint64_t gen = 0;        // generation of the barrier it waits on
  uint64_t syncs = 0;      // __syncthreads calls, compared across the block at the end
  unsigned mask = 0;       // lanes named by the warp operation it waits in
};

struct Warp {
  uint64_t gen = 0;
  unsigned long long slots[kWarp];  // one 8-byte value per lane (shuffles of <= 8-byte types)
};

struct Block {
  std::vector<Warp> warps;
  uint64_t gen = 0;
  ucontext_t sched;
  Fiber* cur = nullptr;
  std::string error;  // first error raised inside a fiber (an exception is not thrown across contexts)
};

struct Launch {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
  unsigned char* dyn_smem = nullptr;
  Block* block = nullptr;
};

inline Launch*& Current() {
  static thread_local Launch* launch = nullptr;
  return launch;
}
inline std::mutex& LaunchMutex() {
  static std::mutex m;
  return m;
}
inline cudaError_t& LastError() {
  static thread_local cudaError_t err = cudaSuccess;
  return err;
}
inline std::string& LastMessage() {
  static thread_local std::string msg;
  return msg;
}
inline cudaError_t Fail(cudaError_t err, std::string msg) {
  LastError() = err;
  LastMessage() = std::move(msg);
  return err;
}

inline std::string Str(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

inline std::string Hex(unsigned v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 28; i >= 0; i -= 4) s += digits[(v >> i) & 15];
  return s;
}

// Give control back to the block scheduler until the barrier this fiber waits on opens.
inline void Yield() {
  Block* b = Current()->block;
  swapcontext(&b->cur->ctx, &b->sched);
}

inline void SyncThreads() {
  Block* b = Current()->block;
  Fiber* f = b->cur;
  f->syncs++;
  f->wait = Wait::kBlock;
  f->gen = b->gen;
  Yield();
}

inline void SyncWarp(unsigned mask = 0xffffffffu) {
  Block* b = Current()->block;
  Fiber* f = b->cur;
  f->mask = mask;
  f->wait = Wait::kWarp;
  f->gen = b->warps[f->linear / kWarp].gen;
  Yield();
}

inline int LaneId() { return Current()->block->cur->linear % kWarp; }

// The value `v` of lane `src(lane)`, all lanes of the warp exchanging at once.
template <typename T, typename Src>
inline T Shuffle(unsigned mask, T v, Src src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
  Block* b = Current()->block;
  Fiber* f = b->cur;
  const int lane = f->linear % kWarp;
  if (!(mask & (1u << lane))) {
    b->error = "warp shuffle called by lane " + std::to_string(lane) + " outside its own mask";
  }
  Warp& w = b->warps[f->linear / kWarp];
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  w.slots[lane] = bits;
  SyncWarp(mask);  // all lanes have written
  const int s = src(lane);
  T out;
  bits = w.slots[s];
  std::memcpy(&out, &bits, sizeof(T));
  SyncWarp(mask);  // all lanes have read before anyone writes the next shuffle
  return out;
}

inline void FiberMain(unsigned lo, unsigned hi);

// Hand-written so that kernel argument types are whatever the kernel declares (like <<<>>>).
template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;

  template <typename... A>
  cudaError_t operator()(A&&... args) const;
};

// Entry trampoline: makecontext passes ints, so the closure pointer goes through two halves.
struct Entry {
  void (*run)(void*);
  void* arg;
  Block* block;
};

inline void FiberMain(unsigned lo, unsigned hi) {
  auto* e = reinterpret_cast<Entry*>((static_cast<uintptr_t>(hi) << 32) | static_cast<uintptr_t>(lo));
  Block* b = e->block;
  try {
    e->run(e->arg);
  } catch (const std::exception& ex) {
    if (b->error.empty()) b->error = std::string("exception in kernel: ") + ex.what();
  } catch (...) {
    if (b->error.empty()) b->error = "unknown exception in kernel";
  }
  b->cur->wait = Wait::kDone;
  // returning ends the fiber: uc_link switches back to the scheduler
}

inline size_t StackBytes() {
  const char* kb = std::getenv("MINIDL_EMU_STACK_KB");
  const long v = kb ? std::atol(kb) : 0;
  return static_cast<size_t>(v > 0 ? v : 256) * 1024;
}

inline bool ReverseOrder() {
  const char* o = std::getenv("MINIDL_EMU_ORDER");
  return o && std::strcmp(o, "reverse") == 0;
}

// Separate (and not inlined) because getcontext "returns twice": locals of its caller could be
// clobbered, which g++ warns about (-Wclobbered).
__attribute__((noinline)) inline void InitContext(Fiber& f, size_t stack, ucontext_t* link, uintptr_t p) {
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.get();
  f.ctx.uc_stack.ss_size = stack;
  f.ctx.uc_link = link;
  makecontext(&f.ctx, reinterpret_cast<void (*)()>(&FiberMain), 2, static_cast<unsigned>(p & 0xffffffffu),
              static_cast<unsigned>(p >> 32));
}

// Run one block: `body` is the kernel call with its arguments bound. Returns "" or the error.
inline std::string RunBlock(Launch& launch, std::vector<Fiber>& pool, int n, void (*run)(void*), void* arg) {
  Block block;
  Fiber* fibers = pool.data();
  block.warps.resize((n + kWarp - 1) / kWarp);
  launch.block = &block;
  Entry entry{run, arg, &block};
  const uintptr_t p = reinterpret_cast<uintptr_t>(&entry);
  const size_t stack = StackBytes();
  const dim3 bd = launch.block_dim;
  for (int i = 0; i < n; ++i) {
    Fiber& f = fibers[i];
    if (!f.stack) f.stack.reset(new char[stack]);
    f.linear = i;
    f.tid = uint3{static_cast<unsigned>(i % bd.x), static_cast<unsigned>((i / bd.x) % bd.y),
                  static_cast<unsigned>(i / (bd.x * bd.y))};
    f.wait = Wait::kNone;
    f.gen = 0;
    f.syncs = 0;
    InitContext(f, stack, &block.sched, p);
  }
  const bool reverse = ReverseOrder();
  for (;;) {
    bool progressed = false;
    for (int k = 0; k < n && block.error.empty(); ++k) {
      Fiber& f = fibers[reverse ? n - 1 - k : k];
      const bool open = f.wait == Wait::kNone || (f.wait == Wait::kBlock && block.gen != f.gen) ||
                        (f.wait == Wait::kWarp && block.warps[f.linear / kWarp].gen != f.gen);
      if (!open) continue;
      f.wait = Wait::kNone;
      block.cur = &f;
      swapcontext(&block.sched, &f.ctx);
      progressed = true;
    }
    if (!block.error.empty()) break;
    // Open the barriers that every live participant has reached.
    int done = 0, at_block = 0, at_warp = 0;
    for (int i = 0; i < n; ++i) {
      const Fiber& f = fibers[i];
      done += f.wait == Wait::kDone;
      at_block += f.wait == Wait::kBlock;
      at_warp += f.wait == Wait::kWarp;
    }
    if (done == n) break;
    if (at_block > 0 && done > 0 && at_block + done == n) {
      block.error = "divergent __syncthreads: " + std::to_string(done) + " threads exited while " +
                    std::to_string(at_block) + " wait in __syncthreads";
      break;
    }
    bool opened = false;
    if (at_block == n - done && at_block > 0) {
      block.gen++;
      opened = true;
    }
    for (size_t w = 0; w < block.warps.size(); ++w) {
      int waiting = 0, live = 0;
      unsigned named = 0, exited = 0;
      const int first = static_cast<int>(w) * kWarp;
      for (int i = first; i < std::min(n, first + kWarp); ++i) {
        live += fibers[i].wait != Wait::kDone;
        waiting += fibers[i].wait == Wait::kWarp;
        if (fibers[i].wait == Wait::kWarp) named |= fibers[i].mask;
        if (fibers[i].wait == Wait::kDone) exited |= 1u << (i - first);
      }
      if (waiting > 0 && (named & exited)) {
        block.error = "warp operation with mask naming exited lanes (mask 0x" + Hex(named) + ", exited 0x" +
                      Hex(exited) + ") in warp " + std::to_string(w) + ": a shuffle in a divergent branch?";
        break;
      }
      if (waiting > 0 && waiting == live) {
        block.warps[w].gen++;
        opened = true;
      }
    }
    if (!block.error.empty()) break;
    if (!progressed && !opened) {
      block.error = "deadlock: " + std::to_string(at_block) + " threads wait in __syncthreads, " +
                    std::to_string(at_warp) + " in warp operations (a shuffle or __syncwarp in a divergent branch?)";
      break;
    }
  }
  if (block.error.empty()) {
    for (int i = 0; i < n; ++i) {
      const Fiber& f = fibers[i];
      if (f.syncs != fibers[0].syncs) {
        block.error = "divergent __syncthreads: thread " + Str(f.tid) + " called it " + std::to_string(f.syncs) +
                      " times, thread " + Str(fibers[0].tid) + " " + std::to_string(fibers[0].syncs) + " times";
        break;
      }
    }
  }
  launch.block = nullptr;
  // NOTE: a fiber stopped by an error is abandoned mid-kernel (its stack is simply reused); the
  // objects on it are not destroyed, which is fine for kernels (trivial locals only).
  return block.error.empty() ? std::string() : "block " + Str(launch.block_idx) + ": " + block.error;
}

template <typename... P>
template <typename... A>
cudaError_t Launcher<P...>::operator()(A&&... args) const {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.z > kMaxBlockZ || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ || smem > kMaxDynamicShared) {
    return Fail(cudaErrorInvalidConfiguration,
                "invalid configuration argument (emulator: grid " + std::to_string(grid.x) + "x" +
                    std::to_string(grid.y) + "x" + std::to_string(grid.z) + ", block " + std::to_string(block.x) +
                    "x" + std::to_string(block.y) + "x" + std::to_string(block.z) + ", " + std::to_string(smem) +
                    " bytes of dynamic shared memory)");
  }
  std::lock_guard<std::mutex> lock(LaunchMutex());
  // Arguments are converted to the kernel's parameter types once, as a real launch copies them.
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  struct Closure {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...>* params;
    static void Run(void* self) {
      auto* c = static_cast<Closure*>(self);
      std::apply(c->kernel, *c->params);  // each thread gets the same by-value arguments
    }
  } closure{kernel, &params};
  // Fibers and their stacks are kept between launches (guarded by the launch mutex).
  static std::vector<Fiber> pool;
  if (pool.size() < threads) pool.resize(threads);
  Launch launch;
  launch.block_dim = block;
  launch.grid_dim = grid;
  Launch* saved = Current();
  Current() = &launch;
  std::string error;
  for (unsigned z = 0; z < grid.z && error.empty(); ++z) {
    for (unsigned y = 0; y < grid.y && error.empty(); ++y) {
      for (unsigned x = 0; x < grid.x && error.empty(); ++x) {
        launch.block_idx = uint3{x, y, z};
        std::unique_ptr<unsigned char[]> dyn(smem ? new unsigned char[smem] : nullptr);
        if (smem) std::memset(dyn.get(), 0xFF, smem);
        unsigned char *s0 = __start_minidl_emu_shared, *s1 = __stop_minidl_emu_shared;
        if (s0 && s1 > s0) std::memset(s0, 0xFF, static_cast<size_t>(s1 - s0));
        launch.dyn_smem = dyn.get();
        error = RunBlock(launch, pool, static_cast<int>(threads), &Closure::Run, &closure);
      }
    }
  }
  Current() = saved;
  if (!error.empty()) return Fail(cudaErrorLaunchFailure, "unspecified launch failure (emulator: " + error + ")");
  return cudaSuccess;
}

template <typename... P>
inline Launcher<P...> MakeLauncher(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t) {
  return Launcher<P...>{kernel, grid, block, smem};
}

template <typename T>
inline T* DynamicShared() {
  return reinterpret_cast<T*>(Current()->dyn_smem);
}

}  // namespace minidl_emu

// ---- device-side built-ins ---------------------------------------------------------------------
#define threadIdx (::minidl_emu::Current()->block->cur->tid)
#define blockIdx (::minidl_emu::Current()->block_idx)
#define blockDim (::minidl_emu::Current()->block_dim)
#define gridDim (::minidl_emu::Current()->grid_dim)

inline void __syncthreads() { ::minidl_emu::SyncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::minidl_emu::SyncWarp(mask); }

template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  return ::minidl_emu::Shuffle(mask, v, [&](int lane) { return (lane & ~(width - 1)) + (src & (width - 1)); });
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return ::minidl_emu::Shuffle(mask, v, [&](int lane) {
    const int in_seg = lane & (width - 1);
    return in_seg + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
  });
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return ::minidl_emu::Shuffle(mask, v, [&](int lane) {
    const int in_seg = lane & (width - 1);
    return in_seg >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane;
  });
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  return ::minidl_emu::Shuffle(mask, v, [&](int lane) {
    const int s = lane ^ lane_mask;
    return (s & ~(width - 1)) == (lane & ~(width - 1)) ? s : lane;
  });
}

// Fibers of a launch never run concurrently, so plain read-modify-write is atomic here.
template <typename T>
inline T atomicAdd(T* addr, T v) {
  const T old = *addr;
  *addr = old + v;
  return old;
}
template <typename T>
inline T atomicMax(T* addr, T v) {
  const T old = *addr;
  if (v > old) *addr = v;
  return old;
}
template <typename T>
inline T atomicCAS(T* addr, T compare, T v) {
  const T old = *addr;
  if (old == compare) *addr = v;
  return old;
}

// CUDA's device min/max overloads, for arithmetic types only (mixed types promote as in CUDA).
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }

// ---- host runtime API --------------------------------------------------------------------------
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
// The last error's detailed message (what the emulator found), else the code's name.
inline const char* cudaGetErrorString(cudaError_t e) {
  if (e != cudaSuccess && e == ::minidl_emu::LastError() && !::minidl_emu::LastMessage().empty())
    return ::minidl_emu::LastMessage().c_str();
  return cudaGetErrorName(e);
}
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = ::minidl_emu::LastError();
  ::minidl_emu::LastError() = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return ::minidl_emu::LastError(); }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

// Device memory is host memory; fresh allocations are 0xFF-poisoned like dynamic shared memory.
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return ::minidl_emu::Fail(cudaErrorMemoryAllocation, "out of memory (emulator)");
  std::memset(*p, 0xFF, bytes);
  return cudaSuccess;
}
template <typename T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
template <typename T>
inline cudaError_t cudaMallocAsync(T** p, size_t bytes, cudaStream_t) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
inline cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t = nullptr) {
  return cudaMemset(p, v, bytes);
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind k,
                                   cudaStream_t = nullptr) {
  return cudaMemcpy(dst, src, bytes, k);
}

#pragma GCC visibility pop
