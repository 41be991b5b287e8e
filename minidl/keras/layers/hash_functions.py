"""The two string hashes of Keras' ``Hashing`` layer (TensorFlow's ``to_hash_bucket_fast`` and
``to_hash_bucket_strong``), in pure Python so md.keras puts values in the same bins as Keras:

- ``fingerprint64``: FarmHash's Fingerprint64 (the ``farmhashna`` 64-bit hash with seed 81 for long strings), used
  when no salt is given;
- ``siphash24``: SipHash-2-4 keyed by two 64-bit words, used with a ``salt``.

Checked against the pyfarmhash bindings for every length up to 199 bytes and longer strings, against SipHash's
published test vectors, and against the bins Keras documents for its Hashing examples
(tests/test_keras_preprocessing_numeric.py).
"""

__all__ = ["fingerprint64", "siphash24"]

M = (1 << 64) - 1
K0, K1, K2 = 0xc3a5c85c97cb3127, 0xb492b66fbe98f273, 0x9ae16a3b2f90404f


def _f64(s, i):
    return int.from_bytes(s[i:i + 8], "little")


def _f32(s, i):
    return int.from_bytes(s[i:i + 4], "little")


def _rot(v, r):
    return v if r == 0 else ((v >> r) | (v << (64 - r))) & M


def _mix(v):
    return v ^ (v >> 47)


def _h16(u, v, mul):
    a = ((u ^ v) * mul) & M
    a ^= a >> 47
    b = ((v ^ a) * mul) & M
    b ^= b >> 47
    return (b * mul) & M


def _weak(s, i, a, b):
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & M
    b = _rot((b + a + z) & M, 21)
    c = a
    a = (a + x + y) & M
    b = (b + _rot(a, 44)) & M
    return (a + z) & M, (b + c) & M


def fingerprint64(s):
    """FarmHash Fingerprint64 of the bytes ``s`` (an unsigned 64-bit int).

    Example:
        >>> fingerprint64(b"A") % 3          # Keras' Hashing(num_bins=3) puts "A" in bin 1
        1
    """
    n = len(s)
    if n <= 16:
        if n >= 8:
            mul = K2 + n * 2
            a = (_f64(s, 0) + K2) & M
            b = _f64(s, n - 8)
            c = (_rot(b, 37) * mul + a) & M
            d = ((_rot(a, 25) + b) * mul) & M
            return _h16(c, d, mul)
        if n >= 4:
            mul = K2 + n * 2
            return _h16((n + (_f32(s, 0) << 3)) & M, _f32(s, n - 4), mul)
        if n > 0:
            y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
            z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
            return (_mix(((y * K2) ^ (z * K0)) & M) * K2) & M
        return K2
    if n <= 32:
        mul = K2 + n * 2
        a = (_f64(s, 0) * K1) & M
        b = _f64(s, 8)
        c = (_f64(s, n - 8) * mul) & M
        d = (_f64(s, n - 16) * K2) & M
        return _h16((_rot((a + b) & M, 43) + _rot(c, 30) + d) & M, (a + _rot((b + K2) & M, 18) + c) & M, mul)
    if n <= 64:
        mul = K2 + n * 2
        a = (_f64(s, 0) * K2) & M
        b = _f64(s, 8)
        c = (_f64(s, n - 8) * mul) & M
        d = (_f64(s, n - 16) * K2) & M
        y = (_rot((a + b) & M, 43) + _rot(c, 30) + d) & M
        z = _h16(y, (a + _rot((b + K2) & M, 18) + c) & M, mul)
        e = (_f64(s, 16) * mul) & M
        f = _f64(s, 24)
        g = ((y + _f64(s, n - 32)) * mul) & M
        h = ((z + _f64(s, n - 24)) * mul) & M
        return _h16((_rot((e + f) & M, 43) + _rot(g, 30) + h) & M, (e + _rot((f + a) & M, 18) + g) & M, mul)
    seed = 81
    x = seed
    y = (seed * K1 + 113) & M
    z = (_mix((y * K2 + 113) & M) * K2) & M
    v, w = (0, 0), (0, 0)
    x = (x * K2 + _f64(s, 0)) & M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rot((x + y + v[0] + _f64(s, i + 8)) & M, 37) * K1) & M
        y = (_rot((y + v[1] + _f64(s, i + 48)) & M, 42) * K1) & M
        x ^= w[1]
        y = (y + v[0] + _f64(s, i + 40)) & M
        z = (_rot((z + w[0]) & M, 33) * K1) & M
        v = _weak(s, i, (v[1] * K1) & M, (x + w[0]) & M)
        w = _weak(s, i + 32, (z + w[1]) & M, (y + _f64(s, i + 16)) & M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = K1 + ((z & 0xff) << 1)
    i = last64
    w = ((w[0] + ((n - 1) & 63)) & M, w[1])
    v = ((v[0] + w[0]) & M, v[1])
    w = ((w[0] + v[0]) & M, w[1])
    x = (_rot((x + y + v[0] + _f64(s, i + 8)) & M, 37) * mul) & M
    y = (_rot((y + v[1] + _f64(s, i + 48)) & M, 42) * mul) & M
    x ^= (w[1] * 9) & M
    y = (y + v[0] * 9 + _f64(s, i + 40)) & M
    z = (_rot((z + w[0]) & M, 33) * mul) & M
    v = _weak(s, i, (v[1] * mul) & M, (x + w[0]) & M)
    w = _weak(s, i + 32, (z + w[1]) & M, (y + _f64(s, i + 16)) & M)
    z, x = x, z
    return _h16((_h16(v[0], w[0], mul) + _mix(y) * K0 + z) & M, (_h16(v[1], w[1], mul) + x) & M, mul)


def siphash24(k0, k1, data):
    """SipHash-2-4 of the bytes ``data`` under the key ``(k0, k1)`` (two unsigned 64-bit ints).

    Example:
        >>> hex(siphash24(0x0706050403020100, 0x0f0e0d0c0b0a0908, b""))
        '0x726fdb47dd0e0e31'
    """
    v0, v1 = k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d
    v2, v3 = k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573

    def rounds(v0, v1, v2, v3, count):         # SipRound, count times
        for _ in range(count):
            v0 = (v0 + v1) & M
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & M
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & M
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & M
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3
    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(data[full:], "little") | ((n & 0xff) << 56)
    v3 ^= m
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xff
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def _rotl(v, r):
    return ((v << r) | (v >> (64 - r))) & M
