# cython: language_level=3, embedsignature=True, binding=True
# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled twin of the crypto core: libcrypto EVP, C base64 and a C XML scanner.

Same names, signatures, results and errors as wxcorp_fast._pycore (the specification).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.limits cimport INT_MAX
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset

from _openssl cimport *

import os
import time

from wxcorp_fast.errors import (
    MAX_XML_DEPTH,
    MSG_AES_KEY_RAW,
    MSG_AES_KEY_TEXT,
    MSG_B64_CHAR,
    MSG_B64_PAD,
    MSG_CORP_EMPTY,
    MSG_CORP_MISMATCH,
    MSG_CORP_UTF8,
    MSG_CRYPTO_FAILURE,
    MSG_CT_LENGTH,
    MSG_FRAME_LENGTH,
    MSG_FRAME_SHORT,
    MSG_PAD,
    MSG_SIGNATURE_ENCODING,
    MSG_SIGNATURE_MISMATCH,
    MSG_XML_DEPTH,
    MSG_XML_DOCTYPE,
    MSG_XML_MALFORMED,
    MSG_XML_NO_ENCRYPT,
    MSG_XML_NUMBER,
    Base64Error,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    SignatureError,
    XMLParseError,
)
from wxcorp_fast.messages import (
    EMPTY_VALUES,
    FLOAT,
    INT,
    LOCATION_INFO,
    LOCATION_INFO_FIELDS,
    PICS_INDEX,
    PICS_INFO,
    SCAN_INFO,
    STR,
    TAG_INDEX,
    Envelope,
    MixedMessage,
    ScanCodeInfo,
    SendLocationInfo,
    SendPicsInfo,
)

__all__ = [
    "decode_aes_key",
    "msg_signature",
    "signature",
    "pkcs7_pad",
    "pkcs7_unpad",
    "pack_frame",
    "unpack_frame",
    "encrypt_msg",
    "decrypt_msg",
    "parse_envelope",
    "parse_message",
    "MsgCrypto",
]

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)
    int PyObject_GenericSetAttr(object o, object name, object value) except -1

cdef extern from "xmlscan.h":
    enum:
        XS_OK
        XS_MALFORMED
        XS_DOCTYPE
        XS_DEPTH
        XS_NOMEM
        XS_HANDLER
        XS_MAX_DEPTH
    # The handlers build Python objects: the scan runs with the GIL held.
    ctypedef int (*xs_start_fn)(void *ctx, const char *name, size_t name_len) except -1
    ctypedef int (*xs_end_fn)(void *ctx, const char *name, size_t name_len,
                              const char *text, size_t text_len) except -1
    ctypedef struct xs_handlers:
        xs_start_fn start
        xs_end_fn end
    int xs_parse(const char *data, size_t len, char *scratch, const xs_handlers *h, void *ctx)

DEF BLOCK = 32
DEF GIL_MINSIZE = 2048      # CPython's HASHLIB_GIL_MINSIZE
DEF STACK_BUF = 4096
DEF KEY_CACHE_SIZE = 64

cdef const EVP_CIPHER *_AES = wx_aes_256_cbc()
cdef const EVP_MD *_SHA1 = wx_sha1()
if _AES is NULL or _SHA1 is NULL:
    ERR_clear_error()
    raise ImportError("libcrypto has no AES-256-CBC or SHA-1")

OPENSSL_VERSION = wx_openssl_version().decode("ascii", "replace")

assert XS_MAX_DEPTH == MAX_XML_DEPTH

cdef const char *_HEX = b"0123456789abcdef"
cdef const char *_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
cdef uint8_t _B64_REV[256]  # 0..63 digit values, 64 for '=', 255 outside the alphabet


cdef void _init_tables() noexcept:
    cdef int i
    memset(_B64_REV, 255, 256)
    for i in range(64):
        _B64_REV[<uint8_t>_B64[i]] = <uint8_t>i
    _B64_REV[ord("=")] = 64


_init_tables()


# --------------------------------------------------------------------------- small helpers

cdef inline int _raise_pending() except -1:
    """Re-raise the exception a C callback left pending."""
    return -1


cdef bytes _corp_bytes(object corp_id):
    if isinstance(corp_id, str):
        try:
            return (<str>corp_id).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("corp_id is not encodable as UTF-8") from None
    if isinstance(corp_id, bytes):
        return <bytes>corp_id
    raise TypeError("corp_id must be str or bytes")


# --------------------------------------------------------------------------- keys

