"""The build logic behind setup.py: compiler flag and OpenMP probes, the nvcc build of csrc/cuda, the ptxas
budget, and the generated ``minidl/_build_info.py``. setup.py itself only declares the extensions.

`minidl._C` (csrc/cpu/*.cpp, pybind11, OpenMP) is always attempted and is optional: a machine
without a working C++ compiler still installs minidl and runs on the NumPy fallbacks. What was
built, with which flags, and why anything was not, goes into the generated module
`minidl/_build_info.py` (dict `BUILD`, string-or-None `NATIVE_REASON`), which `minidl info` and
`md.backends.available()` report.

Environment:
    MINIDL_PORTABLE=1   no -march=native (for wheels that must run on other CPUs)
    MINIDL_CUDA=0|1     `minidl._C_cuda` (csrc/cuda: .cu by nvcc, bindings by the host compiler,
                        cudart linked statically) is built when nvcc is found (PATH, CUDA_HOME);
                        MINIDL_CUDA=0 skips it, MINIDL_CUDA=1 makes it required (no nvcc, or a
                        failed CUDA build, is then an error instead of a CPU-only install).
    MINIDL_CUDA_ARCHS   e.g. "75 80": the SASS architectures (default 70 75 80 86 89 90, minus
                        those this nvcc no longer supports), plus PTX for the newest one.
"""

import os
import platform
import pprint
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from glob import glob

