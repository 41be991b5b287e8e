// The GEMM's cache blocking, chosen at run time from the caches this CPU reports.
//
// The micro-tile (MR x NR) is fixed by the instruction set the build targets; KC, MC and NC
// follow the analytic model of Low et al. ("Analytical modeling is enough for high-performance
// BLIS", TOMS 2016), whose loop order matmul.cpp uses:
//   KC: the B micro-panel (KC x NR) stays in L1 while A micro-panels (MR x KC) stream through
//       it; of the L1's W ways, one is left for C and the streamed lines, the rest are shared
//       between B and A in the ratio NR : MR, and KC is what fills B's share.
//   MC: the packed A block (MC x KC) stays in L2 beside one B micro-panel and C; it gets the
//       ways that leaves, at most half of them (the other half keeps B micro-panels coming in).
//   NC: the packed B panel (KC x NC) stays in this core's share of L3, taking half of it.
// MINIDL_GEMM_BLOCKING="kc,mc,nc" (or set_gemm_blocking) replaces the model's values.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cpu/gemm.h"

namespace minidl {
namespace cpu {
namespace {

/** Reads one small text file under /sys; "" when it is missing. */
std::string ReadSysFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

/** "32K" / "1024K" / "32M" -> bytes (0 when unparsable). */
int64_t ParseCacheSize(const std::string& text) {
  if (text.empty()) return 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (value <= 0) return 0;
  const char unit = end != nullptr ? *end : '\0';
  if (unit == 'K') return value << 10;
  if (unit == 'M') return value << 20;
  if (unit == 'G') return value << 30;
  return value;
}

/** Logical CPUs named by a list such as "0-3,8-11". */
int64_t CountCpuList(const std::string& list) {
  int64_t count = 0;
  std::stringstream parts(list);
  std::string part;
  while (std::getline(parts, part, ',')) {
    if (part.empty()) continue;
    const size_t dash = part.find('-');
    if (dash == std::string::npos) {
      ++count;
    } else {
      count += std::atoll(part.c_str() + dash + 1) - std::atoll(part.c_str()) + 1;
    }
  }
  return count;
}

/** Fills what sysconf left unknown from /sys/devices/system/cpu/cpu0/cache/index*. */
void ReadSysfsCaches(CpuCaches& caches) {
  bool found = false;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = ReadSysFile(dir + "level");
    if (level.empty()) break;
    const std::string type = ReadSysFile(dir + "type");
    if (type == "Instruction") continue;
    const int64_t size = ParseCacheSize(ReadSysFile(dir + "size"));
    const int64_t ways = std::atoll(ReadSysFile(dir + "ways_of_associativity").c_str());
    const int64_t sharing = CountCpuList(ReadSysFile(dir + "shared_cpu_list"));
    const int64_t line = std::atoll(ReadSysFile(dir + "coherency_line_size").c_str());
    if (level == "1" && line > 0) caches.line = line;
    found = found || size > 0;
    if (level == "1" && caches.l1d <= 0) caches.l1d = size, caches.l1d_ways = ways;
    if (level == "2" && caches.l2 <= 0) caches.l2 = size, caches.l2_ways = ways;
    if (level == "3") {
      if (caches.l3 <= 0) caches.l3 = size, caches.l3_ways = ways;
      if (sharing > 0) caches.l3_sharing = sharing;
    }
    if (level == "1" && caches.l1d_ways <= 0) caches.l1d_ways = ways;
    if (level == "2" && caches.l2_ways <= 0) caches.l2_ways = ways;
    if (level == "3" && caches.l3_ways <= 0) caches.l3_ways = ways;
  }
  if (found) caches.source += caches.source.empty() ? "sysfs" : "+sysfs";
}

CpuCaches Detect() {
  CpuCaches caches;
  // sysfs first: the kernel's view, which also says how many CPUs share the L3 (under a
  // hypervisor sysconf may report the whole host's L3 as this core's).
  ReadSysfsCaches(caches);
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL3_CACHE_ASSOC)
  const int64_t before = caches.l1d + caches.l2 + caches.l3;
  if (caches.l1d <= 0) caches.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), caches.l1d_ways = sysconf(_SC_LEVEL1_DCACHE_ASSOC);
  if (caches.l2 <= 0) caches.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), caches.l2_ways = sysconf(_SC_LEVEL2_CACHE_ASSOC);
  if (caches.l3 <= 0) {
    caches.l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), caches.l3_ways = sysconf(_SC_LEVEL3_CACHE_ASSOC);
    caches.l3_sharing = sysconf(_SC_NPROCESSORS_ONLN);  // unknown sharing: assume all CPUs share it
  }
  if (caches.l1d + caches.l2 + caches.l3 != before) caches.source += caches.source.empty() ? "sysconf" : "+sysconf";