@cython.final
cdef class _Key:
    """A 32-byte AES key with template contexts; each operation runs on a private copy."""

    cdef EVP_CIPHER_CTX *enc
    cdef EVP_CIPHER_CTX *dec

    def __cinit__(self, bytes key):
        cdef const unsigned char *k = <const unsigned char *>PyBytes_AS_STRING(key)
        self.enc = EVP_CIPHER_CTX_new()
        self.dec = EVP_CIPHER_CTX_new()
        if self.enc is NULL or self.dec is NULL:
            raise MemoryError()
        if (EVP_CipherInit_ex(self.enc, _AES, NULL, k, k, 1) != 1
                or EVP_CipherInit_ex(self.dec, _AES, NULL, k, k, 0) != 1
                or EVP_CIPHER_CTX_set_padding(self.enc, 0) != 1
                or EVP_CIPHER_CTX_set_padding(self.dec, 0) != 1):
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)

    def __dealloc__(self):
        EVP_CIPHER_CTX_free(self.enc)
        EVP_CIPHER_CTX_free(self.dec)

    cdef int crypt(self, bint encrypt, uint8_t *buf, Py_ssize_t n) except -1:
        """AES-256-CBC over buf[0:n] in place (n a multiple of 32, padding is ours)."""
        cdef EVP_CIPHER_CTX *ctx
        cdef int outl = 0, finl = 0, ok
        if n > INT_MAX - BLOCK:
            raise OverflowError("input too long for one AES call")
        ctx = EVP_CIPHER_CTX_new()
        if ctx is NULL:
            raise MemoryError()
        ok = EVP_CIPHER_CTX_copy(ctx, self.enc if encrypt else self.dec)
        if ok == 1:
            if n >= GIL_MINSIZE:
                with nogil:
                    ok = (EVP_CipherUpdate(ctx, buf, &outl, buf, <int>n) == 1
                          and EVP_CipherFinal_ex(ctx, buf + outl, &finl) == 1)
            else:
                ok = (EVP_CipherUpdate(ctx, buf, &outl, buf, <int>n) == 1
                      and EVP_CipherFinal_ex(ctx, buf + outl, &finl) == 1)
        EVP_CIPHER_CTX_free(ctx)
        if ok != 1 or outl + finl != n:
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)
        return 0


cdef dict _keys = {}


cdef _Key _get_key(object aes_key):
    cdef _Key key
    if type(aes_key) is not bytes:
        if not isinstance(aes_key, bytes):
            raise TypeError("aes_key must be bytes")
        aes_key = bytes(aes_key)
    if PyBytes_GET_SIZE(aes_key) != 32:
        raise InvalidAESKeyError(MSG_AES_KEY_RAW)
    cdef PyObject *cached = PyDict_GetItem(_keys, aes_key)
    if cached is not NULL:
        return <_Key>cached
    key = _Key(aes_key)
    if len(_keys) >= KEY_CACHE_SIZE:
        _keys.clear()
    _keys[aes_key] = key
    return key


def decode_aes_key(encoding_aes_key):
    """Decode a 43-character EncodingAESKey into the 32-byte AES key."""
    cdef uint8_t out[33]
    cdef const uint8_t *s
    cdef Py_ssize_t i
    if not isinstance(encoding_aes_key, str):
        raise TypeError("encoding_aes_key must be str")
    if PyUnicode_GET_LENGTH(encoding_aes_key) != 43 or not PyUnicode_IS_ASCII(encoding_aes_key):
        raise InvalidAESKeyError(MSG_AES_KEY_TEXT)
    s = <const uint8_t *>PyUnicode_DATA(encoding_aes_key)
    for i in range(43):
        if _B64_REV[s[i]] >= 64:
            raise InvalidAESKeyError(MSG_AES_KEY_TEXT)
    _b64_decode_quads(s, 40, out)
    # The last three characters carry 16 bits (+2 ignored): "xyz=" -> 2 bytes.
    out[30] = <uint8_t>((_B64_REV[s[40]] << 2) | (_B64_REV[s[41]] >> 4))
    out[31] = <uint8_t>((_B64_REV[s[41]] << 4) | (_B64_REV[s[42]] >> 2))
    return PyBytes_FromStringAndSize(<char *>out, 32)


# --------------------------------------------------------------------------- base64

cdef inline void _b64_decode_quads(const uint8_t *s, Py_ssize_t n, uint8_t *out) noexcept nogil:
    """Decode n (a multiple of 4) characters already known to be alphabet digits."""
    cdef Py_ssize_t i
    cdef uint32_t v
    for i in range(0, n, 4):
        v = ((<uint32_t>_B64_REV[s[i]] << 18) | (<uint32_t>_B64_REV[s[i + 1]] << 12)
             | (<uint32_t>_B64_REV[s[i + 2]] << 6) | _B64_REV[s[i + 3]])
        out[0] = <uint8_t>(v >> 16)
        out[1] = <uint8_t>(v >> 8)
        out[2] = <uint8_t>v
        out += 3


cdef Py_ssize_t _b64_check(const uint8_t *s, Py_ssize_t n) except -1:
    """Validate strict base64 as _pycore._b64decode does; return the decoded length."""
    cdef Py_ssize_t i, pad = -1
    cdef uint8_t c
    for i in range(n):
        c = _B64_REV[s[i]]
        if c == 255:
            raise Base64Error(MSG_B64_CHAR)
        if c == 64 and pad < 0:
            pad = i
    if n % 4 or (pad >= 0 and (pad < n - 2 or s[n - 1] != ord("="))):
        raise Base64Error(MSG_B64_PAD)
    return n // 4 * 3 - (0 if pad < 0 else n - pad)


