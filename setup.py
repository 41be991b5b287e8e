"""Build of minidl's compiled kernels; the package metadata lives in pyproject.toml.

`minidl._C` (csrc/cpu/*.cpp, pybind11, OpenMP) is always attempted and is optional: a machine
without a working C++ compiler still installs minidl and runs on the NumPy fallbacks. What was
built, with which flags, and why anything was not, goes into the generated module
`minidl/_build_info.py` (dict `BUILD`, string-or-None `NATIVE_REASON`), which `minidl info` and
`md.backends.available()` report.

Environment:
    MINIDL_PORTABLE=1   no -march=native (for wheels that must run on other CPUs)
    MINIDL_CUDA=0|1     the CUDA extension `minidl._C_cuda` is not part of this build yet;
                        MINIDL_CUDA=1 is therefore an error rather than a silent CPU-only build.
"""

import os
import platform
import pprint
import shutil
import subprocess
import sys
import tempfile
from glob import glob

from pybind11.setup_helpers import Pybind11Extension, has_flag
from pybind11.setup_helpers import build_ext as _pybind11_build_ext
from setuptools import setup
from setuptools.errors import BaseError as DistutilsError
from setuptools.errors import CCompilerError

NATIVE_EXT = "minidl._C"
CUDA_NOT_IMPLEMENTED = (
    "MINIDL_CUDA=1 asks for the CUDA extension minidl._C_cuda, but CUDA support is not implemented "
    "in this version of minidl yet. Unset MINIDL_CUDA (or set MINIDL_CUDA=0) to build the CPU parts."
)

if os.environ.get("MINIDL_CUDA") == "1":
    sys.exit(f"error: {CUDA_NOT_IMPLEMENTED}")

OPENMP_PROBE = """
#include <omp.h>
int main() { int n = 0;
#pragma omp parallel reduction(+ : n)
  n += 1;
  return n > 0 && omp_get_max_threads() > 0 ? 0 : 1; }
"""


