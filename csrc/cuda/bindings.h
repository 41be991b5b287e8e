// Host entry points of minidl._C_cuda, bound one by one in module.cpp (as csrc/cpu/kernels.h is for
// minidl._C). Device pointers arrive as Python ints, the dtype as a string, the stream as an int;
// outputs are allocated by the Python side (minidl/backends/_cuda_glue.py), which also validated the
// geometry. The checks here are the last defense of memory safety only. Host compiler, never nvcc.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

namespace minidl::cuda::api {

using Addr = std::uintptr_t;
using Pair = std::tuple<int64_t, int64_t>;

// bind_matmul.cpp
void Matmul(Addr a, Addr b, Addr c, const std::string& dtype, int64_t batch, int64_t m, int64_t k, int64_t n,
            Addr stream);
/** grad_a or grad_b may be 0: that gradient is not computed. */
void MatmulBackward(Addr grad, Addr a, Addr b, Addr grad_a, Addr grad_b, const std::string& dtype, int64_t batch,
                    int64_t m, int64_t k, int64_t n, Addr stream);

// bind_pool2d.cpp
void MaxPool2d(Addr x, Addr y, Addr indices, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w,
               int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d, Addr stream);
void MaxPool2dBackward(Addr grad, Addr indices, Addr grad_x, const std::string& dtype, int64_t n, int64_t c, int64_t h,
                       int64_t w, int64_t oh, int64_t ow, Pair k, Pair s, Pair p, Pair d, Addr stream);
void AvgPool2d(Addr x, Addr y, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh,
               int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, Addr stream);
void AvgPool2dBackward(Addr grad, Addr grad_x, const std::string& dtype, int64_t n, int64_t c, int64_t h, int64_t w,
                       int64_t oh, int64_t ow, Pair k, Pair s, Pair p, bool count_include_pad, Addr stream);

// bind_conv2d.cpp
void Conv2d(Addr x, Addr w, Addr y, const std::string& dtype, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
            int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
            int64_t groups, Addr stream);
/** grad_x or grad_w may be 0: that gradient is not computed. */
void Conv2dBackward(Addr grad, Addr x, Addr w, Addr grad_x, Addr grad_w, const std::string& dtype, int64_t N, int64_t C,
                    int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t ph,
                    int64_t pw, int64_t dh, int64_t dw, int64_t groups, Addr stream);

// bind_batch_norm.cpp
void BatchNorm(Addr x, Addr weight, Addr bias, Addr running_mean, Addr running_var, bool training, double momentum,
               double eps, Addr y, Addr save_mean, Addr save_invstd, const std::string& dtype, int64_t N, int64_t C,
               int64_t L, Addr stream);
void BatchNormBackward(Addr grad, Addr x, Addr weight, Addr save_mean, Addr save_invstd, bool training, Addr grad_x,
                       Addr grad_weight, Addr grad_bias, const std::string& dtype, int64_t N, int64_t C, int64_t L,
                       Addr stream);

// bind_attention.cpp (mask, dq, dk, dv = 0: absent / not wanted; delta: a (B, H, L) workspace for the backward)
void Attention(Addr q, Addr k, Addr v, Addr mask, bool is_causal, double scale, Addr out, Addr lse,
               const std::string& dtype, int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t Ev, int64_t MB,
               int64_t MH, Addr stream);
void AttentionBackward(Addr grad, Addr q, Addr k, Addr v, Addr out, Addr lse, Addr mask, bool is_causal, double scale,
                       Addr dq, Addr dk, Addr dv, Addr delta, const std::string& dtype, int64_t B, int64_t H,
                       int64_t L, int64_t S, int64_t E, int64_t Ev, int64_t MB, int64_t MH, Addr stream);

}  // namespace minidl::cuda::api