cdef Py_ssize_t _b64_decode(const uint8_t *s, Py_ssize_t n, uint8_t *out) noexcept nogil:
    """Decode validated base64 into out; return the number of bytes written."""
    cdef Py_ssize_t full = n, written
    cdef uint32_t v
    if n and s[n - 1] == ord("="):
        full = n - 4
    _b64_decode_quads(s, full, out)
    written = full // 4 * 3
    if full < n:
        s += full
        v = (<uint32_t>_B64_REV[s[0]] << 18) | (<uint32_t>_B64_REV[s[1]] << 12)
        out[written] = <uint8_t>(v >> 16)
        written += 1
        if s[2] != ord("="):
            v |= <uint32_t>_B64_REV[s[2]] << 6
            out[written] = <uint8_t>(v >> 8)
            written += 1
    return written


cdef str _b64_encode(const uint8_t *data, Py_ssize_t n):
    cdef Py_ssize_t outlen = (n + 2) // 3 * 4, i = 0
    cdef str out = <str>PyUnicode_New(outlen, 127)
    cdef uint8_t *o = <uint8_t *>PyUnicode_DATA(out)
    cdef uint32_t v
    while i + 3 <= n:
        v = (<uint32_t>data[i] << 16) | (<uint32_t>data[i + 1] << 8) | data[i + 2]
        o[0] = _B64[v >> 18]
        o[1] = _B64[(v >> 12) & 63]
        o[2] = _B64[(v >> 6) & 63]
        o[3] = _B64[v & 63]
        o += 4
        i += 3
    if i < n:
        v = <uint32_t>data[i] << 16
        if i + 1 < n:
            v |= <uint32_t>data[i + 1] << 8
        o[0] = _B64[v >> 18]
        o[1] = _B64[(v >> 12) & 63]
        o[2] = _B64[(v >> 6) & 63] if i + 1 < n else ord("=")
        o[3] = ord("=")
    return out


# --------------------------------------------------------------------------- signatures

cdef inline const uint8_t *_sig_part(object value, Py_ssize_t *size) except NULL:
    """Borrow the UTF-8 form of a str (ASCII: its own buffer) or the bytes themselves."""
    if isinstance(value, str):
        if PyUnicode_IS_ASCII(value):
            size[0] = PyUnicode_GET_LENGTH(value)
            return <const uint8_t *>PyUnicode_DATA(value)
        try:
            return <const uint8_t *>PyUnicode_AsUTF8AndSize(value, size)
        except UnicodeEncodeError:
            raise SignatureError(MSG_SIGNATURE_ENCODING) from None
    if isinstance(value, bytes):
        size[0] = PyBytes_GET_SIZE(value)
        return <const uint8_t *>PyBytes_AS_STRING(value)
    raise TypeError("signature parts must be str or bytes")


cdef inline bint _less(const uint8_t *a, Py_ssize_t na, const uint8_t *b, Py_ssize_t nb) noexcept nogil:
    cdef int c = memcmp(a, b, <size_t>(na if na < nb else nb))
    return c < 0 or (c == 0 and na < nb)


cdef int _sha1_hex(const uint8_t **parts, Py_ssize_t *lens, int count, char *out) except -1:
    """Write hex(SHA-1(sorted parts joined)) into out[0:40]."""
    cdef int i, j, ok
    cdef const uint8_t *p
    cdef Py_ssize_t n, total = 0
    cdef unsigned char digest[20]
    cdef unsigned int dlen = 0
    cdef EVP_MD_CTX *ctx
    for i in range(1, count):  # insertion sort: at most four parts
        p = parts[i]
        n = lens[i]
        j = i - 1
        while j >= 0 and _less(p, n, parts[j], lens[j]):
            parts[j + 1] = parts[j]
            lens[j + 1] = lens[j]
            j -= 1
        parts[j + 1] = p
        lens[j + 1] = n
    for i in range(count):
        total += lens[i]
    ctx = EVP_MD_CTX_new()
    if ctx is NULL:
        raise MemoryError()
    ok = EVP_DigestInit_ex(ctx, _SHA1, NULL)
    if total >= GIL_MINSIZE:
        with nogil:
            for i in range(count):
                ok = ok == 1 and EVP_DigestUpdate(ctx, parts[i], <size_t>lens[i]) == 1
            ok = ok == 1 and EVP_DigestFinal_ex(ctx, digest, &dlen) == 1
    else:
        for i in range(count):
            ok = ok == 1 and EVP_DigestUpdate(ctx, parts[i], <size_t>lens[i]) == 1
        ok = ok == 1 and EVP_DigestFinal_ex(ctx, digest, &dlen) == 1
    EVP_MD_CTX_free(ctx)
    if ok != 1 or dlen != 20:
        ERR_clear_error()
        raise SignatureError(MSG_CRYPTO_FAILURE)
    for i in range(20):
        out[2 * i] = _HEX[digest[i] >> 4]
        out[2 * i + 1] = _HEX[digest[i] & 15]
    return 0


