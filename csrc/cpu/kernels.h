// Declarations of the CPU host functions bound in module.cpp (one block per kernel file).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <utility>

namespace minidl {
namespace cpu {

namespace py = pybind11;

// matmul.cpp
py::array MatmulForward(const py::array& a, const py::array& b);
py::tuple MatmulBackward(const py::array& grad, const py::array& a, const py::array& b);

// build_info.cpp
py::dict BuildInfo();

}  // namespace cpu
}  // namespace minidl