#endif
  // Nothing reported (a container without /sys, another OS): the smallest caches of current
  // x86 cores, so the blocks still fit wherever this runs.
  if (caches.l1d <= 0) caches.l1d = 32 << 10, caches.source += "+default L1";
  if (caches.l2 <= 0) caches.l2 = 256 << 10, caches.source += "+default L2";
  if (caches.l3 <= 0) caches.l3 = caches.l2 * 4, caches.l3_sharing = 1, caches.source += "+default L3";
  if (caches.l1d_ways <= 0) caches.l1d_ways = 8;
  if (caches.l2_ways <= 0) caches.l2_ways = 8;
  if (caches.l3_ways <= 0) caches.l3_ways = 16;
  caches.l3_sharing = std::max<int64_t>(1, caches.l3_sharing);
#if defined(_SC_LEVEL1_DCACHE_LINESIZE)
  if (caches.source.find("sysfs") == std::string::npos && sysconf(_SC_LEVEL1_DCACHE_LINESIZE) > 0) {
    caches.line = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
  }
#endif
  return caches;
}

int64_t RoundDownTo(int64_t value, int64_t unit) { return std::max(unit, value / unit * unit); }
int64_t RoundUpTo(int64_t value, int64_t unit) { return std::max(unit, (value + unit - 1) / unit * unit); }

/** The override, shared by both element types; 0 fields keep the model's value. */
struct Override {
  std::atomic<int64_t> kc{0}, mc{0}, nc{0};
  std::atomic<int> source{0};  // 0 model, 1 environment, 2 set_gemm_blocking
};

Override& TheOverride() {
  static Override* override_ = [] {
    auto* o = new Override();
    const char* env = std::getenv("MINIDL_GEMM_BLOCKING");
    if (env != nullptr && *env != '\0') {
      long long kc = 0, mc = 0, nc = 0;
      if (std::sscanf(env, "%lld,%lld,%lld", &kc, &mc, &nc) == 3 && kc >= 0 && mc >= 0 && nc >= 0) {
        o->kc = kc, o->mc = mc, o->nc = nc, o->source = 1;
      }
    }
    return o;
  }();
  return *override_;
}

}  // namespace

const CpuCaches& DetectedCaches() {
  static const CpuCaches caches = Detect();
  return caches;
}

template <typename T>
GemmBlockSizes ModelBlocking(const CpuCaches& caches) {
  const auto [mr, nr] = GemmMicroTile<T>();
  const int64_t s = sizeof(T);
  // L1: ways for the B micro-panel, in proportion NR : (MR + NR) of all but one way.
  const int64_t l1_way = caches.l1d / caches.l1d_ways;
  const int64_t b_ways = std::max<int64_t>(1, (caches.l1d_ways - 1) * nr / (mr + nr));
  const int64_t kc = RoundDownTo(b_ways * l1_way / (nr * s), 8);
  // L2: the ways left after one for C and those the B micro-panel needs, at most half.
  const int64_t l2_way = caches.l2 / caches.l2_ways;
  const int64_t b_ways_l2 = (kc * nr * s + l2_way - 1) / l2_way;
  const int64_t a_ways = std::max<int64_t>(1, std::min(caches.l2_ways - 1 - b_ways_l2, caches.l2_ways / 2));
  const int64_t mc = RoundDownTo(a_ways * l2_way / (kc * s), mr);
  // L3: half of this core's share holds the packed B panel.
  const int64_t l3_core = caches.l3 / caches.l3_sharing;
  const int64_t nc = RoundDownTo(l3_core / 2 / (kc * s), nr);
  return {kc, mc, nc};
}

template <typename T>
GemmBlockSizes GemmBlocking() {
  static const GemmBlockSizes model = ModelBlocking<T>(DetectedCaches());
  const Override& o = TheOverride();
  const auto [mr, nr] = GemmMicroTile<T>();
  const int64_t kc = o.kc.load(std::memory_order_relaxed);
  const int64_t mc = o.mc.load(std::memory_order_relaxed);
  const int64_t nc = o.nc.load(std::memory_order_relaxed);
  return {kc > 0 ? kc : model.kc, RoundUpTo(mc > 0 ? mc : model.mc, mr), RoundUpTo(nc > 0 ? nc : model.nc, nr)};
}

template GemmBlockSizes ModelBlocking<float>(const CpuCaches&);
template GemmBlockSizes ModelBlocking<double>(const CpuCaches&);
template GemmBlockSizes GemmBlocking<float>();
template GemmBlockSizes GemmBlocking<double>();

bool SetGemmBlocking(int64_t kc, int64_t mc, int64_t nc) {
  if (kc < 0 || mc < 0 || nc < 0) return false;
  Override& o = TheOverride();
  o.kc = kc, o.mc = mc, o.nc = nc;
  o.source = (kc | mc | nc) == 0 ? 0 : 2;
  return true;
}

std::string GemmBlockingSource() {
  static const char* const kNames[] = {"model", "MINIDL_GEMM_BLOCKING", "set_gemm_blocking"};
  return kNames[TheOverride().source.load()];
}

}  // namespace cpu
}  // namespace minidl