cdef inline object _timestamp_obj(object timestamp):
    return str(timestamp) if isinstance(timestamp, int) else timestamp


cdef int _msg_signature_into(object token, object timestamp, object nonce, object encrypt,
                             char *out) except -1:
    cdef const uint8_t *parts[4]
    cdef Py_ssize_t lens[4]
    timestamp = _timestamp_obj(timestamp)
    parts[0] = _sig_part(token, &lens[0])
    parts[1] = _sig_part(timestamp, &lens[1])
    parts[2] = _sig_part(nonce, &lens[2])
    parts[3] = _sig_part(encrypt, &lens[3])
    return _sha1_hex(parts, lens, 4, out)


cdef str _hex_str(const char *hexdigits):
    cdef str out = <str>PyUnicode_New(40, 127)
    memcpy(PyUnicode_DATA(out), hexdigits, 40)
    return out


def msg_signature(token, timestamp, nonce, encrypt):
    """Return WeChat's msg_signature: hex SHA-1 of the four parts sorted and joined."""
    cdef char out[40]
    _msg_signature_into(token, timestamp, nonce, encrypt, out)
    return _hex_str(out)


def signature(token, timestamp, nonce):
    """Return the three-part signature of the plain-mode URL check."""
    cdef const uint8_t *parts[3]
    cdef Py_ssize_t lens[3]
    cdef char out[40]
    timestamp = _timestamp_obj(timestamp)
    parts[0] = _sig_part(token, &lens[0])
    parts[1] = _sig_part(timestamp, &lens[1])
    parts[2] = _sig_part(nonce, &lens[2])
    _sha1_hex(parts, lens, 3, out)
    return _hex_str(out)


cdef bint _signature_matches(const char *expected, object given) except -1:
    cdef const char *g
    if isinstance(given, str):
        if not PyUnicode_IS_ASCII(given):
            return False
        if PyUnicode_GET_LENGTH(given) != 40:
            return False
        g = <const char *>PyUnicode_DATA(given)
    elif isinstance(given, bytes):
        if PyBytes_GET_SIZE(given) != 40:
            return False
        g = PyBytes_AS_STRING(given)
    else:
        raise TypeError("msg_signature must be str or bytes")
    return CRYPTO_memcmp(expected, g, 40) == 0


# --------------------------------------------------------------------------- padding, frame

cdef inline int _check_block_size(object block_size) except -1:
    if not isinstance(block_size, int) or not 1 <= block_size <= 255:
        raise ValueError("block_size must be an int from 1 to 255")
    return 0


cdef inline Py_ssize_t _unpad_len(const uint8_t *data, Py_ssize_t n, int block) noexcept:
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
    memcpy(o + 20, PyBytes_AS_STRING(msg), mlen)
    memcpy(o + 20 + mlen, PyBytes_AS_STRING(corp), clen)
    return out


cdef tuple _unpack(const uint8_t *plain, Py_ssize_t n):
    cdef uint64_t mlen
    if n < 20:
        raise DecryptError(MSG_FRAME_SHORT)
    mlen = ((<uint64_t>plain[16] << 24) | (<uint64_t>plain[17] << 16)
            | (<uint64_t>plain[18] << 8) | plain[19])
    if mlen > <uint64_t>(n - 20):
        raise DecryptError(MSG_FRAME_LENGTH)
    cdef Py_ssize_t cstart = 20 + <Py_ssize_t>mlen
    if cstart == n:
        raise DecryptError(MSG_CORP_EMPTY)
    try:
        corp_id = PyUnicode_DecodeUTF8(<const char *>plain + cstart, n - cstart, NULL)
    except UnicodeDecodeError:
        raise DecryptError(MSG_CORP_UTF8) from None
    return (
        PyBytes_FromStringAndSize(<const char *>plain, 16),
        PyBytes_FromStringAndSize(<const char *>plain + 20, <Py_ssize_t>mlen),
        corp_id,
    )


cdef bytes _open_frame(const uint8_t *plain, Py_ssize_t n, bytes corp):
    """The message of a frame whose corp_id must equal corp (errors as _unpack, then
    CorpIdMismatchError)."""
    cdef Py_ssize_t mlen, clen = PyBytes_GET_SIZE(corp)
    if n >= 20:
        mlen = ((<Py_ssize_t>plain[16] << 24) | (<Py_ssize_t>plain[17] << 16)
                | (<Py_ssize_t>plain[18] << 8) | plain[19])
        if (mlen <= n - 20 and n - 20 - mlen == clen and clen > 0
                and memcmp(plain + 20 + mlen, PyBytes_AS_STRING(corp), clen) == 0):
            return PyBytes_FromStringAndSize(<const char *>plain + 20, mlen)
    _unpack(plain, n)  # raises the frame's own error, if it has one
    raise CorpIdMismatchError(MSG_CORP_MISMATCH)


