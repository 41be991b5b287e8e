// Declarations of the CPU host functions bound in module.cpp (one block per kernel file).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace minidl {
namespace cpu {

namespace py = pybind11;

// matmul.cpp
py::array MatmulForward(const py::array& a, const py::array& b);
py::tuple MatmulBackward(const py::array& grad, const py::array& a, const py::array& b, bool need_a,
                         bool need_b);

// pool2d.cpp (geometry arguments: pairs of Python ints (h, w))
py::tuple MaxPool2dForward(const py::array& x, const py::object& kernel_size, const py::object& stride,
                           const py::object& padding, const py::object& dilation, bool ceil_mode);
py::array MaxPool2dBackward(const py::array& grad, const py::array& x, const py::array& indices,
                            const py::object& kernel_size, const py::object& stride, const py::object& padding,
                            const py::object& dilation, bool ceil_mode);
py::array AvgPool2dForward(const py::array& x, const py::object& kernel_size, const py::object& stride,
                           const py::object& padding, bool ceil_mode, bool count_include_pad);
py::array AvgPool2dBackward(const py::array& grad, const py::array& x, const py::object& kernel_size,
                            const py::object& stride, const py::object& padding, bool ceil_mode,
                            bool count_include_pad);

// batch_norm.cpp (running_mean/running_var: None, or arrays updated in place)
py::tuple BatchNormForward(const py::array& x, const py::array& weight, const py::array& bias,
                           std::optional<py::array> running_mean, std::optional<py::array> running_var,
                           bool training, double momentum, double eps);
py::tuple BatchNormBackward(const py::array& grad, const py::array& x, const py::array& weight,
                            const py::array& save_mean, const py::array& save_invstd, bool training);

// conv2d.cpp
py::array Conv2dForward(const py::array& x, const py::array& w, const py::object& stride, const py::object& padding,
                        const py::object& dilation, const py::object& groups);
py::tuple Conv2dBackward(const py::array& grad, const py::array& x, const py::array& w, const py::object& stride,
                         const py::object& padding, const py::object& dilation, const py::object& groups,
                         const py::object& need);
py::array Conv2dBiasForward(const py::array& x, const py::array& w, const py::array& b, const py::object& stride,
                            const py::object& padding, const py::object& dilation, const py::object& groups,
                            bool relu);
std::string Conv2dAlgorithm(const py::object& mode);
py::list Conv2dAlgorithmChoices();

// memory.cpp
py::dict TuneAllocator(int64_t mmap_threshold, int64_t trim_threshold);

// build_info.cpp
py::dict BuildInfo();

// optim.cpp: fused optimizer updates of a whole parameter group, in place (lists of same-size arrays, one dtype)
void SgdStep(const py::array& first, const std::vector<py::array>& params, const std::vector<py::array>& grads,
             const std::vector<py::array>& momentum_buffers, double lr, double momentum, double dampening,
             double weight_decay, bool nesterov, bool maximize);
void AdamStep(const py::array_t<double, py::array::c_style | py::array::forcecast>& steps,
              const std::vector<py::array>& params, const std::vector<py::array>& grads,
              const std::vector<py::array>& exp_avgs, const std::vector<py::array>& exp_avg_sqs,
              const std::vector<py::array>& max_exp_avg_sqs, double lr, double beta1, double beta2, double eps,
              double weight_decay, bool amsgrad, bool maximize, bool decoupled);
void RmspropStep(const std::vector<py::array>& params, const std::vector<py::array>& grads,
                 const std::vector<py::array>& square_avgs, const std::vector<py::array>& grad_avgs,
                 const std::vector<py::array>& momentum_buffers, double lr, double alpha, double eps,
                 double weight_decay, double momentum, bool centered, bool maximize);
void AdagradStep(const py::array_t<double, py::array::c_style | py::array::forcecast>& steps,
                 const std::vector<py::array>& params, const std::vector<py::array>& grads,
                 const std::vector<py::array>& sums, double lr, double lr_decay, double weight_decay, double eps,
                 bool maximize);
py::dict OptimTuning(double fork_ns, double byte_ns);
// elementwise.cpp (threads: 1 = the caller's thread, 0 = omp_get_max_threads(); chosen by ops_native.py)
py::array UnaryForward(const py::array& x, const std::string& op, int threads);
py::array UnaryBackward(const py::array& grad, const py::array& saved, const std::string& op, int threads);
py::array BinaryForward(const py::array& a, const py::array& b, const std::string& op, int threads);
py::array SumOrkiForward(const py::array& x, int64_t O, int64_t R, int64_t K, int64_t I, int threads);
py::array SoftmaxForward(const py::array& x, int64_t O, int64_t C, int64_t I, bool log, int threads);
py::array SoftmaxBackward(const py::array& grad, const py::array& y, int64_t O, int64_t C, int64_t I, bool log,
                          int threads);
py::tuple CrossEntropyForward(const py::array& x, const py::array& target, std::optional<py::array> weight,
                              int64_t ignore_index, double label_smoothing, int threads);
py::array CrossEntropyBackward(const py::array& grad, const py::array& x, const py::array& stats,
                               const py::array& target, std::optional<py::array> weight, int64_t ignore_index,
                               double label_smoothing, int threads);
int OmpMaxThreads();
void OmpSetNumThreads(int n);
// rnn.cpp (mode: "rnn_tanh", "rnn_relu", "lstm" or "gru"; one layer, one direction)
py::tuple RnnForward(const std::string& mode, const py::array& x, const py::array& h0,
                     const std::optional<py::array>& c0, const py::array& w_ih, const py::array& w_hh,
                     const std::optional<py::array>& b_ih, const std::optional<py::array>& b_hh, bool reverse);
py::tuple RnnBackward(const std::string& mode, const py::array& grad_y, const py::array& grad_hn,
                      const std::optional<py::array>& grad_cn, const py::array& x, const py::array& h0,
                      const std::optional<py::array>& c0, const py::array& w_ih, const py::array& w_hh,
                      const std::optional<py::array>& b_ih, const std::optional<py::array>& b_hh,
                      const py::array& y, const py::array& workspace, bool reverse,
                      const std::vector<bool>& output_mask);
// linear.cpp
py::array LinearForward(const py::array& x, const py::array& w, const py::object& bias);
py::tuple LinearBackward(const py::array& grad, const py::array& x, const py::array& w, bool need_x, bool need_w,
                         bool need_b);

// build_info.cpp (GEMM tuning)
py::dict GemmBlockingInfo();
py::dict SetGemmBlockingPy(int64_t kc, int64_t mc, int64_t nc);
double FmaPeakPy(const std::string& dtype, int threads, double seconds);

// scatter.cpp: out (rows, d) = zeros, out[index[i]] += grad[i] (the backward of row picking)
py::array ScatterAddRows(const py::array& grad, const py::array& index, int64_t rows);


// layer norm over rows (layer_norm.cpp)
py::tuple LayerNormForward(const py::array& x, std::optional<py::array> weight, std::optional<py::array> bias,
                           double eps, int threads);
py::tuple LayerNormBackward(const py::array& grad, const py::array& x, std::optional<py::array> weight,
                            const py::array& mean, const py::array& rstd, bool need_x, bool need_w, bool need_b,
                            int threads);
// attention.cpp: fused scaled-dot-product attention (mask: None or additive (1|B, 1|H, L, S); need: (dq, dk, dv))
py::tuple AttentionForward(const py::array& q, const py::array& k, const py::array& v,
                           const std::optional<py::array>& mask, bool is_causal, double scale);
py::tuple AttentionBackward(const py::array& grad, const py::array& q, const py::array& k, const py::array& v,
                            const py::array& out, const py::array& lse, const std::optional<py::array>& mask,
                            bool is_causal, double scale, const std::vector<bool>& need);

}  // namespace cpu
}  // namespace minidl