def _first_error_line(output):
    """The compiler's first line that says 'error' (else its first non-empty line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else ""


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _cuda_status():
    if os.environ.get("MINIDL_CUDA") == "0":
        return "skipped: MINIDL_CUDA=0"
    return "not part of this build yet"


class BuildExt(_pybind11_build_ext):
    """build_ext that probes compiler flags, captures compiler errors, and writes _build_info.py."""

    def run(self):
        self.info = {
            "version": self.distribution.get_version(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "machine": platform.machine(),
            "compiler_type": None,
            "compiler": None,
            "flags": [],
            "link_flags": [],
            "openmp": False,
            "march_native": False,
            "portable": os.environ.get("MINIDL_PORTABLE") == "1",
            "native": "not built",
            "cuda": _cuda_status(),
            "nvcc": shutil.which("nvcc"),
        }
        self.native_reason = f"{NATIVE_EXT} was not built: the build stopped before compiling it."
        try:
            super().run()
        finally:
            # After run() so that self.inplace has its final value (setuptools clears it while
            # building and copies the extension into the source tree afterwards).
            self._write_build_info()

    def build_extensions(self):
        self.info["compiler_type"] = self.compiler.compiler_type
        self.info["compiler"] = self._compiler_version()
        try:
            flags, link_flags = self._choose_flags()
        except (CCompilerError, DistutilsError, OSError) as exc:
            flags, link_flags = [], []
            self.info["probe_error"] = str(exc)
        self.info["flags"], self.info["link_flags"] = flags, link_flags
        for ext in self.extensions:
            if ext.name == NATIVE_EXT:
                ext.extra_compile_args += flags
                ext.extra_link_args += link_flags
        # NOTE: setuptools skips an extension whose objects are newer than its sources; a build
        # left by a different compiler or flags (MINIDL_PORTABLE changed, say) must be redone.
        stamp = os.path.join(self.build_temp, "minidl-native-flags.txt")
        key = repr((self.info["compiler"], flags, link_flags))
        if _read(stamp) != key:
            self.force = True
        self._capture_compiler_output()
        super().build_extensions()
        if self.info["native"] == "built":
            os.makedirs(self.build_temp, exist_ok=True)
            with open(stamp, "w", encoding="utf-8") as f:
                f.write(key)

    def build_extension(self, ext):
        if ext.name != NATIVE_EXT:
            return super().build_extension(ext)
        self._last_output = ""
        try:
            super().build_extension(ext)
        except (CCompilerError, DistutilsError) as exc:
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, OSError) and not isinstance(cause, subprocess.CalledProcessError):
                detail = f"no working C++ compiler ({cause})"
            else:
                detail = _first_error_line(self._last_output) or str(exc)
            self.info["native"] = f"failed: {detail}"
            self.native_reason = f"{NATIVE_EXT} was not built: {detail}"
            raise  # setuptools reports it and, the extension being optional, carries on
        self.info["native"] = "built"
        self.native_reason = None

    # -- compiler probing --------------------------------------------------------------------

    def _compiler_version(self):
        cmd = getattr(self.compiler, "compiler_cxx", None) or getattr(self.compiler, "compiler", None)
        if not cmd:
            return self.compiler.compiler_type
        try:
            out = subprocess.run([cmd[0], "--version"], check=False, capture_output=True, text=True, timeout=30)
            first = (out.stdout or out.stderr).strip().splitlines()
            return first[0] if first else cmd[0]
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{cmd[0]} (unusable: {exc})"

    def _choose_flags(self):
        """Compile and link flags the compiler accepts: -O3, -march=native (unless
        MINIDL_PORTABLE=1), OpenMP when a test program using it compiles, links and runs."""
        if self.compiler.compiler_type == "msvc":
            flags = ["/O2"]
            if self._openmp_works(["/openmp"], []):
                flags.append("/openmp")
                self.info["openmp"] = True
            return flags, []
        flags, link_flags = [], []
        if has_flag(self.compiler, "-O3"):
            flags.append("-O3")
        if not self.info["portable"] and has_flag(self.compiler, "-march=native"):
            flags.append("-march=native")
            self.info["march_native"] = True
        if self._openmp_works(["-fopenmp"], ["-fopenmp"]):
            flags.append("-fopenmp")
            link_flags.append("-fopenmp")
            self.info["openmp"] = True
        return flags, link_flags

    def _openmp_works(self, compile_flags, link_flags):
        tmp = tempfile.mkdtemp(prefix="minidl-omp-")
        try:
            src = os.path.join(tmp, "omp_probe.cpp")
            with open(src, "w", encoding="utf-8") as f:
                f.write(OPENMP_PROBE)
            objects = self.compiler.compile([src], output_dir=tmp, extra_postargs=compile_flags)
            exe = os.path.join(tmp, "omp_probe")
            # Link with the C++ driver (as the extension will be), not the C one.
            self.compiler.link_executable(objects, exe, extra_postargs=link_flags, target_lang="c++")
            return True
        except (CCompilerError, DistutilsError, OSError):
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _capture_compiler_output(self):
        """Keep each compiler command's output (still echoing it), so a failed build records the
        compiler's own first error line rather than "exit code 1". Needs the `call` method of
        recent setuptools; with older ones the reason is distutils' message."""
        call = getattr(self.compiler, "call", None)
        if call is None:
            return

        def captured_call(cmd, **kwargs):
            with tempfile.TemporaryFile() as out:
                try:
                    call(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
                finally:
                    out.seek(0)
                    text = out.read().decode("utf-8", errors="replace")
                    if text:
                        sys.stderr.write(text)
                    self._last_output = text

        self.compiler.call = captured_call

    # -- _build_info.py -----------------------------------------------------------------------

    def _write_build_info(self):
        text = (
            '"""Generated by setup.py at build time: how minidl\'s compiled parts were built. Do not edit."""\n\n'
            f"BUILD = {pprint.pformat(self.info, sort_dicts=True)}\n\n"
            f"NATIVE_REASON = {self.native_reason!r}\n"
        )
        targets = [os.path.join(self.build_lib, "minidl", "_build_info.py")]  # into the wheel
        if self.inplace or getattr(self, "editable_mode", False):  # pip install -e . / build_ext --inplace
            targets.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "minidl", "_build_info.py"))
        for path in targets:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)


ext_modules = [
    Pybind11Extension(
        NATIVE_EXT,
        sorted(glob("csrc/cpu/*.cpp")),
        cxx_std=17,
        include_dirs=["csrc"],
        depends=sorted(glob("csrc/*.h") + glob("csrc/cpu/*.h")),
        optional=True,
    ),
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