def unpack_frame(plain):
    """Split an unpadded frame into ``(random, msg, corp_id)``."""
    if not isinstance(plain, bytes):
        raise TypeError("plain must be bytes")
    return _unpack(<const uint8_t *>PyBytes_AS_STRING(plain), PyBytes_GET_SIZE(plain))


# --------------------------------------------------------------------------- AES

cdef str _encrypt(_Key key, object msg, object corp_id, object random):
    """encrypt_msg after the key check: frame, pad, encrypt in place, base64."""
    cdef uint8_t rnd[16]
    cdef uint8_t stackbuf[STACK_BUF]
    cdef uint8_t *buf
    cdef Py_ssize_t mlen, clen, flen, total
    cdef int pad
    if isinstance(msg, str):
        try:
            msg = (<str>msg).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("msg is not encodable as UTF-8") from None
    if random is None:
        if RAND_bytes(rnd, 16) != 1:
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)
    else:
        if not isinstance(random, bytes) or not isinstance(msg, bytes):
            raise TypeError("random and msg must be bytes")
        if PyBytes_GET_SIZE(random) != 16:
            raise ValueError("random must be 16 bytes")
        memcpy(rnd, PyBytes_AS_STRING(random), 16)
    if not isinstance(msg, bytes):
        raise TypeError("random and msg must be bytes")
    mlen = PyBytes_GET_SIZE(msg)
    if <uint64_t>mlen > 0xFFFFFFFF:
        raise ValueError("msg is longer than 4 GiB")
    cdef bytes corp = _corp_bytes(corp_id)
    clen = PyBytes_GET_SIZE(corp)
    flen = 20 + mlen + clen
    pad = BLOCK - flen % BLOCK
    total = flen + pad
    buf = &stackbuf[0] if total <= STACK_BUF else <uint8_t *>malloc(total)
    if buf is NULL:
        raise MemoryError()
    try:
        memcpy(buf, rnd, 16)
        _put_be32(buf + 16, <uint32_t>mlen)
        memcpy(buf + 20, PyBytes_AS_STRING(msg), mlen)
        memcpy(buf + 20 + mlen, PyBytes_AS_STRING(corp), clen)
        memset(buf + flen, pad, pad)
        key.crypt(True, buf, total)
        return _b64_encode(buf, total)
    finally:
        if buf is not &stackbuf[0]:
            free(buf)


def encrypt_msg(msg, corp_id, aes_key, random=None):
    """Encrypt ``msg`` for ``corp_id`` into base64 text (random from RAND_bytes if None)."""
    return _encrypt(_get_key(aes_key), msg, corp_id, random)


cdef object _decrypt(_Key key, object encrypt, bytes expect_corp):
    """decrypt_msg after the key check; with expect_corp, check the frame's corp_id and
    return only the message."""
    cdef const uint8_t *s
    cdef Py_ssize_t n, dlen, plen
    cdef uint8_t stackbuf[STACK_BUF]
    cdef uint8_t *buf
    cdef uint64_t mlen
    if isinstance(encrypt, str):
        if not PyUnicode_IS_ASCII(encrypt):
            raise Base64Error(MSG_B64_CHAR)
        s = <const uint8_t *>PyUnicode_DATA(encrypt)
        n = PyUnicode_GET_LENGTH(encrypt)
    elif isinstance(encrypt, bytes):
        s = <const uint8_t *>PyBytes_AS_STRING(encrypt)
        n = PyBytes_GET_SIZE(encrypt)
    else:
        raise TypeError("encrypt must be str or bytes")
    dlen = _b64_check(s, n)
    if dlen == 0 or dlen % BLOCK:
        raise DecryptError(MSG_CT_LENGTH)
    buf = &stackbuf[0] if dlen <= STACK_BUF else <uint8_t *>malloc(dlen)
    if buf is NULL:
        raise MemoryError()
    try:
        _b64_decode(s, n, buf)
        key.crypt(False, buf, dlen)
        plen = _unpad_len(buf, dlen, BLOCK)
        if plen < 0:
            raise DecryptError(MSG_PAD)
        if expect_corp is None:
            return _unpack(buf, plen)
        return _open_frame(buf, plen, expect_corp)
    finally:
        if buf is not &stackbuf[0]:
            free(buf)


def decrypt_msg(encrypt, aes_key):
    """Decrypt base64 ``encrypt`` into ``(random, msg, corp_id)``."""
    return _decrypt(_get_key(aes_key), encrypt, None)


# --------------------------------------------------------------------------- XML

@cython.final
cdef class _TreeBuilder:
    """Builds the raw dict from scanner events (see _pycore._parse_tree)."""

    cdef list children  # children dict (or None) of each open element, by depth
    cdef Py_ssize_t depth
    cdef object root

    def __cinit__(self):
        self.children = [None] * (XS_MAX_DEPTH + 1)
        self.depth = 0
        self.root = None


cdef int _on_start(void *ctx, const char *name, size_t name_len) except -1:
    cdef _TreeBuilder b = <_TreeBuilder>ctx
    if b.depth and b.children[b.depth] is None:
        b.children[b.depth] = {}
    b.depth += 1
    b.children[b.depth] = None
    return 0