from pybind11.setup_helpers import build_ext as _pybind11_build_ext
from pybind11.setup_helpers import has_flag
from setuptools.errors import BaseError as DistutilsError
from setuptools.errors import CCompilerError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the source tree (setup.py's folder)

NATIVE_EXT = "minidl._C"
CUDA_EXT = "minidl._C_cuda"
CUDA_MODE = {"0": "off", "1": "required"}.get(os.environ.get("MINIDL_CUDA", ""), "auto")
CUDA_ARCHS = ("70", "75", "80", "86", "89", "90")
# ptxas budget per kernel: a spill or more registers than this fails the build (128 keeps at least
# two 256-thread blocks resident per SM); static shared memory is capped by the hardware's 48 KiB.
PTXAS_MAX_REGISTERS = 128
PTXAS_MAX_SMEM = 48 * 1024


def _find_nvcc():
    nvcc = shutil.which("nvcc")
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if not nvcc and home and os.path.exists(os.path.join(home, "bin", "nvcc")):
        nvcc = os.path.join(home, "bin", "nvcc")
    return nvcc


NVCC = _find_nvcc() if CUDA_MODE != "off" else None

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
    if CUDA_MODE == "off":
        return "skipped: MINIDL_CUDA=0"
    if not NVCC:
        return "not built: extension built without nvcc (none on PATH or in CUDA_HOME)"
    return "not built"


def _cuda_reason(status):
    return None if status == "built" else f"{CUDA_EXT} was not built: {status.split(': ', 1)[-1]}"


def _parse_ptxas(text):
    """ptxas -v output -> [{kernel, arch, registers, smem, spill_stores, spill_loads}] per compiled kernel."""
    kernels, cur = [], None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for '(\w+)'", line)
        if m:
            cur = {"kernel": m.group(1), "arch": m.group(2), "registers": 0, "smem": 0, "spill_stores": 0,
                   "spill_loads": 0}
            kernels.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["spill_stores"], cur["spill_loads"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["registers"] = int(m.group(1))
            m = re.search(r"(\d+) bytes smem", line)
            cur["smem"] = int(m.group(1)) if m else 0
    return kernels


def _ptxas_violations(kernels):
    bad = []
    for k in kernels:
        why = []
        if k["spill_stores"] or k["spill_loads"]:
            why.append(f"spills {k['spill_stores']}+{k['spill_loads']} bytes")
        if k["registers"] > PTXAS_MAX_REGISTERS:
            why.append(f"{k['registers']} registers > {PTXAS_MAX_REGISTERS}")
        if k["smem"] > PTXAS_MAX_SMEM:
            why.append(f"{k['smem']} bytes of static shared memory > {PTXAS_MAX_SMEM}")
        if why:
            bad.append(f"{k['kernel']} ({k['arch']}): {', '.join(why)}")
    return bad


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
            "nvcc": NVCC,
        }
        self.native_reason = f"{NATIVE_EXT} was not built: the build stopped before compiling it."
        self.cuda_reason = _cuda_reason(self.info["cuda"])
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
        if ext.name == CUDA_EXT:
            return self._build_cuda(ext)
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

    # -- CUDA ---------------------------------------------------------------------------------

    def _build_cuda(self, ext):
        """nvcc compiles csrc/cuda/*.cu (ptxas report checked against the budget); the host compiler
        compiles the bindings and links everything with the static cudart."""
        start = time.perf_counter()
        self._last_output = ""
        try:
            ext.extra_objects = self._nvcc_objects()
            super().build_extension(ext)
        except (CCompilerError, DistutilsError, OSError, RuntimeError) as exc:
            detail = _first_error_line(self._last_output) if isinstance(exc, (CCompilerError, DistutilsError)) \
                else str(exc)
            self.info["cuda"] = f"failed: {detail or exc}"
            self.cuda_reason = _cuda_reason(self.info["cuda"])
            if CUDA_MODE == "required":
                raise DistutilsError(f"{CUDA_EXT}: {detail or exc}") from exc
            raise CCompilerError(f"{CUDA_EXT}: {detail or exc}") from exc  # optional: setuptools warns, carries on
        self.info["cuda"] = "built"
        self.info["cuda_build_s"] = round(time.perf_counter() - start, 1)
        self.cuda_reason = None

    def _cuda_archs(self):
        wanted = os.environ.get("MINIDL_CUDA_ARCHS", "").split() or list(CUDA_ARCHS)
        out = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True, check=False).stdout
        supported = {a.split("_")[1] for a in out.split() if a.startswith("compute_")}
        archs = [a for a in wanted if not supported or a in supported]
        dropped = [a for a in wanted if a not in archs]
        if dropped:
            # NOTE: CUDA 13 removed sm_70 (Volta); the build keeps the architectures nvcc still has.
            self.info["cuda_archs_dropped"] = [f"sm_{a} (not supported by this nvcc)" for a in dropped]
        if not archs:
            raise RuntimeError(f"nvcc supports none of the architectures {wanted}")
        return archs

    def _nvcc_objects(self):
        version = subprocess.run([NVCC, "--version"], capture_output=True, text=True, check=False).stdout
        self.info["cuda_version"] = version.strip().splitlines()[-1] if version.strip() else "?"
        archs = self._cuda_archs()
        self.info["cuda_archs"] = [f"sm_{a}" for a in archs] + [f"compute_{archs[-1]} (PTX)"]
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
        gencode.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
        flags = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler", "-fvisibility=hidden", "-Icsrc",
                 "-Werror", "all-warnings", "-Xptxas", "-v", *gencode]
        self.info["cuda_flags"] = flags
        out_dir = os.path.join(self.build_temp, "cuda")
        os.makedirs(out_dir, exist_ok=True)
        headers = glob("csrc/*.h") + glob("csrc/cuda/*.h") + glob("csrc/cuda/*.cuh")
        newest_header = max((os.path.getmtime(h) for h in headers), default=0)

        def compile_one(src):
            obj = os.path.join(out_dir, os.path.basename(src) + ".o")
            log = obj + ".ptxas.txt"
            stamp = obj + ".flags"
            current = (os.path.exists(obj) and os.path.exists(log) and _read(stamp) == repr((NVCC, flags))
                       and os.path.getmtime(obj) >= max(os.path.getmtime(src), newest_header))
            if self.force or not current:
                print(f"nvcc {src}", file=sys.stderr)
                proc = subprocess.run([NVCC, *flags, "-c", src, "-o", obj], capture_output=True, text=True,
                                      check=False)
                if proc.returncode:
                    sys.stderr.write(proc.stdout + proc.stderr)
                    raise RuntimeError(f"nvcc failed on {src}: {_first_error_line(proc.stdout + proc.stderr)}")
                with open(log, "w", encoding="utf-8") as f:
                    f.write(proc.stdout + proc.stderr)
                with open(stamp, "w", encoding="utf-8") as f:
                    f.write(repr((NVCC, flags)))
            return obj, _read(log) or ""

        # Two at a time: each nvcc runs ptxas once per architecture, and CI machines have 2 cores.
        with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
            results = list(pool.map(compile_one, sorted(glob("csrc/cuda/*.cu"))))
        kernels = [k for _, text in results for k in _parse_ptxas(text)]
        bad = _ptxas_violations(kernels)
        self.info["cuda_ptxas"] = {
            "kernels": len(kernels),
            "max_registers": max((k["registers"] for k in kernels), default=0),
            "max_smem": max((k["smem"] for k in kernels), default=0),
            "spill_bytes": sum(k["spill_stores"] + k["spill_loads"] for k in kernels),
            "budget": f"no spills, <= {PTXAS_MAX_REGISTERS} registers, <= {PTXAS_MAX_SMEM} bytes static smem",
        }
        if bad:
            for obj, _ in results:  # force a recompile next time rather than a cached pass
                os.remove(obj)
            raise RuntimeError("ptxas budget exceeded: " + "; ".join(bad))
        return [obj for obj, _ in results]

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
            f"NATIVE_REASON = {self.native_reason!r}\n\n"
            f"CUDA_REASON = {self.cuda_reason!r}\n"
        )
        targets = [os.path.join(self.build_lib, "minidl", "_build_info.py")]  # into the wheel
        if self.inplace or getattr(self, "editable_mode", False):  # pip install -e . / build_ext --inplace
            targets.append(os.path.join(ROOT, "minidl", "_build_info.py"))
        for path in targets:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)


