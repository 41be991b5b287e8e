"""Build the emulated CUDA test module ``_C_cuda_emu``: every ``csrc/cuda/*.cu``, ``bind_*.cpp``,
and ``module.cpp`` compiled by the host C++ compiler with ``-DMINIDL_CUDA_EMULATION``,
so the kernels of ``minidl._C_cuda`` run on the CPU (csrc/cuda/emu/cuda_emu.h) under pytest.

The module is cached in ``build/cuda_emu/<variant>-<hash>/`` and rebuilt only when a source,
header or flag changes. ``sanitize="address,undefined"`` builds an ASan+UBSan variant; Python
itself is not instrumented, so a process loading it needs the sanitizer runtime preloaded
(``python tests/cuda_emu/build.py --print-preload``).

    python tests/cuda_emu/build.py [--sanitize address,undefined]   # build, print the module's path
"""
import argparse
import concurrent.futures
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from glob import glob

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSRC = os.path.join(ROOT, "csrc")
MODULE = "_C_cuda_emu"
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-parameter"]


def sources():
    cuda = os.path.join(CSRC, "cuda")
    return (sorted(glob(os.path.join(cuda, "*.cu"))) + sorted(glob(os.path.join(cuda, "bind_*.cpp")))
            + [os.path.join(cuda, "module.cpp")])


def headers():
    return sorted(glob(os.path.join(CSRC, "*.h")) + glob(os.path.join(CSRC, "cuda", "*.h"))
                  + glob(os.path.join(CSRC, "cuda", "*.cuh")) + glob(os.path.join(CSRC, "cuda", "emu", "*.h")))


def compiler():
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or "c++"


def flags(sanitize):
    import pybind11  # noqa: PLC0415 -- a build-time dependency, only needed here

    out = ["-std=c++17", "-fPIC", "-fvisibility=hidden", "-DMINIDL_CUDA_EMULATION",
           f"-DMINIDL_CUDA_MODULE_NAME={MODULE}", f"-I{CSRC}", f"-I{pybind11.get_include()}",
           f"-I{sysconfig.get_paths()['include']}"] + WARNINGS
    if sanitize:
        out += ["-O1", "-g", "-fno-omit-frame-pointer", f"-fsanitize={sanitize}", "-fno-sanitize-recover=all"]
    else:
        out += ["-O2"]
    return out


def _key(cxx, fl):
    h = hashlib.sha256(repr((cxx, fl, sys.version)).encode())
    for path in sources() + headers() + [BUGS]:
        h.update(path.encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


BUGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bugs.cpp")
BUGS_MODULE = "_C_cuda_emu_bugs"


def build(sanitize=None, verbose=False, bugs=False):
    """Path of the emulated module's file, compiling it first unless a cached build is current.

    ``bugs=True`` builds instead ``_C_cuda_emu_bugs`` from tests/cuda_emu/bugs.cpp: deliberately
    broken kernels that the emulator and the sanitizers must catch."""
    cxx, fl = compiler(), flags(sanitize)
    name, srcs = (BUGS_MODULE, [BUGS]) if bugs else (MODULE, sources())
    if bugs:
        fl = [f"-DMINIDL_CUDA_MODULE_NAME={BUGS_MODULE}" if f.startswith("-DMINIDL_CUDA_MODULE_NAME") else f
              for f in fl]
    variant = ("bugs-" if bugs else "") + ("san-" + sanitize.replace(",", "-") if sanitize else "plain")
    out_dir = os.path.join(ROOT, "build", "cuda_emu", f"{variant}-{_key(cxx, fl)}")
    target = os.path.join(out_dir, name + sysconfig.get_config_var("EXT_SUFFIX"))
    if os.path.exists(target):
        return target
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)

    def compile_one(src):
        obj = os.path.join(tmp, os.path.basename(src) + ".o")
        # -x c++: the .cu files are plain C++ once cuda_emu.h stands in for the CUDA runtime.
        cmd = [cxx, "-x", "c++", *fl, "-c", src, "-o", obj]
        if verbose:
            print(" ".join(cmd), file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"emulated CUDA build failed on {os.path.relpath(src, ROOT)}:\n{proc.stderr}")
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, srcs))
    link = [cxx, "-shared", *fl, *objects, "-o", os.path.join(tmp, os.path.basename(target))]
    proc = subprocess.run(link, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"emulated CUDA module failed to link:\n{proc.stderr}")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return target


def load(sanitize=None, bugs=False):
    """Build (if needed) and import the emulated module (or, with ``bugs``, the broken-kernel one)."""
    path = build(sanitize, bugs=bugs)
    spec = importlib.util.spec_from_file_location(BUGS_MODULE if bugs else MODULE, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def preload(sanitize="address,undefined"):
    """LD_PRELOAD value that lets an uninstrumented python load the sanitized module."""
    libs = []
    for part, lib in (("address", "libasan.so"), ("undefined", "libubsan.so"), ("thread", "libtsan.so")):
        if part in sanitize:
            out = subprocess.run([compiler(), f"-print-file-name={lib}"], capture_output=True, text=True).stdout
            libs.append(out.strip())
    return " ".join(libs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sanitize", default=os.environ.get("MINIDL_CUDA_EMU_SANITIZE") or None)
    p.add_argument("--print-preload", action="store_true", help="print the LD_PRELOAD for --sanitize and exit")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if args.print_preload:
        print(preload(args.sanitize or "address,undefined"))
        return
    print(build(args.sanitize, verbose=args.verbose))


if __name__ == "__main__":
    main()