cdef int _on_end(void *ctx, const char *name, size_t name_len,
                 const char *text, size_t text_len) except -1:
    cdef _TreeBuilder b = <_TreeBuilder>ctx
    cdef object value = b.children[b.depth]
    cdef PyObject *old
    b.children[b.depth] = None
    b.depth -= 1
    if b.depth == 0:
        b.root = {} if value is None else value
        return 0
    if value is None:
        value = PyUnicode_DecodeUTF8(text, <Py_ssize_t>text_len, NULL)
    key = _name(name, name_len)
    cdef dict siblings = <dict>b.children[b.depth]
    old = PyDict_GetItem(siblings, key)
    if old is NULL:
        siblings[key] = value
    elif type(<object>old) is list:
        (<list>old).append(value)
    else:
        siblings[key] = [<object>old, value]
    return 0


# Tag names seen most, as str objects with cached hashes: a lookup by bytes avoids
# decoding the same names for every message. Bounded; hostile names are decoded anew.
DEF NAME_SLOTS = 512
DEF NAME_FILL_MAX = 256
cdef PyObject *_name_strs[NAME_SLOTS]
cdef int _name_fill = 0


cdef inline uint32_t _fnv1a(const char *s, size_t n) noexcept nogil:
    cdef uint32_t h = 2166136261u
    cdef size_t i
    for i in range(n):
        h = (h ^ <uint8_t>s[i]) * 16777619u
    return h


cdef object _name(const char *s, size_t n):
    """Return the str for an ASCII tag name, from the cache when possible."""
    global _name_fill
    cdef uint32_t slot = _fnv1a(s, n) & (NAME_SLOTS - 1)
    cdef PyObject *entry
    cdef object name
    while True:
        entry = _name_strs[slot]
        if entry is NULL:
            break
        if (<size_t>PyUnicode_GET_LENGTH(<object>entry) == n
                and memcmp(PyUnicode_DATA(<object>entry), s, n) == 0):
            return <object>entry
        slot = (slot + 1) & (NAME_SLOTS - 1)
    name = PyUnicode_DecodeASCII(s, <Py_ssize_t>n, NULL)
    if _name_fill < NAME_FILL_MAX:
        hash(name)
        Py_INCREF(name)
        _name_strs[slot] = <PyObject *>name
        _name_fill += 1
    return name


cdef void _preload_names() except *:
    cdef bytes b
    for tag in list(TAG_INDEX) + ["xml", "Encrypt", "ScanType", "ScanResult", "Count",
                                  "PicList", "item", "PicMd5Sum", "Poiname"]:
        b = tag.encode("ascii")
        _name(PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b))


_preload_names()

cdef xs_handlers _TREE_HANDLERS
_TREE_HANDLERS.start = _on_start
_TREE_HANDLERS.end = _on_end


cdef dict _parse_tree(object xml):
    cdef const char *data
    cdef Py_ssize_t n
    cdef char stackbuf[STACK_BUF]
    cdef char *scratch
    cdef int rc
    if type(xml) is bytes:
        data = PyBytes_AS_STRING(xml)
        n = PyBytes_GET_SIZE(xml)
    elif isinstance(xml, str):
        try:
            data = PyUnicode_AsUTF8AndSize(xml, &n)
        except UnicodeEncodeError:
            raise XMLParseError(MSG_XML_MALFORMED) from None
    elif isinstance(xml, bytes):
        data = PyBytes_AS_STRING(xml)
        n = PyBytes_GET_SIZE(xml)
    else:
        raise TypeError("xml must be bytes or str")
    cdef _TreeBuilder builder = _TreeBuilder.__new__(_TreeBuilder)
    scratch = &stackbuf[0] if n <= STACK_BUF else <char *>malloc(n)
    if scratch is NULL:
        raise MemoryError()
    try:
        rc = xs_parse(data, <size_t>n, scratch, &_TREE_HANDLERS, <void *>builder)
    finally:
        if scratch is not &stackbuf[0]:
            free(scratch)
    if rc != XS_OK:
        _raise_scan_error(rc)
    return <dict>builder.root


cdef int _raise_scan_error(int rc) except -1:
    if rc == XS_HANDLER:
        return _raise_pending()
    if rc == XS_DOCTYPE:
        raise XMLParseError(MSG_XML_DOCTYPE)
    if rc == XS_DEPTH:
        raise XMLParseError(MSG_XML_DEPTH)
    if rc == XS_NOMEM:
        raise MemoryError()
    raise XMLParseError(MSG_XML_MALFORMED)


# --------------------------------------------------------------------------- typed fields

cdef inline object _scalar(object value):
    if type(value) is list:
        value = (<list>value)[0]
    return value if type(value) is str else ""


cdef inline object _group(object value):
    if type(value) is list:
        value = (<list>value)[0]
    return value if type(value) is dict else None


cdef inline bint _is_ws(uint8_t c) noexcept nogil:
    return c == 32 or c == 9 or c == 10 or c == 13


