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
from .geometry import output_hw


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

    def _wanted(self, need, *like):
        """Fresh outputs shaped like ``like`` where ``need`` asks for them, else None (skipped by the kernel)."""
        return [self.xp.empty(t.shape, dtype=t.dtype) if wanted else None for wanted, t in zip(need, like)]

    def _ptr_or_null(self, a):
        return 0 if a is None else self.ptr(a)

    def matmul_backward(self, grad, a, b, need=(True, True)):
        grad, a, b = self._contig(grad), self._contig(a), self._contig(b)
        batch = a.shape[0] if a.ndim == 3 else 1
        m, k = a.shape[-2:]
        n = b.shape[-1]
        grad_a, grad_b = self._wanted(need, a, b)
        if grad_a is not None or grad_b is not None:
            self.ext.matmul_backward(self.ptr(grad), self.ptr(a), self.ptr(b), self._ptr_or_null(grad_a),
                                     self._ptr_or_null(grad_b), a.dtype.name, batch, m, k, n, self._stream())
        return grad_a, grad_b

    # -- pooling ------------------------------------------------------------------------------

    def max_pool2d(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        xp, x = self.xp, self._contig(x)
        n, c, h, w = x.shape
        oh, ow = output_hw((h, w), kernel_size, stride, padding, dilation, ceil_mode)
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        indices = xp.empty((n, c, oh, ow), dtype=xp.int64)
        self.ext.max_pool2d(self.ptr(x), self.ptr(y), self.ptr(indices), x.dtype.name, n, c, h, w, oh, ow,
                            kernel_size, stride, padding, dilation, self._stream())
        return y, indices

    def max_pool2d_backward(self, grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
        xp, grad = self.xp, self._contig(grad)
        indices = xp.ascontiguousarray(indices, dtype=xp.int64)
        n, c, h, w = x.shape
        oh, ow = grad.shape[2:]
        grad_x = xp.empty((n, c, h, w), dtype=grad.dtype)
        self.ext.max_pool2d_backward(self.ptr(grad), self.ptr(indices), self.ptr(grad_x), grad.dtype.name, n, c, h,
                                     w, oh, ow, kernel_size, stride, padding, dilation, self._stream())
        return grad_x

    def avg_pool2d(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        xp, x = self.xp, self._contig(x)
        n, c, h, w = x.shape
        oh, ow = output_hw((h, w), kernel_size, stride, padding, (1, 1), ceil_mode)
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        self.ext.avg_pool2d(self.ptr(x), self.ptr(y), x.dtype.name, n, c, h, w, oh, ow, kernel_size, stride,
                            padding, bool(count_include_pad), self._stream())
        return y

    def avg_pool2d_backward(self, grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        xp, grad = self.xp, self._contig(grad)
        n, c, h, w = x.shape
        oh, ow = grad.shape[2:]
        grad_x = xp.empty((n, c, h, w), dtype=grad.dtype)
        self.ext.avg_pool2d_backward(self.ptr(grad), self.ptr(grad_x), grad.dtype.name, n, c, h, w, oh, ow,
                                     kernel_size, stride, padding, bool(count_include_pad), self._stream())
        return grad_x

    # -- conv2d -------------------------------------------------------------------------------

    def _conv_args(self, x, w, stride, padding, dilation, groups):
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        return (x.dtype.name, n, c, h, wd, o, kh, kw, *stride, *padding, *dilation, int(groups))

    def conv2d(self, x, w, stride, padding, dilation, groups):
        xp, x, w = self.xp, self._contig(x), self._contig(w)
        oh, ow = output_hw(x.shape[2:], w.shape[2:], stride, padding, dilation)
        y = xp.empty((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype)
        if w.shape[0] == 0:     # no output channels: nothing to launch (the kernels need O >= 1)
            return y
        self.ext.conv2d(self.ptr(x), self.ptr(w), self.ptr(y),
                        *self._conv_args(x, w, stride, padding, dilation, groups), self._stream())
        return y

    def conv2d_backward(self, grad, x, w, stride, padding, dilation, groups, need=(True, True)):
        grad, x, w = self._contig(grad), self._contig(x), self._contig(w)
        grad_x, grad_w = self._wanted(need, x, w)
        if w.shape[0] == 0:     # no output channels: x gets a zero gradient, w has no elements
            if grad_x is not None:
                grad_x[...] = 0
            return grad_x, grad_w
        if grad_x is not None or grad_w is not None:
            self.ext.conv2d_backward(self.ptr(grad), self.ptr(x), self.ptr(w), self._ptr_or_null(grad_x),
                                     self._ptr_or_null(grad_w), *self._conv_args(x, w, stride, padding, dilation,
                                                                                 groups), self._stream())
        return grad_x, grad_w

    # -- batch_norm ---------------------------------------------------------------------------

    def _writable(self, buf, dtype):
        """``buf`` itself when the kernel can update it in place (contiguous, ``dtype``), else a contiguous copy."""
        if buf is None or (buf.dtype == dtype and buf.flags.c_contiguous):
            return buf
        return self.xp.ascontiguousarray(buf, dtype=dtype)

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xp, x = self.xp, self._contig(x)
        weight, bias = xp.ascontiguousarray(weight, dtype=x.dtype), xp.ascontiguousarray(bias, dtype=x.dtype)
        n, c, length = x.shape
        y = xp.empty(x.shape, dtype=x.dtype)
        save_mean, save_invstd = xp.empty(c, dtype=x.dtype), xp.empty(c, dtype=x.dtype)
        # NOTE: the kernel updates the running statistics in place through a pointer: a strided buffer or one of
        # another dtype goes through a contiguous temporary that is copied back, never read as if it were packed.
        bufs = [(self._writable(b, x.dtype), b) for b in (running_mean, running_var)]
        rm, rv = (0 if tmp is None else self.ptr(tmp) for tmp, _ in bufs)
        self.ext.batch_norm(self.ptr(x), self.ptr(weight), self.ptr(bias), rm, rv, bool(training), float(momentum),
                            float(eps), self.ptr(y), self.ptr(save_mean), self.ptr(save_invstd), x.dtype.name, n, c,
                            length, self._stream())
        for tmp, buf in bufs:
            if tmp is not buf:
                buf[...] = tmp
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
