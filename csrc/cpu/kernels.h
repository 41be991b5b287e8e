// Declarations of the CPU host functions bound in module.cpp (one block per kernel file).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <utility>

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
                         const py::object& padding, const py::object& dilation, const py::object& groups);

// memory.cpp
py::dict TuneAllocator(int64_t mmap_threshold, int64_t trim_threshold);

// build_info.cpp
py::dict BuildInfo();

// linear.cpp
py::array LinearForward(const py::array& x, const py::array& w, const py::object& bias);
py::tuple LinearBackward(const py::array& grad, const py::array& x, const py::array& w, bool need_x, bool need_w,
                         bool need_b);

// build_info.cpp (GEMM tuning)
py::dict GemmBlockingInfo();
py::dict SetGemmBlockingPy(int64_t kc, int64_t mc, int64_t nc);
double FmaPeakPy(const std::string& dtype, int threads, double seconds);

}  // namespace cpu
}  // namespace minidl