cdef object _to_int(object tag, object value):
    cdef str text = _scalar(value)
    cdef const uint8_t *s
    cdef Py_ssize_t n, i = 0, j, start
    cdef long long acc = 0
    cdef bint neg = False
    if not PyUnicode_IS_ASCII(text):
        # Non-ASCII whitespace is not stripped, so any non-ASCII text is not a number.
        if text.strip(" \t\r\n"):
            raise XMLParseError(MSG_XML_NUMBER.format(tag))
        return 0
    s = <const uint8_t *>PyUnicode_DATA(text)
    n = PyUnicode_GET_LENGTH(text)
    while n and _is_ws(s[n - 1]):
        n -= 1
    while i < n and _is_ws(s[i]):
        i += 1
    if i == n:
        return 0
    start = i
    if s[i] == ord("+") or s[i] == ord("-"):
        neg = s[i] == ord("-")
        i += 1
    if i == n:
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    for j in range(i, n):
        if s[j] < ord("0") or s[j] > ord("9"):
            raise XMLParseError(MSG_XML_NUMBER.format(tag))
    if n - i <= 18:
        for j in range(i, n):
            acc = acc * 10 + (s[j] - ord("0"))
        return -acc if neg else acc
    try:
        return int(text[start:n])
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise XMLParseError(MSG_XML_NUMBER.format(tag)) from None


cdef object _to_float(object tag, object value):
    cdef str text = _scalar(value)
    cdef const uint8_t *s
    cdef Py_ssize_t n, i = 0, start, digits = 0
    if not PyUnicode_IS_ASCII(text):
        if text.strip(" \t\r\n"):
            raise XMLParseError(MSG_XML_NUMBER.format(tag))
        return 0.0
    s = <const uint8_t *>PyUnicode_DATA(text)
    n = PyUnicode_GET_LENGTH(text)
    while n and _is_ws(s[n - 1]):
        n -= 1
    while i < n and _is_ws(s[i]):
        i += 1
    if i == n:
        return 0.0
    start = i
    # [+-]? (digits (. digits?)? | . digits) ([eE] [+-]? digits)?
    if s[i] == ord("+") or s[i] == ord("-"):
        i += 1
    while i < n and ord("0") <= s[i] <= ord("9"):
        i += 1
        digits += 1
    if i < n and s[i] == ord("."):
        i += 1
        while i < n and ord("0") <= s[i] <= ord("9"):
            i += 1
            digits += 1
    if digits == 0:
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    if i < n and (s[i] == ord("e") or s[i] == ord("E")):
        i += 1
        if i < n and (s[i] == ord("+") or s[i] == ord("-")):
            i += 1
        digits = 0
        while i < n and ord("0") <= s[i] <= ord("9"):
            i += 1
            digits += 1
        if digits == 0:
            raise XMLParseError(MSG_XML_NUMBER.format(tag))
    if i != n:
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    return float(text[start:n])


cdef object _new_tuple(type cls, tuple values):
    return tuple.__new__(cls, values)


cdef list _pic_list(object value):
    group = _group(value)
    if group is None:
        return []
    items = (<dict>group).get("item")
    if items is None:
        return []
    if type(items) is not list:
        items = [items]
    return [_scalar((<dict>item).get("PicMd5Sum")) if type(item) is dict else ""
            for item in <list>items]


cdef object _convert(object tag, int kind, object value):
    if kind == K_STR:
        return _scalar(value)
    if kind == K_INT:
        return _to_int(tag, value)
    if kind == K_FLOAT:
        return _to_float(tag, value)
    group = _group(value)
    if kind == K_SCAN:
        if group is None:
            return _EMPTY_SCAN
        return _new_tuple(ScanCodeInfo, (_scalar((<dict>group).get("ScanType")),
                                         _scalar((<dict>group).get("ScanResult"))))
    if kind == K_PICS:
        if group is None:
            return _new_tuple(SendPicsInfo, (0, []))
        count = _to_int("Count", (<dict>group).get("Count"))
        return _new_tuple(SendPicsInfo, (count, _pic_list((<dict>group).get("PicList"))))
    if group is None:
        return _EMPTY_LOCATION
    return _new_tuple(SendLocationInfo, tuple([
        _convert(t, k, (<dict>group).get(t)) for _, t, k in LOCATION_INFO_FIELDS]))


cdef object _EMPTY_SCAN = ScanCodeInfo()
cdef object _EMPTY_LOCATION = SendLocationInfo()
cdef dict _TAG_INDEX = TAG_INDEX
cdef tuple _EMPTY_VALUES = EMPTY_VALUES
cdef Py_ssize_t _PICS_INDEX = PICS_INDEX
cdef int K_STR = STR, K_INT = INT, K_FLOAT = FLOAT
cdef int K_SCAN = SCAN_INFO, K_PICS = PICS_INFO


