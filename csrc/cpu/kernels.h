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
py::tuple MatmulBackward(const py::array& grad, const py::array& a, const py::array& b);

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
                         const py::object& padding, const py::object& dilation, const py::object& groups);

// memory.cpp
py::dict TuneAllocator(int64_t mmap_threshold, int64_t trim_threshold);

// build_info.cpp
py::dict BuildInfo();

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

}  // namespace cpu
}  // namespace minidl