def _cuda_home(nvcc):
    """The toolkit root: CUDA_HOME, else where nvcc really lives (it may be a wrapper script,
    so ask nvcc itself: `--dryrun` prints TOP=<root>/bin/..)."""
    for home in (os.environ.get("CUDA_HOME"), os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))):
        if home and os.path.exists(os.path.join(home, "include", "cuda_runtime.h")):
            return home
    try:
        out = subprocess.run([nvcc, "--dryrun", "-E", "-x", "cu", os.devnull], capture_output=True, text=True,
                             timeout=60).stderr
        top = re.search(r"TOP=(\S+)", out)
        if top:
            return os.path.normpath(top.group(1).strip('"'))
    except (OSError, subprocess.SubprocessError):
        pass
    return os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))


class CudaToolkit:
    """Where the CUDA toolkit found for nvcc keeps its headers and its static runtime."""

    def __init__(self, nvcc):
        home = _cuda_home(nvcc)
        self.include = os.path.join(home, "include")
        self.lib = next((d for d in (os.path.join(home, "lib64"), os.path.join(home, "lib"),
                                     os.path.join(home, "targets", f"{platform.machine()}-linux", "lib"))
                         if os.path.exists(os.path.join(d, "libcudart_static.a"))), os.path.join(home, "lib64"))


def find_cuda():
    """The toolkit to build `minidl._C_cuda` with, or None (MINIDL_CUDA=0, or no nvcc and not required).
    MINIDL_CUDA=1 without nvcc stops the build with an error."""
    if CUDA_MODE == "required" and not NVCC:
        sys.exit("error: MINIDL_CUDA=1 asks for the CUDA extension minidl._C_cuda, but nvcc was found neither on "
                 "PATH nor in CUDA_HOME. Install the CUDA toolkit, or unset MINIDL_CUDA to build the CPU parts.")
    return CudaToolkit(NVCC) if NVCC else None