def parse_envelope(body):
    """Parse a callback's POST body into its ToUserName, AgentID and Encrypt."""
    cdef dict raw = _parse_tree(body)
    encrypt = raw.get("Encrypt")
    if encrypt is None:
        raise XMLParseError(MSG_XML_NO_ENCRYPT)
    return _new_tuple(Envelope, (_scalar(raw.get("ToUserName")),
                                 _to_int("AgentID", raw.get("AgentID")),
                                 _scalar(encrypt)))


def parse_message(xml):
    """Parse a decrypted message or event into a ``MixedMessage``."""
    cdef dict raw = _parse_tree(xml)
    cdef list values = list(_EMPTY_VALUES)
    cdef PyObject *spec
    values[_PICS_INDEX] = _new_tuple(SendPicsInfo, (0, []))
    for tag, value in raw.items():
        spec = PyDict_GetItem(_TAG_INDEX, tag)
        if spec is not NULL:
            values[<Py_ssize_t>(<tuple>spec)[0]] = _convert(tag, <int>(<tuple>spec)[1], value)
    msg = MixedMessage.__new__(MixedMessage)
    PyObject_GenericSetAttr(msg, "raw", raw)
    PyObject_GenericSetAttr(msg, "_values", tuple(values))
    return msg


# --------------------------------------------------------------------------- MsgCrypto

cdef bytes _check_nonce(object nonce):
    cdef const uint8_t *s
    cdef Py_ssize_t n, i
    if not isinstance(nonce, str):
        raise TypeError("nonce must be str")
    n = PyUnicode_GET_LENGTH(nonce)
    if n == 0 or not PyUnicode_IS_ASCII(nonce):
        raise ValueError("nonce must be non-empty printable ASCII without ']]>'")
    s = <const uint8_t *>PyUnicode_DATA(nonce)
    for i in range(n):
        if s[i] < 0x20 or s[i] > 0x7E or (
                s[i] == ord(">") and i >= 2 and s[i - 1] == ord("]") and s[i - 2] == ord("]")):
            raise ValueError("nonce must be non-empty printable ASCII without ']]>'")
    return (<str>nonce).encode("ascii")


cdef bytes _reply_timestamp(object timestamp):
    if timestamp is None:
        return str(int(time.time())).encode("ascii")
    if isinstance(timestamp, int):
        return str(timestamp).encode("ascii")
    if isinstance(timestamp, str) and (<str>timestamp).isascii() and (<str>timestamp).isdigit():
        return (<str>timestamp).encode("ascii")
    raise ValueError("timestamp must be an int or a string of digits")


cdef class MsgCrypto:
    """One application's codec: verify, decrypt and encrypt WeChat Work callbacks."""

    cdef bytes _token
    cdef _Key _key
    cdef str _corp_id
    cdef bytes _corp_id_b

    def __init__(self, token, encoding_aes_key, corp_id):
        if not isinstance(token, str) or not isinstance(corp_id, str):
            raise TypeError("token and corp_id must be str")
        cdef Py_ssize_t n
        cdef const uint8_t *t = _sig_part(token, &n)
        self._token = PyBytes_FromStringAndSize(<const char *>t, n)
        self._key = _get_key(decode_aes_key(encoding_aes_key))
        self._corp_id_b = _corp_bytes(corp_id)
        self._corp_id = corp_id

    @property
    def corp_id(self):
        """The expected corp id."""
        return self._corp_id

    def __repr__(self):
        return f"MsgCrypto(corp_id={self._corp_id!r})"

    cdef int _check_signature(self, object given, object timestamp, object nonce,
                              object encrypt) except -1:
        cdef char expected[40]
        _msg_signature_into(self._token, timestamp, nonce, encrypt, expected)
        if not _signature_matches(expected, given):
            raise SignatureError(MSG_SIGNATURE_MISMATCH)
        return 0

    def verify_url(self, msg_signature, timestamp, nonce, echostr):
        """Check the GET URL verification and return the decrypted echostr."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return _decrypt(self._key, echostr, self._corp_id_b)

    def decrypt(self, body, msg_signature, timestamp, nonce):
        """Verify the POST body's signature, decrypt it and return the inner XML."""
        encrypt = parse_envelope(body)[2]
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return _decrypt(self._key, encrypt, self._corp_id_b)

    def encrypt(self, reply, nonce, timestamp=None):
        """Encrypt ``reply`` (inner XML) into the signed reply envelope."""
        cdef char sig[40]
        nonce_b = _check_nonce(nonce)
        ts = _reply_timestamp(timestamp)
        encrypt = _encrypt(self._key, reply, self._corp_id_b, None)
        _msg_signature_into(self._token, ts, nonce_b, encrypt, sig)
        return b"".join((
            b"<xml><Encrypt><![CDATA[",
            (<str>encrypt).encode("ascii"),
            b"]]></Encrypt><MsgSignature><![CDATA[",
            PyBytes_FromStringAndSize(sig, 40),
            b"]]></MsgSignature><TimeStamp>",
            ts,
            b"</TimeStamp><Nonce><![CDATA[",
            nonce_b,
            b"]]></Nonce></xml>",
        ))
