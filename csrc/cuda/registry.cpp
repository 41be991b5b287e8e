#include "cuda/registry.h"

#include <vector>

namespace minidl::cuda {

namespace {
// A function-local static: binders register from other TUs' static initializers, whose order
// relative to a namespace-scope vector's construction is unspecified.
std::vector<Binder>& Storage() {
  static std::vector<Binder> binders;
  return binders;
}
}  // namespace

bool RegisterBinder(Binder b) {
  Storage().push_back(b);
  return true;
}

const std::vector<Binder>& Binders() { return Storage(); }

}  // namespace minidl::cuda
