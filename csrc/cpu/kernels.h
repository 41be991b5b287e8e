// Declarations of the CPU host functions bound in module.cpp (one block per kernel file).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <utility>

namespace minidl {
namespace cpu {

namespace py = pybind11;

// matmul.cpp
py::array MatmulForward(const py::array& a, const py::array& b);
py::tuple MatmulBackward(const py::array& grad, const py::array& a, const py::array& b);

// conv2d.cpp
py::array Conv2dForward(const py::array& x, const py::array& w, const py::object& stride, const py::object& padding,
                        const py::object& dilation, int64_t groups);
py::tuple Conv2dBackward(const py::array& grad, const py::array& x, const py::array& w, const py::object& stride,
                         const py::object& padding, const py::object& dilation, int64_t groups);

// build_info.cpp
py::dict BuildInfo();

}  // namespace cpu
}  // namespace minidl
