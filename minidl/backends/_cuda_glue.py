"""Python side of the CUDA kernels: arrays in, arrays out, on top of an extension that takes raw pointers.

``Glue(ext, xp, ptr, stream)`` implements the reference kernels' exact signatures by allocating the
outputs with ``xp`` and calling the extension's bindings with device pointers (ints), the dtype
name, the sizes and the stream. It is written once and used twice:

* provider "cuda" (``ops_cuda.py``): ``minidl._C_cuda``, CuPy, ``lambda a: a.data.ptr`` and CuPy's
  current stream;
* the emulated tests (``tests/test_cuda_emu.py``): ``_C_cuda_emu`` (the same kernels compiled for
  the CPU), NumPy, ``lambda a: a.ctypes.data`` and stream 0,

so the tests exercise this file and the C++ host code exactly as the GPU path runs them.
"""
from .geometry import output_size


def _pair(p):
    return int(p[0]), int(p[1])


class Glue:
    """Kernels over extension ``ext`` for arrays of module ``xp``.

    ``ptr(a)`` gives an array's device address as an int; ``stream`` is the stream handle as an int,
    or a callable returning it at each call (CuPy's *current* stream can change between calls).
    """

    def __init__(self, ext, xp, ptr, stream):
        self.ext, self.xp, self.ptr = ext, xp, ptr
        self._stream = stream if callable(stream) else (lambda: stream)

    def _contig(self, a):
        return self.xp.ascontiguousarray(a)

    # -- matmul -------------------------------------------------------------------------------

    def matmul(self, a, b):
        xp, a, b = self.xp, self._contig(a), self._contig(b)
        batched = a.ndim == 3
        batch = a.shape[0] if batched else 1
        m, k = a.shape[-2:]
        n = b.shape[-1]
        c = xp.empty((batch, m, n) if batched else (m, n), dtype=a.dtype)
        self.ext.matmul(self.ptr(a), self.ptr(b), self.ptr(c), a.dtype.name, batch, m, k, n, self._stream())
        return c

    def matmul_backward(self, grad, a, b, need=(True, True)):
        xp, grad, a, b = self.xp, self._contig(grad), self._contig(a), self._contig(b)
        batch = a.shape[0] if a.ndim == 3 else 1
        m, k = a.shape[-2:]
        n = b.shape[-1]
        grad_a, grad_b = xp.empty(a.shape, dtype=a.dtype), xp.empty(b.shape, dtype=b.dtype)
        self.ext.matmul_backward(self.ptr(grad), self.ptr(a), self.ptr(b), self.ptr(grad_a), self.ptr(grad_b),
                                 a.dtype.name, batch, m, k, n, self._stream())
        # the CUDA kernel computes both; the one not asked for is dropped
        return (grad_a if need[0] else None), (grad_b if need[1] else None)

    # -- pooling ------------------------------------------------------------------------------

    @staticmethod
    def _pool_out(x_shape, kernel_size, stride, padding, dilation, ceil_mode):
        h, w = x_shape[2:]
        return (output_size(h, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode),
                output_size(w, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode))

    def max_pool2d(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        xp, x = self.xp, self._contig(x)
        n, c, h, w = x.shape
        oh, ow = self._pool_out(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        indices = xp.empty((n, c, oh, ow), dtype=xp.int64)
        self.ext.max_pool2d(self.ptr(x), self.ptr(y), self.ptr(indices), x.dtype.name, n, c, h, w, oh, ow,
                            _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation), self._stream())
        return y, indices

    def max_pool2d_backward(self, grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
        xp, grad = self.xp, self._contig(grad)
        indices = xp.ascontiguousarray(indices, dtype=xp.int64)
        n, c, h, w = x.shape
        oh, ow = grad.shape[2:]
        grad_x = xp.empty((n, c, h, w), dtype=grad.dtype)
        self.ext.max_pool2d_backward(self.ptr(grad), self.ptr(indices), self.ptr(grad_x), grad.dtype.name, n, c, h,
                                     w, oh, ow, _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation),
                                     self._stream())
        return grad_x

    def avg_pool2d(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        xp, x = self.xp, self._contig(x)
        n, c, h, w = x.shape
        oh, ow = self._pool_out(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        self.ext.avg_pool2d(self.ptr(x), self.ptr(y), x.dtype.name, n, c, h, w, oh, ow, _pair(kernel_size),
                            _pair(stride), _pair(padding), bool(count_include_pad), self._stream())
        return y

    def avg_pool2d_backward(self, grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        xp, grad = self.xp, self._contig(grad)
        n, c, h, w = x.shape
        oh, ow = grad.shape[2:]
        grad_x = xp.empty((n, c, h, w), dtype=grad.dtype)
        self.ext.avg_pool2d_backward(self.ptr(grad), self.ptr(grad_x), grad.dtype.name, n, c, h, w, oh, ow,
                                     _pair(kernel_size), _pair(stride), _pair(padding), bool(count_include_pad),
                                     self._stream())
        return grad_x

    # -- conv2d -------------------------------------------------------------------------------

    def _conv_args(self, x, w, stride, padding, dilation, groups):
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        return (x.dtype.name, n, c, h, wd, o, kh, kw, *_pair(stride), *_pair(padding), *_pair(dilation),
                int(groups))

    def conv2d(self, x, w, stride, padding, dilation, groups):
        xp, x, w = self.xp, self._contig(x), self._contig(w)
        oh = (x.shape[2] + 2 * padding[0] - dilation[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
        ow = (x.shape[3] + 2 * padding[1] - dilation[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
        y = xp.empty((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype)
        self.ext.conv2d(self.ptr(x), self.ptr(w), self.ptr(y),
                        *self._conv_args(x, w, stride, padding, dilation, groups), self._stream())
        return y

    def conv2d_backward(self, grad, x, w, stride, padding, dilation, groups):
        xp, grad, x, w = self.xp, self._contig(grad), self._contig(x), self._contig(w)
        grad_x, grad_w = xp.empty(x.shape, dtype=x.dtype), xp.empty(w.shape, dtype=w.dtype)
        self.ext.conv2d_backward(self.ptr(grad), self.ptr(x), self.ptr(w), self.ptr(grad_x), self.ptr(grad_w),
                                 *self._conv_args(x, w, stride, padding, dilation, groups), self._stream())
        return grad_x, grad_w

    # -- batch_norm ---------------------------------------------------------------------------

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        # running_* are updated in place by the kernel: they must be passed as they are (no copy).
        xp, x, weight, bias = self.xp, self._contig(x), self._contig(weight), self._contig(bias)
        n, c, length = x.shape
        y = xp.empty(x.shape, dtype=x.dtype)
        save_mean, save_invstd = xp.empty(c, dtype=x.dtype), xp.empty(c, dtype=x.dtype)
        rm = 0 if running_mean is None else self.ptr(running_mean)
        rv = 0 if running_var is None else self.ptr(running_var)
        self.ext.batch_norm(self.ptr(x), self.ptr(weight), self.ptr(bias), rm, rv, bool(training), float(momentum),
                            float(eps), self.ptr(y), self.ptr(save_mean), self.ptr(save_invstd), x.dtype.name, n, c,
                            length, self._stream())
        return y, save_mean, save_invstd

    def batch_norm_backward(self, grad, x, weight, save_mean, save_invstd, training):
        xp, grad, x = self.xp, self._contig(grad), self._contig(x)
        weight, save_mean, save_invstd = self._contig(weight), self._contig(save_mean), self._contig(save_invstd)
        n, c, length = x.shape
        grad_x = xp.empty(x.shape, dtype=x.dtype)
        grad_weight, grad_bias = xp.empty(c, dtype=x.dtype), xp.empty(c, dtype=x.dtype)
        self.ext.batch_norm_backward(self.ptr(grad), self.ptr(x), self.ptr(weight), self.ptr(save_mean),
                                     self.ptr(save_invstd), bool(training), self.ptr(grad_x), self.ptr(grad_weight),
                                     self.ptr(grad_bias), x.dtype.name, n, c, length, self._stream())
        return grad_x, grad_weight, grad_bias


def kernels_of(glue):
    """{kernel name: bound method} for every public kernel ``glue`` implements."""
    return {name: getattr(glue, name) for name in dir(type(glue))
            if not name.startswith("_") and name != "kernels_of" and callable(getattr(glue, name))}
