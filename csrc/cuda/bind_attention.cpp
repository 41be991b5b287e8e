// Host entry points of the fused attention kernels (declared in cuda/bindings.h, bound in module.cpp);
// 0 stands for an absent mask and for a gradient that is not wanted.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cuda/attention.h"
#include "cuda/bind_util.h"
#include "cuda/bindings.h"

namespace minidl::cuda::api {
namespace {

cuda::AttentionShape CheckShape(const char* op, int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t Ev,
                                Addr mask, int64_t MB, int64_t MH) {
  MINIDL_CHECK(B >= 0 && H >= 0 && L >= 0 && S >= 0 && E >= 0 && Ev >= 0, op, "sizes must be >= 0");
  if (mask != 0) {
    MINIDL_CHECK((MB == 1 || MB == B) && (MH == 1 || MH == H), op,
                 "mask leading dimensions (" + std::to_string(MB) + ", " + std::to_string(MH) +
                     ") must be 1 or the batch / head count (" + std::to_string(B) + ", " + std::to_string(H) + ")");
  }
  return cuda::AttentionShape{B, H, L, S, E, Ev, MB, MH};
}

}  // namespace

void Attention(Addr q, Addr k, Addr v, Addr mask, bool is_causal, double scale, Addr out, Addr lse,
               const std::string& dtype, int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t Ev, int64_t MB,
               int64_t MH, Addr stream) {
  const char* op = "attention";
  const cuda::AttentionShape s = CheckShape(op, B, H, L, S, E, Ev, mask, MB, MH);
  CheckPtr(q, B * H * L * E, op, "q");
  CheckPtr(k, B * H * S * E, op, "k");
  CheckPtr(v, B * H * S * Ev, op, "v");
  CheckPtr(out, B * H * L * Ev, op, "out");
  CheckPtr(lse, B * H * L, op, "lse");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::AttentionForward<T>(cuda::Ptr<const T>(q), cuda::Ptr<const T>(k), cuda::Ptr<const T>(v),
                              cuda::Ptr<const T>(mask), is_causal, scale, s, cuda::Ptr<T>(out), cuda::Ptr<T>(lse),
                              Stream(stream));
  });
}

void AttentionBackward(Addr grad, Addr q, Addr k, Addr v, Addr out, Addr lse, Addr mask, bool is_causal, double scale,
                       Addr dq, Addr dk, Addr dv, Addr delta, const std::string& dtype, int64_t B, int64_t H,
                       int64_t L, int64_t S, int64_t E, int64_t Ev, int64_t MB, int64_t MH, Addr stream) {
  const char* op = "attention_backward";
  const cuda::AttentionShape s = CheckShape(op, B, H, L, S, E, Ev, mask, MB, MH);
  CheckPtr(grad, B * H * L * Ev, op, "grad");
  CheckPtr(q, B * H * L * E, op, "q");
  CheckPtr(k, B * H * S * E, op, "k");
  CheckPtr(v, B * H * S * Ev, op, "v");
  CheckPtr(out, B * H * L * Ev, op, "out");
  CheckPtr(lse, B * H * L, op, "lse");
  // dq / dk / dv may be 0 (not wanted); delta is the rowsum(grad * out) workspace the dq and dk passes read
  if (dq != 0 || dk != 0) CheckPtr(delta, B * H * L, op, "delta");
  DispatchDtype(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    pybind11::gil_scoped_release release;
    cuda::AttentionBackward<T>(cuda::Ptr<const T>(grad), cuda::Ptr<const T>(q), cuda::Ptr<const T>(k),
                               cuda::Ptr<const T>(v), cuda::Ptr<const T>(out), cuda::Ptr<const T>(lse),
                               cuda::Ptr<const T>(mask), is_causal, scale, s, cuda::Ptr<T>(dq), cuda::Ptr<T>(dk),
                               cuda::Ptr<T>(dv), cuda::Ptr<T>(delta), Stream(stream));
  });
}

}  // namespace minidl::cuda::api
