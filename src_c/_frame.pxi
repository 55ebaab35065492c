# Included by _core_c.pyx: PKCS#7 padding and the frame.

# --------------------------------------------------------------------------- padding, frame

cdef inline int _check_block_size(object block_size) except -1:
    if not isinstance(block_size, int) or not 1 <= block_size <= 255:
        raise ValueError("block_size must be an int from 1 to 255")
    return 0


cdef inline Py_ssize_t _unpad_len(const uint8_t *data, Py_ssize_t n, int block) noexcept nogil:
    """Length without its PKCS#7 padding, or -1 when the padding is bad."""
    cdef Py_ssize_t i
    cdef uint8_t pad
    if n == 0:
        return -1
    pad = data[n - 1]
    if pad < 1 or pad > block or pad > n:
        return -1
    for i in range(n - pad, n):
        if data[i] != pad:
            return -1
    return n - pad


def pkcs7_pad(data, block_size=32):
    """Pad ``data`` with PKCS#7 to a multiple of ``block_size`` (always 1..block_size bytes)."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    _check_block_size(block_size)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef int block = block_size
    cdef int pad = block - n % block
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n + pad)
    cdef char *o = PyBytes_AS_STRING(out)
    memcpy(o, PyBytes_AS_STRING(data), n)
    memset(o + n, pad, pad)
    return out


def pkcs7_unpad(data, block_size=32):
    """Remove PKCS#7 padding."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    _check_block_size(block_size)
    cdef Py_ssize_t n = _unpad_len(<const uint8_t *>PyBytes_AS_STRING(data),
                                   PyBytes_GET_SIZE(data), block_size)
    if n < 0:
        raise DecryptError(MSG_PAD)
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), n)


cdef inline void _put_be32(uint8_t *p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline uint64_t _get_be32(const uint8_t *p) noexcept nogil:
    """The frame's 4-byte big-endian length, in unsigned arithmetic (no sign, no UB)."""
    return ((<uint64_t>p[0] << 24) | (<uint64_t>p[1] << 16) | (<uint64_t>p[2] << 8)
            | <uint64_t>p[3])


cdef inline Py_ssize_t _frame_msg_len(const uint8_t *plain, Py_ssize_t dlen,
                                      const uint8_t *corp, Py_ssize_t corp_len) noexcept nogil:
    """The message length of a decrypted padded frame ending in corp, else -1 (any anomaly)."""
    cdef Py_ssize_t plen = _unpad_len(plain, dlen, BLOCK), mlen
    cdef uint64_t mlen64
    if plen < 20:
        return -1
    mlen64 = _get_be32(plain + 16)
    if mlen64 > <uint64_t>(plen - 20):
        return -1
    mlen = <Py_ssize_t>mlen64
    if plen - 20 - mlen != corp_len or memcmp(plain + 20 + mlen, corp, <size_t>corp_len) != 0:
        return -1
    return mlen


cdef bytes _bytes_of(const uint8_t *p, Py_ssize_t n):
    """A new bytes object holding p[0:n] (copied without glibc's slow large-block path)."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    _copy(PyBytes_AS_STRING(out), p, <size_t>n)
    return out


def pack_frame(random, msg, corp_id):
    """Build the plaintext frame random(16) + len(msg) (4 bytes, big-endian) + msg + corp_id."""
    if not isinstance(random, bytes) or not isinstance(msg, bytes):
        raise TypeError("random and msg must be bytes")
    if PyBytes_GET_SIZE(random) != 16:
        raise ValueError("random must be 16 bytes")
    cdef Py_ssize_t mlen = PyBytes_GET_SIZE(msg)
    if <uint64_t>mlen > 0xFFFFFFFF:
        raise ValueError("msg is longer than 4 GiB")
    cdef bytes corp = _corp_bytes(corp_id)
    cdef Py_ssize_t clen = PyBytes_GET_SIZE(corp)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 20 + mlen + clen)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(out)
    memcpy(o, PyBytes_AS_STRING(random), 16)
    _put_be32(o + 16, <uint32_t>mlen)
    _copy(o + 20, PyBytes_AS_STRING(msg), mlen)
    memcpy(o + 20 + mlen, PyBytes_AS_STRING(corp), clen)
    return out


cdef tuple _unpack(const uint8_t *plain, Py_ssize_t n, bint allow_empty=False):
    """unpack_frame's checks; allow_empty accepts an empty receive id (AI bots)."""
    cdef uint64_t mlen
    if n < 20:
        raise DecryptError(MSG_FRAME_SHORT)
    mlen = _get_be32(plain + 16)
    if mlen > <uint64_t>(n - 20):
        raise DecryptError(MSG_FRAME_LENGTH)
    cdef Py_ssize_t cstart = 20 + <Py_ssize_t>mlen
    if cstart == n and not allow_empty:
        raise DecryptError(MSG_CORP_EMPTY)
    try:
        corp_id = PyUnicode_DecodeUTF8(<const char *>plain + cstart, n - cstart, NULL)
    except UnicodeDecodeError:
        raise DecryptError(MSG_CORP_UTF8) from None
    return (
        PyBytes_FromStringAndSize(<const char *>plain, 16),
        _bytes_of(plain + 20, <Py_ssize_t>mlen),
        corp_id,
    )


cdef bytes _open_frame(const uint8_t *plain, Py_ssize_t n, bytes corp, bint allow_empty=False):
    """The message of a frame whose corp_id must equal corp (errors as _unpack, then
    CorpIdMismatchError); allow_empty: an empty corp (receive id) may match."""
    cdef Py_ssize_t mlen, clen = PyBytes_GET_SIZE(corp)
    cdef uint64_t mlen64
    if n >= 20:
        mlen64 = _get_be32(plain + 16)
        mlen = <Py_ssize_t>mlen64
        if (mlen64 <= <uint64_t>(n - 20) and n - 20 - mlen == clen and (clen > 0 or allow_empty)
                and memcmp(plain + 20 + mlen, PyBytes_AS_STRING(corp), clen) == 0):
            return _bytes_of(plain + 20, mlen)
    _unpack(plain, n, allow_empty)  # raises the frame's own error, if it has one
    raise CorpIdMismatchError(MSG_CORP_MISMATCH)


def unpack_frame(plain):
    """Split an unpadded frame into ``(random, msg, corp_id)``."""
    if not isinstance(plain, bytes):
        raise TypeError("plain must be bytes")
    return _unpack(<const uint8_t *>PyBytes_AS_STRING(plain), PyBytes_GET_SIZE(plain))
