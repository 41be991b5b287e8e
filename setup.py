"""Declaration of minidl's compiled extensions; the package metadata lives in pyproject.toml.

`minidl._C` (csrc/cpu/*.cpp, C++ with OpenMP) is optional: without a working compiler minidl installs and runs
on its NumPy kernels. `minidl._C_cuda` (csrc/cuda) is built where nvcc is found. How they are built (flag and
OpenMP probes, nvcc, the ptxas budget, `minidl/_build_info.py`) and the environment variables that steer it
(MINIDL_PORTABLE, MINIDL_CUDA, MINIDL_CUDA_ARCHS) are in build_tools/minidl_build.py.
"""

import os
import sys
from glob import glob

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_tools"))
from minidl_build import CUDA_EXT, CUDA_MODE, NATIVE_EXT, BuildExt, find_cuda  # noqa: E402

ext_modules = [
    Pybind11Extension(
        NATIVE_EXT,
        sorted(glob("csrc/cpu/*.cpp")),      # every .cpp there: new kernels need no edit here
        cxx_std=17,
        include_dirs=["csrc"],
        depends=sorted(glob("csrc/*.h") + glob("csrc/cpu/*.h")),
        optional=True,
    ),
]

cuda = find_cuda()
if cuda:
    ext_modules.append(Pybind11Extension(
        CUDA_EXT,
        # the bindings go through the host compiler (pybind11 through nvcc is slow); the .cu objects come from
        # BuildExt._nvcc_objects
        sorted(glob("csrc/cuda/bind_*.cpp")) + ["csrc/cuda/module.cpp"],
        cxx_std=17,
        include_dirs=["csrc", cuda.include],
        define_macros=[("MINIDL_CUDA_MODULE_NAME", "_C_cuda")],
        library_dirs=[cuda.lib],
        libraries=["cudart_static", "dl", "pthread", "rt"],  # static cudart: no libcudart.so needed at run time
        depends=sorted(glob("csrc/*.h") + glob("csrc/cuda/*.h") + glob("csrc/cuda/*.cuh") + glob("csrc/cuda/*.cu")),
        optional=CUDA_MODE != "required",
    ))

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
