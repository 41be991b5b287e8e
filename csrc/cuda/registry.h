// Binding registry of minidl._C_cuda: each csrc/cuda/bind_<name>.cpp registers a function that
// adds its m.def lines, so module.cpp never lists the kernels and two engineers adding kernels
// never edit the same file. Bindings are compiled by the host compiler, never by nvcc.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

namespace minidl::cuda {

using Binder = void (*)(pybind11::module_&);

/** Add `b` to the binders module.cpp calls at import; returns true (for a static initializer:
 *  `static const bool kRegistered = minidl::cuda::RegisterBinder(&BindX);`). */
bool RegisterBinder(Binder b);

/** Every registered binder, in registration order. */
const std::vector<Binder>& Binders();

}  // namespace minidl::cuda
