# cython: language_level=3, embedsignature=True, embedsignature.format=clinic, binding=True
# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled twin of the crypto core: libcrypto EVP, C base64 and a C XML scanner.

Same names, signatures, results and errors as wxcorp_fast._core_py (the specification).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.limits cimport INT_MAX
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset

from _openssl cimport *

import os
import time

from wxcorp_fast._spec import (
    MSG_B64_CHAR,
    MSG_B64_PAD,
    MSG_CORP_UTF8,
    MAX_XML_DEPTH,
    MSG_AES_KEY_RAW,
    MSG_AES_KEY_TEXT,
    MSG_CORP_EMPTY,
    MSG_CORP_MISMATCH,
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
)
from wxcorp_fast.errors import (
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
    ctypedef struct PyTypeObject:
        object (*tp_alloc)(PyTypeObject *, Py_ssize_t)
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyObject *PyDict_GetItemWithError(object d, object key) except? NULL
    object PyLong_FromUnsignedLongLong(unsigned long long v)
    tuple PyTuple_New(Py_ssize_t n)
    PyObject *PyTuple_GET_ITEM(object t, Py_ssize_t i)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object o)
    void Py_DECREF(object o)
    bint PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)

cdef extern from "b64enc.h":
    void _b64_init_c "wx_b64_init" () noexcept
    void _b64_encode_c "wx_b64_encode" (const uint8_t *data, size_t n, uint8_t *o) noexcept nogil

cdef extern from "copy.h":
    void _copy "wx_copy" (void *dst, const void *src, size_t n) noexcept nogil

cdef extern from "utf8.h":
    object _str_from_utf8 "wx_str_from_valid_utf8" (const uint8_t *s, Py_ssize_t n)

# Handlers that build Python objects (the tree) run with the GIL held and may raise; the
# typed handlers are plain C, cast to these types, and may run without the GIL.
ctypedef int (*xs_start_fn)(void *ctx, const char *name, size_t name_len) except -1
ctypedef int (*xs_end_fn)(void *ctx, const char *name, size_t name_len,
                          const char *text, size_t text_len) except -1

cdef extern from "xmlscan.h":
    enum:
        XS_OK
        XS_MALFORMED
        XS_DOCTYPE
        XS_DEPTH
        XS_NOMEM
        XS_HANDLER
        XS_MAX_DEPTH
    ctypedef struct xs_handlers:
        xs_start_fn start
        xs_end_fn end
    int xs_parse(const char *data, size_t len, char *scratch, const xs_handlers *h,
                 void *ctx) nogil

DEF BLOCK = 32
DEF GIL_MINSIZE = 2048      # CPython's HASHLIB_GIL_MINSIZE
DEF STACK_BUF = 4096
# The typed scan runs at several GB/s: a 16 KB message takes ~2 us, less than a GIL hand-off
# between two busy threads costs on a VM, so parse_message keeps the GIL below 64 KiB
# (measured: 2 threads doing decrypt+parse of 16 KB messages scale better that way).
DEF SCAN_GIL_MINSIZE = 65536
DEF KEY_CACHE_SIZE = 64

cdef const EVP_CIPHER *_AES = wx_aes_256_cbc()
cdef const EVP_MD *_SHA1 = wx_sha1()
if _AES is NULL or _SHA1 is NULL:
    ERR_clear_error()
    raise ImportError("libcrypto has no AES-256-CBC or SHA-1")

cdef EVP_MD_CTX *_md_hot = EVP_MD_CTX_new()  # for inputs under GIL_MINSIZE, GIL held
if _md_hot is NULL:
    raise MemoryError()

OPENSSL_VERSION = wx_openssl_version().decode("ascii", "replace")

assert XS_MAX_DEPTH == MAX_XML_DEPTH

cdef const char *_HEX = b"0123456789abcdef"
cdef const char *_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
cdef uint8_t _B64_REV[256]  # 0..63 digit values, 64 for '=', 255 outside the alphabet
# Digit values pre-shifted to their place in a quad's 24 bits, B64_BAD for any non-digit
# ('=' included): one OR of four lookups decodes a quad and flags a bad character.
DEF B64_BAD = 0x40000000
cdef uint32_t _B64_QUAD[4][256]


cdef void _init_tables() noexcept:
    cdef int i, j
    memset(_B64_REV, 255, 256)
    for i in range(64):
        _B64_REV[<uint8_t>_B64[i]] = <uint8_t>i
    _B64_REV[ord("=")] = 64
    _b64_init_c()
    for i in range(256):
        for j in range(4):
            _B64_QUAD[j][i] = (<uint32_t>_B64_REV[i] << (18 - 6 * j)
                               if _B64_REV[i] < 64 else B64_BAD)


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

cdef inline void _xor16(uint8_t *dst, const uint8_t *src) noexcept nogil:
    cdef int i
    for i in range(16):
        dst[i] ^= src[i]


@cython.final
cdef class _Key:
    """A 32-byte AES key (IV = its first 16 bytes) and its OpenSSL contexts.

    ``enc``/``dec`` are pristine templates, only ever copied: a large input (GIL
    released) runs on a private copy. Small inputs run with the GIL held on the
    ``*_hot`` contexts, never re-initialised (OpenSSL 3 re-init costs more than the
    AES itself): CBC's chaining value after a call is the last ciphertext block, kept
    in ``*_chain``, and the first block is corrected by ``iv ^ chain``. The GIL makes
    each hot context used by one call at a time.
    """

    cdef EVP_CIPHER_CTX *enc
    cdef EVP_CIPHER_CTX *dec
    cdef EVP_CIPHER_CTX *enc_hot
    cdef EVP_CIPHER_CTX *dec_hot
    cdef uint8_t iv[16]
    cdef uint8_t enc_chain[16]
    cdef uint8_t dec_chain[16]

    def __cinit__(self, bytes key):
        cdef const unsigned char *k = <const unsigned char *>PyBytes_AS_STRING(key)
        memcpy(self.iv, k, 16)
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
        self._reset_hot(True)
        self._reset_hot(False)

    def __dealloc__(self):
        EVP_CIPHER_CTX_free(self.enc)
        EVP_CIPHER_CTX_free(self.dec)
        EVP_CIPHER_CTX_free(self.enc_hot)
        EVP_CIPHER_CTX_free(self.dec_hot)

    cdef int _reset_hot(self, bint encrypt) except -1:
        """(Re)make a hot context as a copy of its template; its chain is then the IV."""
        cdef EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new()
        if ctx is NULL:
            raise MemoryError()
        if EVP_CIPHER_CTX_copy(ctx, self.enc if encrypt else self.dec) != 1:
            EVP_CIPHER_CTX_free(ctx)
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)
        if encrypt:
            EVP_CIPHER_CTX_free(self.enc_hot)
            self.enc_hot = ctx
            memcpy(self.enc_chain, self.iv, 16)
        else:
            EVP_CIPHER_CTX_free(self.dec_hot)
            self.dec_hot = ctx
            memcpy(self.dec_chain, self.iv, 16)
        return 0

    cdef int crypt(self, bint encrypt, uint8_t *buf, Py_ssize_t n) except -1:
        """AES-256-CBC over buf[0:n] in place (n a positive multiple of 32; padding is ours)."""
        cdef const EVP_CIPHER_CTX *ctx
        cdef int outl = 0, ok
        cdef uint8_t last[16]
        if n > INT_MAX - BLOCK:
            raise OverflowError("input too long for one AES call")
        if n < GIL_MINSIZE:
            if encrypt:
                _xor16(buf, self.iv)
                _xor16(buf, self.enc_chain)
                ok = EVP_CipherUpdate(self.enc_hot, buf, &outl, buf, <int>n)
                memcpy(self.enc_chain, buf + n - 16, 16)
            else:
                memcpy(last, buf + n - 16, 16)
                ok = EVP_CipherUpdate(self.dec_hot, buf, &outl, buf, <int>n)
                _xor16(buf, self.dec_chain)
                _xor16(buf, self.iv)
                memcpy(self.dec_chain, last, 16)
            if ok != 1 or outl != n:
                ERR_clear_error()
                self._reset_hot(encrypt)
                raise DecryptError(MSG_CRYPTO_FAILURE)
            return 0
        ctx = self.enc if encrypt else self.dec
        with nogil:
            ok = _crypt_private(ctx, buf, n)
        if ok != 0:
            raise DecryptError(MSG_CRYPTO_FAILURE)
        return 0


cdef int _crypt_private(const EVP_CIPHER_CTX *template, uint8_t *buf, Py_ssize_t n) noexcept nogil:
    """AES over buf[0:n] in place on a private copy of template (n a multiple of 32, at most
    INT_MAX - 32); 0, or -1 on failure (error queue cleared). Needs no GIL."""
    cdef int outl = 0, finl = 0, ok = 0
    cdef EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new()
    if ctx is not NULL:
        ok = (EVP_CIPHER_CTX_copy(ctx, template) == 1
              and EVP_CipherUpdate(ctx, buf, &outl, buf, <int>n) == 1
              and EVP_CipherFinal_ex(ctx, buf + outl, &finl) == 1
              and outl + finl == n)
        EVP_CIPHER_CTX_free(ctx)
    if not ok:
        ERR_clear_error()
        return -1
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
    cdef PyObject *cached = PyDict_GetItemWithError(_keys, aes_key)
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


cdef Py_ssize_t _b64_check(const uint8_t *s, Py_ssize_t n) noexcept nogil:
    """Validate strict base64 as _core_py._b64decode does.

    Returns the decoded length, or -1 for a character outside the alphabet, -2 for
    bad padding (checked in that order).
    """
    cdef Py_ssize_t i, pad = -1
    cdef uint8_t c
    for i in range(n):
        c = _B64_REV[s[i]]
        if c == 255:
            return -1
        if c == 64 and pad < 0:
            pad = i
    if n % 4 or (pad >= 0 and (pad < n - 2 or s[n - 1] != ord("="))):
        return -2
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


cdef Py_ssize_t _b64_decode_strict(const uint8_t *s, Py_ssize_t n, uint8_t *out) noexcept nogil:
    """Validate and decode strict base64 in one pass into out (room for n // 4 * 3 bytes).

    Returns the decoded length, or -1 / -2 as _b64_check does: an anomaly anywhere sends the
    input to _b64_check, which names the first error as the pure twin does.
    """
    cdef Py_ssize_t i
    cdef uint32_t a, b, c, d, bad = 0
    cdef uint8_t *o = out
    if n % 4:
        return _b64_check(s, n)
    if n == 0:
        return 0
    for i in range(0, n - 4, 4):
        a = (_B64_QUAD[0][s[i]] | _B64_QUAD[1][s[i + 1]]
             | _B64_QUAD[2][s[i + 2]] | _B64_QUAD[3][s[i + 3]])
        bad |= a
        o[0] = <uint8_t>(a >> 16)
        o[1] = <uint8_t>(a >> 8)
        o[2] = <uint8_t>a
        o += 3
    a = _B64_REV[s[n - 4]]
    b = _B64_REV[s[n - 3]]
    c = _B64_REV[s[n - 2]]
    d = _B64_REV[s[n - 1]]
    if bad & B64_BAD or (a | b) & 0xC0 or (c == 64 and d != 64) or (c | d) & 0x80:
        i = _b64_check(s, n)  # an error: name it (decode anew should it be none)
        return i if i < 0 else _b64_decode(s, n, out)
    o[0] = <uint8_t>((a << 2) | (b >> 4))
    if c == 64:
        return o - out + 1
    o[1] = <uint8_t>((b << 4) | (c >> 2))
    if d == 64:
        return o - out + 2
    o[2] = <uint8_t>((c << 6) | d)
    return o - out + 3


cdef str _b64_encode(const uint8_t *data, Py_ssize_t n):
    """Standard base64 of data[0:n] as a new ASCII str (the GIL released when large)."""
    cdef str out = <str>PyUnicode_New((n + 2) // 3 * 4, 127)
    cdef uint8_t *o = <uint8_t *>PyUnicode_DATA(out)
    if n >= GIL_MINSIZE:
        with nogil:
            _b64_encode_into(data, n, o)
    else:
        _b64_encode_into(data, n, o)
    return out


cdef inline void _b64_encode_into(const uint8_t *data, Py_ssize_t n, uint8_t *o) noexcept nogil:
    _b64_encode_c(data, <size_t>n, o)


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


cdef inline void _sort_parts(const uint8_t **parts, Py_ssize_t *lens, int count) noexcept nogil:
    """Insertion sort of the (at most four) signature parts."""
    cdef int i, j
    cdef const uint8_t *p
    cdef Py_ssize_t n
    for i in range(1, count):
        p = parts[i]
        n = lens[i]
        j = i - 1
        while j >= 0 and _less(p, n, parts[j], lens[j]):
            parts[j + 1] = parts[j]
            lens[j + 1] = lens[j]
            j -= 1
        parts[j + 1] = p
        lens[j + 1] = n


cdef inline void _hex20(const unsigned char *digest, char *out) noexcept nogil:
    cdef int i
    for i in range(20):
        out[2 * i] = _HEX[digest[i] >> 4]
        out[2 * i + 1] = _HEX[digest[i] & 15]


cdef inline int _sha1_update_all(EVP_MD_CTX *ctx, const uint8_t **parts, Py_ssize_t *lens,
                                 int count, char *out) noexcept nogil:
    """hex(SHA-1(parts joined)) on ctx into out; 0, or -1 (error queue cleared)."""
    cdef int i, ok
    cdef unsigned char digest[20]
    cdef unsigned int dlen = 0
    ok = EVP_DigestInit_ex(ctx, _SHA1, NULL)
    for i in range(count):
        ok = ok == 1 and EVP_DigestUpdate(ctx, parts[i], <size_t>lens[i]) == 1
    ok = ok == 1 and EVP_DigestFinal_ex(ctx, digest, &dlen) == 1
    if ok != 1 or dlen != 20:
        ERR_clear_error()
        return -1
    _hex20(digest, out)
    return 0


cdef int _sha1_private(const uint8_t **parts, Py_ssize_t *lens, int count, char *out) noexcept nogil:
    """hex(SHA-1(sorted parts joined)) into out[0:40] on a private context; needs no GIL."""
    cdef int rc = -1
    cdef EVP_MD_CTX *ctx = EVP_MD_CTX_new()
    if ctx is not NULL:
        _sort_parts(parts, lens, count)
        rc = _sha1_update_all(ctx, parts, lens, count, out)
        EVP_MD_CTX_free(ctx)
    return rc


cdef int _sha1_hex(const uint8_t **parts, Py_ssize_t *lens, int count, char *out) except -1:
    """Write hex(SHA-1(sorted parts joined)) into out[0:40]."""
    cdef int i, rc
    cdef Py_ssize_t total = 0
    for i in range(count):
        total += lens[i]
    if total >= GIL_MINSIZE:  # a private context, the GIL released
        with nogil:
            rc = _sha1_private(parts, lens, count, out)
    else:  # the shared context, with the GIL held throughout
        _sort_parts(parts, lens, count)
        rc = _sha1_update_all(_md_hot, parts, lens, count, out)
    if rc != 0:
        raise SignatureError(MSG_CRYPTO_FAILURE)
    return 0


cdef inline object _timestamp_obj(object timestamp):
    return str(timestamp) if isinstance(timestamp, int) else timestamp


cdef int _msg_signature_into(object token, object timestamp, object nonce, object encrypt,
                             char *out) except -1:
    cdef const uint8_t *parts[4]
    cdef Py_ssize_t lens[4]
    timestamp = _timestamp_obj(timestamp)  # kept alive here: parts[1] may point into it
    _first_parts(token, timestamp, nonce, parts, lens)
    parts[3] = _sig_part(encrypt, &lens[3])
    return _sha1_hex(parts, lens, 4, out)


cdef int _msg_signature_raw(object token, object timestamp, object nonce,
                            const uint8_t *encrypt, Py_ssize_t encrypt_len,
                            char *out) except -1:
    """_msg_signature_into with the Encrypt part given as bytes in memory."""
    cdef const uint8_t *parts[4]
    cdef Py_ssize_t lens[4]
    timestamp = _timestamp_obj(timestamp)  # kept alive here: parts[1] may point into it
    _first_parts(token, timestamp, nonce, parts, lens)
    parts[3] = encrypt
    lens[3] = encrypt_len
    return _sha1_hex(parts, lens, 4, out)


cdef inline int _first_parts(object token, object timestamp, object nonce,
                             const uint8_t **parts, Py_ssize_t *lens) except -1:
    """Borrow token, timestamp (already a str or bytes) and nonce, checked in that order."""
    parts[0] = _sig_part(token, &lens[0])
    parts[1] = _sig_part(timestamp, &lens[1])
    parts[2] = _sig_part(nonce, &lens[2])
    return 0


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
    mlen = ((<uint64_t>plain[16] << 24) | (<uint64_t>plain[17] << 16)
            | (<uint64_t>plain[18] << 8) | plain[19])
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
    if n >= 20:
        mlen = ((<Py_ssize_t>plain[16] << 24) | (<Py_ssize_t>plain[17] << 16)
                | (<Py_ssize_t>plain[18] << 8) | plain[19])
        if (mlen <= n - 20 and n - 20 - mlen == clen and (clen > 0 or allow_empty)
                and memcmp(plain + 20 + mlen, PyBytes_AS_STRING(corp), clen) == 0):
            return _bytes_of(plain + 20, mlen)
    _unpack(plain, n, allow_empty)  # raises the frame's own error, if it has one
    raise CorpIdMismatchError(MSG_CORP_MISMATCH)


def unpack_frame(plain):
    """Split an unpadded frame into ``(random, msg, corp_id)``."""
    if not isinstance(plain, bytes):
        raise TypeError("plain must be bytes")
    return _unpack(<const uint8_t *>PyBytes_AS_STRING(plain), PyBytes_GET_SIZE(plain))


# --------------------------------------------------------------------------- AES

# RAND_bytes costs ~1.5 us a call on OpenSSL 3.0, so draw 4 KiB at a time and hand out
# 16 bytes per frame, wiping what was handed out. Only touched with the GIL held; a
# forked child drops the parent's remainder so no two processes share random bytes.
DEF RAND_POOL = 4096
cdef uint8_t _rand_pool[RAND_POOL]
cdef Py_ssize_t _rand_left = 0


cdef int _random16(uint8_t *out) except -1:
    global _rand_left
    if _rand_left < 16:
        if RAND_bytes(_rand_pool, RAND_POOL) != 1:
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)
        _rand_left = RAND_POOL
    _rand_left -= 16
    memcpy(out, _rand_pool + _rand_left, 16)
    OPENSSL_cleanse(_rand_pool + _rand_left, 16)
    return 0


def _drop_random_pool():
    global _rand_left
    OPENSSL_cleanse(_rand_pool, RAND_POOL)
    _rand_left = 0


os.register_at_fork(after_in_child=_drop_random_pool)


cdef Py_ssize_t _frame_size(bytes msg, bytes corp) except -1:
    """The padded frame's length for msg and corp (msg at most 4 GiB)."""
    cdef Py_ssize_t mlen = PyBytes_GET_SIZE(msg)
    if <uint64_t>mlen > 0xFFFFFFFF:
        raise ValueError("msg is longer than 4 GiB")
    mlen += 20 + PyBytes_GET_SIZE(corp)
    return mlen + BLOCK - mlen % BLOCK


cdef void _fill_frame(uint8_t *buf, const uint8_t *rnd, bytes msg, bytes corp,
                      Py_ssize_t total) noexcept:
    """Write random + length + msg + corp and the PKCS#7 padding into buf[0:total]."""
    cdef Py_ssize_t mlen = PyBytes_GET_SIZE(msg), clen = PyBytes_GET_SIZE(corp)
    cdef Py_ssize_t flen = 20 + mlen + clen
    memcpy(buf, rnd, 16)
    _put_be32(buf + 16, <uint32_t>mlen)
    _copy(buf + 20, PyBytes_AS_STRING(msg), mlen)
    memcpy(buf + 20 + mlen, PyBytes_AS_STRING(corp), clen)
    memset(buf + flen, <int>(total - flen), total - flen)


cdef object _utf8_msg(object msg):
    """A str message as UTF-8 (anything else is returned as it is)."""
    if isinstance(msg, str):
        try:
            return (<str>msg).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("msg is not encodable as UTF-8") from None
    return msg


cdef str _encrypt(_Key key, object msg, object corp_id, object random):
    """encrypt_msg after the key check: frame, pad, encrypt in place, base64."""
    cdef uint8_t rnd[16]
    cdef uint8_t stackbuf[STACK_BUF]
    cdef uint8_t *buf
    cdef Py_ssize_t total
    msg = _utf8_msg(msg)
    if random is None:
        _random16(rnd)
    else:
        if not isinstance(random, bytes) or not isinstance(msg, bytes):
            raise TypeError("random and msg must be bytes")
        if PyBytes_GET_SIZE(random) != 16:
            raise ValueError("random must be 16 bytes")
        memcpy(rnd, PyBytes_AS_STRING(random), 16)
    if not isinstance(msg, bytes):
        raise TypeError("random and msg must be bytes")
    cdef bytes corp = _corp_bytes(corp_id)
    total = _frame_size(msg, corp)
    buf = &stackbuf[0] if total <= STACK_BUF else <uint8_t *>malloc(total)
    if buf is NULL:
        raise MemoryError()
    try:
        _fill_frame(buf, rnd, msg, corp, total)
        key.crypt(True, buf, total)
        return _b64_encode(buf, total)
    finally:
        if buf is not &stackbuf[0]:
            free(buf)


def encrypt_msg(msg, corp_id, aes_key, random=None):
    """Encrypt ``msg`` for ``corp_id`` into base64 text (a fresh CSPRNG random if None)."""
    return _encrypt(_get_key(aes_key), msg, corp_id, random)


cdef object _decrypt(_Key key, object encrypt, bytes expect_corp, bint allow_empty=False):
    """decrypt_msg after the key check; with expect_corp, check the frame's corp_id and
    return only the message."""
    if isinstance(encrypt, str):
        if not PyUnicode_IS_ASCII(encrypt):
            raise Base64Error(MSG_B64_CHAR)
        return _decrypt_raw(key, <const uint8_t *>PyUnicode_DATA(encrypt),
                            PyUnicode_GET_LENGTH(encrypt), expect_corp, allow_empty)
    if isinstance(encrypt, bytes):
        return _decrypt_raw(key, <const uint8_t *>PyBytes_AS_STRING(encrypt),
                            PyBytes_GET_SIZE(encrypt), expect_corp, allow_empty)
    raise TypeError("encrypt must be str or bytes")


cdef object _decrypt_raw(_Key key, const uint8_t *s, Py_ssize_t n, bytes expect_corp,
                         bint allow_empty=False):
    """_decrypt of base64 text in memory (bytes outside ASCII fail as base64 characters)."""
    cdef Py_ssize_t dlen, plen, room
    cdef uint8_t stackbuf[STACK_BUF]
    cdef uint8_t *buf
    room = n // 4 * 3
    buf = &stackbuf[0] if room <= STACK_BUF else <uint8_t *>malloc(room)
    if buf is NULL:
        raise MemoryError()
    try:
        if n >= GIL_MINSIZE:
            with nogil:
                dlen = _b64_decode_strict(s, n, buf)
        else:
            dlen = _b64_decode_strict(s, n, buf)
        if dlen < 0:
            raise Base64Error(MSG_B64_CHAR if dlen == -1 else MSG_B64_PAD)
        if dlen == 0 or dlen % BLOCK:
            raise DecryptError(MSG_CT_LENGTH)
        key.crypt(False, buf, dlen)
        plen = _unpad_len(buf, dlen, BLOCK)
        if plen < 0:
            raise DecryptError(MSG_PAD)
        if expect_corp is None:
            return _unpack(buf, plen)
        return _open_frame(buf, plen, expect_corp, allow_empty)
    finally:
        if buf is not &stackbuf[0]:
            free(buf)


def decrypt_msg(encrypt, aes_key):
    """Decrypt base64 ``encrypt`` into ``(random, msg, corp_id)``."""
    return _decrypt(_get_key(aes_key), encrypt, None)


# --------------------------------------------------------------------------- XML

cdef inline const char *_xml_data(object xml, Py_ssize_t *size) except NULL:
    """Borrow the bytes of an XML input (a str is read as its UTF-8 form)."""
    if isinstance(xml, bytes):
        size[0] = PyBytes_GET_SIZE(xml)
        return PyBytes_AS_STRING(xml)
    if isinstance(xml, str):
        try:
            return PyUnicode_AsUTF8AndSize(xml, size)
        except UnicodeEncodeError:
            raise XMLParseError(MSG_XML_MALFORMED) from None
    raise TypeError("xml must be bytes or str")


cdef int _scan(const char *data, Py_ssize_t n, const xs_handlers *handlers,
               void *ctx, bint release_gil=False) except -1:
    """Run the scanner; raise the XMLParseError (or the handler's error) it reports.

    release_gil only with handlers that never touch Python objects.
    """
    cdef char stackbuf[STACK_BUF]
    cdef char *scratch = &stackbuf[0] if n <= STACK_BUF else <char *>malloc(n)
    cdef int rc
    if scratch is NULL:
        raise MemoryError()
    try:
        if release_gil:
            with nogil:
                rc = xs_parse(data, <size_t>n, scratch, handlers, ctx)
        else:
            rc = xs_parse(data, <size_t>n, scratch, handlers, ctx)
    finally:
        if scratch is not &stackbuf[0]:
            free(scratch)
    if rc == XS_OK:
        return 0
    if rc == XS_HANDLER:
        return _raise_pending()
    if rc == XS_DOCTYPE:
        raise XMLParseError(MSG_XML_DOCTYPE)
    if rc == XS_DEPTH:
        raise XMLParseError(MSG_XML_DEPTH)
    if rc == XS_NOMEM:
        raise MemoryError()
    raise XMLParseError(MSG_XML_MALFORMED)


# ---- the raw tree (docs/reference.md section 2 `.raw`; _core_py._parse_tree is the specification)

@cython.final
cdef class _TreeBuilder:
    """Builds the raw dict from scanner events."""

    cdef list children  # children dict (or None) of each open element, by depth
    cdef Py_ssize_t depth
    cdef object root

    def __cinit__(self):
        self.children = [None] * (XS_MAX_DEPTH + 1)
        self.depth = 0
        self.root = None


cdef int _tree_start(void *ctx, const char *name, size_t name_len) except -1:
    cdef _TreeBuilder b = <_TreeBuilder>ctx
    if b.depth and b.children[b.depth] is None:
        b.children[b.depth] = {}
    b.depth += 1
    b.children[b.depth] = None
    return 0


cdef int _tree_end(void *ctx, const char *name, size_t name_len,
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
    old = PyDict_GetItemWithError(siblings, key)
    if old is NULL:
        siblings[key] = value
    elif type(<object>old) is list:
        (<list>old).append(value)
    else:
        siblings[key] = [<object>old, value]
    return 0


cdef xs_handlers _TREE_HANDLERS
_TREE_HANDLERS.start = _tree_start
_TREE_HANDLERS.end = _tree_end


def _parse_tree(xml):
    """Parse a document into the raw dict of docs/reference.md section 2 (root element dropped)."""
    cdef Py_ssize_t n
    cdef const char *data = _xml_data(xml, &n)
    cdef _TreeBuilder builder = _TreeBuilder.__new__(_TreeBuilder)
    _scan(data, n, &_TREE_HANDLERS, <void *>builder)
    return builder.root


# Tag names seen most, as str objects with cached hashes: a lookup by bytes avoids
# decoding the same names for every message. Bounded; other names are decoded anew.
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


# ---- typed fields straight from the scan (parse_message, parse_envelope)
#
# The fast path reads the top-level elements of the document as the scanner closes
# them: the first occurrence of each known tag gives its field, in document order,
# exactly as _core_py converts its raw dict. A nested group (ScanCodeInfo,
# SendPicsInfo, SendLocationInfo) with children sends the message down the tree
# path instead; a number error waits until the whole document proved well-formed.

DEF TAG_SLOTS = 128
DEF MAX_FIELDS = 40

cdef struct _Tag:
    const char *name
    Py_ssize_t length
    int index
    int kind


cdef _Tag _MESSAGE_TAGS[TAG_SLOTS]
cdef _Tag _ENVELOPE_TAGS[TAG_SLOTS]
cdef list _tag_names = []  # keeps the bytes behind _Tag.name alive


cdef int _tag_add(_Tag *table, str tag, int index, int kind) except -1:
    cdef bytes name = tag.encode("ascii")
    cdef uint32_t slot = _fnv1a(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)) & (TAG_SLOTS - 1)
    while table[slot].name is not NULL:
        slot = (slot + 1) & (TAG_SLOTS - 1)
    _tag_names.append(name)
    table[slot].name = PyBytes_AS_STRING(name)
    table[slot].length = PyBytes_GET_SIZE(name)
    table[slot].index = index
    table[slot].kind = kind
    return 0


cdef inline const _Tag *_tag_find(const _Tag *table, const char *s, size_t n) noexcept nogil:
    cdef uint32_t slot = _fnv1a(s, n) & (TAG_SLOTS - 1)
    while table[slot].name is not NULL:
        if <size_t>table[slot].length == n and memcmp(table[slot].name, s, n) == 0:
            return &table[slot]
        slot = (slot + 1) & (TAG_SLOTS - 1)
    return NULL


cdef struct _Typed:
    const _Tag *tags
    char *capture      # the first text of each field, copied out of the scanner's scratch
    Py_ssize_t used
    Py_ssize_t offset[MAX_FIELDS]
    Py_ssize_t length[MAX_FIELDS]
    int order[MAX_FIELDS]  # field indexes in document order of their first occurrence
    int count
    uint8_t seen[MAX_FIELDS]  # 0 absent, SEEN_TEXT, or SEEN_CHILDREN
    int depth
    bint children    # the open top-level element has a child element
    bint needs_tree  # a nested group with children: convert from the raw tree


DEF SEEN_TEXT = 1
DEF SEEN_CHILDREN = 2


cdef inline bint _is_ws(uint8_t c) noexcept nogil:
    return c == 32 or c == 9 or c == 10 or c == 13


cdef inline void _strip(const uint8_t **s, Py_ssize_t *n) noexcept nogil:
    """Strip XML whitespace (space, tab, CR, LF) from both ends."""
    while n[0] and _is_ws(s[0][n[0] - 1]):
        n[0] -= 1
    while n[0] and _is_ws(s[0][0]):
        s[0] += 1
        n[0] -= 1


cdef object _int_from(const uint8_t *s, Py_ssize_t n):
    """The int of XML text, 0 for blank, None when it is not [+-]?[0-9]+."""
    cdef Py_ssize_t i = 0, j
    cdef uint64_t acc = 0
    cdef bint neg = False
    _strip(&s, &n)
    if n == 0:
        return 0
    if s[0] == ord("+") or s[0] == ord("-"):
        neg = s[0] == ord("-")
        i = 1
    if i == n:
        return None
    for j in range(i, n):
        if s[j] < ord("0") or s[j] > ord("9"):
            return None
    if n - i > 19:
        try:
            return int(PyUnicode_DecodeASCII(<const char *>s, n, NULL))
        except ValueError:  # beyond sys.get_int_max_str_digits()
            return None
    for j in range(i, n):
        acc = acc * 10 + (s[j] - ord("0"))
    value = PyLong_FromUnsignedLongLong(acc)
    return -value if neg else value


cdef object _float_from(const uint8_t *s, Py_ssize_t n):
    """The float of XML text, 0.0 for blank, None unless it matches _core_py._FLOAT."""
    cdef Py_ssize_t i = 0, digits = 0
    _strip(&s, &n)
    if n == 0:
        return 0.0
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
        return None
    if i < n and (s[i] == ord("e") or s[i] == ord("E")):
        i += 1
        if i < n and (s[i] == ord("+") or s[i] == ord("-")):
            i += 1
        digits = 0
        while i < n and ord("0") <= s[i] <= ord("9"):
            i += 1
            digits += 1
        if digits == 0:
            return None
    if i != n:
        return None
    return float(PyUnicode_DecodeASCII(<const char *>s, n, NULL))


cdef int _typed_start(void *ctx, const char *name, size_t name_len) noexcept nogil:
    cdef _Typed *st = <_Typed *>ctx
    st.depth += 1
    if st.depth == 2:
        st.children = False
    elif st.depth == 3:
        st.children = True
    return 0


cdef int _typed_end(void *ctx, const char *name, size_t name_len,
                    const char *text, size_t text_len) noexcept nogil:
    """Note the first occurrence of each known top-level element (no Python: GIL-free)."""
    cdef _Typed *st = <_Typed *>ctx
    cdef const _Tag *tag
    st.depth -= 1
    if st.depth != 1:
        return 0
    tag = _tag_find(st.tags, name, name_len)
    if tag is NULL or st.seen[tag.index]:
        return 0
    st.order[st.count] = tag.index
    st.count += 1
    if st.children:
        st.seen[tag.index] = SEEN_CHILDREN
        if tag.kind >= K_SCAN:
            st.needs_tree = True
    else:
        st.seen[tag.index] = SEEN_TEXT
        st.offset[tag.index] = st.used
        st.length[tag.index] = <Py_ssize_t>text_len
        _copy(st.capture + st.used, text, text_len)
        st.used += <Py_ssize_t>text_len
    return 0


cdef xs_handlers _TYPED_HANDLERS
_TYPED_HANDLERS.start = <xs_start_fn>_typed_start
_TYPED_HANDLERS.end = <xs_end_fn>_typed_end


cdef tuple _typed_values(_Typed *st, tuple defaults, const int *kinds, tuple tags):
    """The typed values in field order; a number error is raised in document order."""
    cdef Py_ssize_t n = len(defaults)
    cdef tuple out = PyTuple_New(n)
    cdef int i, k, kind
    cdef object value
    cdef const uint8_t *text
    for i in range(n):
        Py_INCREF(<object>PyTuple_GET_ITEM(defaults, i))
        PyTuple_SET_ITEM(out, i, <object>PyTuple_GET_ITEM(defaults, i))
    for k in range(st.count):
        i = st.order[k]
        kind = kinds[i]
        if st.seen[i] == SEEN_CHILDREN:
            value = "" if kind == K_STR else None  # numbers and groups stay empty
        else:
            text = <const uint8_t *>st.capture + st.offset[i]
            if kind == K_STR:
                value = _str_from_utf8(text, st.length[i])
            elif kind == K_INT:
                value = _int_from(text, st.length[i])
                if value is None:
                    raise XMLParseError(MSG_XML_NUMBER.format(tags[i]))
            elif kind == K_FLOAT:
                value = _float_from(text, st.length[i])
                if value is None:
                    raise XMLParseError(MSG_XML_NUMBER.format(tags[i]))
            else:
                value = None  # a group given as text: empty
        if value is not None:
            Py_DECREF(<object>PyTuple_GET_ITEM(out, i))
            Py_INCREF(value)
            PyTuple_SET_ITEM(out, i, value)
    return out


# MixedMessage is a slotted class: its slots are written at their offsets, with
# __init__ (which builds an eager message) skipped.
cdef Py_ssize_t _SLOT_RAW = (<PyMemberDescrObject *>MixedMessage.__dict__["_raw"]).d_member.offset
cdef Py_ssize_t _SLOT_VALUES = (<PyMemberDescrObject *>MixedMessage.__dict__["_values"]).d_member.offset
cdef Py_ssize_t _SLOT_SOURCE = (<PyMemberDescrObject *>MixedMessage.__dict__["_source"]).d_member.offset
for _slot in ("_raw", "_values", "_source"):
    if type(MixedMessage.__dict__[_slot]).__name__ != "member_descriptor":
        raise ImportError("MixedMessage slots changed")


cdef inline void _set_slot(object obj, Py_ssize_t offset, object value) noexcept:
    """Fill an empty slot of a freshly allocated object (taking a new reference)."""
    Py_INCREF(value)
    (<PyObject **>(<char *><PyObject *>obj + offset))[0] = <PyObject *>value


cdef object _new_message(object raw, tuple values, object source):
    cdef object msg = (<PyTypeObject *>MixedMessage).tp_alloc(<PyTypeObject *>MixedMessage, 0)
    _set_slot(msg, _SLOT_RAW, raw)
    _set_slot(msg, _SLOT_VALUES, values)
    _set_slot(msg, _SLOT_SOURCE, source)
    return msg


# ---- conversion of a raw tree (the path for nested groups; mirrors _core_py._convert)

cdef inline object _scalar(object value):
    if type(value) is list:
        value = (<list>value)[0]
    return value if type(value) is str else ""


cdef inline object _group(object value):
    if type(value) is list:
        value = (<list>value)[0]
    return value if type(value) is dict else None


cdef object _number(object tag, int kind, object value):
    cdef Py_ssize_t n
    cdef str text = _scalar(value)
    cdef const char *s = PyUnicode_AsUTF8AndSize(text, &n)
    if kind == K_INT:
        value = _int_from(<const uint8_t *>s, n)
    else:
        value = _float_from(<const uint8_t *>s, n)
    if value is None:
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    return value


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
    if kind == K_INT or kind == K_FLOAT:
        return _number(tag, kind, value)
    group = _group(value)
    if kind == K_SCAN:
        if group is None:
            return _EMPTY_SCAN
        return _new_tuple(ScanCodeInfo, (_scalar((<dict>group).get("ScanType")),
                                         _scalar((<dict>group).get("ScanResult"))))
    if kind == K_PICS:
        if group is None:
            return None
        count = _number("Count", K_INT, (<dict>group).get("Count"))
        return _new_tuple(SendPicsInfo, (count, _pic_list((<dict>group).get("PicList"))))
    if group is None:
        return _EMPTY_LOCATION
    return _new_tuple(SendLocationInfo, tuple([
        _convert(t, k, (<dict>group).get(t)) for _, t, k in LOCATION_INFO_FIELDS]))


cdef object _message_from_tree(object xml):
    cdef dict raw = _parse_tree(xml)
    cdef list values = list(_EMPTY_VALUES)
    cdef PyObject *spec
    for tag, value in raw.items():
        spec = PyDict_GetItemWithError(_TAG_INDEX, tag)
        if spec is not NULL:
            values[<Py_ssize_t>(<tuple>spec)[0]] = _convert(tag, <int>(<tuple>spec)[1], value)
    return _new_message(raw, tuple(values), None)


cdef object _EMPTY_SCAN = ScanCodeInfo()
cdef object _EMPTY_LOCATION = SendLocationInfo()
cdef dict _TAG_INDEX = TAG_INDEX
cdef tuple _EMPTY_VALUES = EMPTY_VALUES
cdef tuple _EMPTY_ENVELOPE = ("", 0, "")
cdef int K_STR = STR, K_INT = INT, K_FLOAT = FLOAT
cdef int K_SCAN = SCAN_INFO, K_PICS = PICS_INFO
assert K_SCAN < K_PICS < LOCATION_INFO and max(K_STR, K_INT, K_FLOAT) < K_SCAN
assert len(EMPTY_VALUES) <= MAX_FIELDS

cdef int _MESSAGE_KINDS[MAX_FIELDS]
cdef int _ENVELOPE_KINDS[MAX_FIELDS]
cdef tuple _MESSAGE_NAMES = tuple(TAG_INDEX)
cdef tuple _ENVELOPE_NAMES = ("ToUserName", "AgentID", "Encrypt")
for _tag, (_index, _kind) in TAG_INDEX.items():
    assert _MESSAGE_NAMES[_index] == _tag
    _tag_add(_MESSAGE_TAGS, _tag, _index, _kind)
    _MESSAGE_KINDS[_index] = _kind
for _index, _kind in enumerate((STR, INT, STR)):
    _tag_add(_ENVELOPE_TAGS, _ENVELOPE_NAMES[_index], _index, _kind)
    _ENVELOPE_KINDS[_index] = _kind


cdef void _preload_names(list tags) except *:
    cdef bytes name
    for tag in tags:
        name = tag.encode("ascii")
        _name(PyBytes_AS_STRING(name), <size_t>PyBytes_GET_SIZE(name))


_preload_names(list(TAG_INDEX) + ["xml", "Encrypt", "ScanType", "ScanResult", "Count",
                                  "PicList", "item", "PicMd5Sum", "Poiname"])


cdef tuple _envelope_values(object body):
    """(ToUserName, AgentID, Encrypt) of a POST body, as parse_envelope gives them."""
    cdef _Typed st
    cdef Py_ssize_t n
    cdef const char *data = _xml_data(body, &n)
    cdef char stackbuf[STACK_BUF]
    st.capture = NULL
    try:
        _scan_envelope(&st, data, n, stackbuf)
        return _typed_values(&st, _EMPTY_ENVELOPE, _ENVELOPE_KINDS, _ENVELOPE_NAMES)
    finally:
        if st.capture is not &stackbuf[0]:
            free(st.capture)


cdef int _typed_scan_into(_Typed *st, const _Tag *tags, const char *data, Py_ssize_t n,
                          char *stackbuf) except -1:
    """Scan data with the typed handlers; st.capture is stackbuf or malloc'd (caller frees)."""
    memset(st, 0, sizeof(_Typed))
    st.tags = tags
    st.capture = stackbuf if n <= STACK_BUF else <char *>malloc(n)
    if st.capture is NULL:
        raise MemoryError()
    _scan(data, n, &_TYPED_HANDLERS, st, n >= SCAN_GIL_MINSIZE)
    return 0


cdef int _scan_envelope(_Typed *st, const char *data, Py_ssize_t n, char *stackbuf) except -1:
    """Scan a POST body for its envelope fields; a body without Encrypt is refused."""
    _typed_scan_into(st, _ENVELOPE_TAGS, data, n, stackbuf)
    if not st.seen[2]:
        raise XMLParseError(MSG_XML_NO_ENCRYPT)
    return 0


def parse_envelope(body):
    """Parse a callback's POST body into its ToUserName, AgentID and Encrypt."""
    return _new_tuple(Envelope, _envelope_values(body))


def parse_message(xml):
    """Parse a decrypted message or event into a ``MixedMessage``."""
    cdef _Typed st
    cdef Py_ssize_t n
    cdef const char *data = _xml_data(xml, &n)
    cdef char stackbuf[STACK_BUF]
    st.capture = NULL
    try:
        _typed_scan_into(&st, _MESSAGE_TAGS, data, n, stackbuf)
        if st.needs_tree:
            return _message_from_tree(xml)
        values = _typed_values(&st, _EMPTY_VALUES, _MESSAGE_KINDS, _MESSAGE_NAMES)
        source = xml if isinstance(xml, bytes) else PyBytes_FromStringAndSize(data, n)
        return _new_message(None, values, source)
    finally:
        if st.capture is not &stackbuf[0]:
            free(st.capture)


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


# ---- MsgCrypto.decrypt of a large body: one GIL-free pass

cdef inline bint _plain_int(const uint8_t *s, Py_ssize_t n) noexcept nogil:
    """Whether XML text is blank or [+-]?[0-9]{1,19} inside whitespace (what _int_from takes
    without Python)."""
    cdef Py_ssize_t i = 0, j
    _strip(&s, &n)
    if n == 0:
        return True
    if s[0] == ord("+") or s[0] == ord("-"):
        i = 1
    if i == n or n - i > 19:
        return False
    for j in range(i, n):
        if s[j] < ord("0") or s[j] > ord("9"):
            return False
    return True


cdef struct _BodyJob:
    const char *body
    Py_ssize_t n
    const uint8_t *parts[4]  # token, timestamp, nonce, then Encrypt
    Py_ssize_t lens[4]
    const char *given        # the request's 40-character msg_signature, or NULL
    const EVP_CIPHER_CTX *dec
    const char *corp
    Py_ssize_t corp_len
    char *work               # 2 * n bytes: scanner scratch (then the plaintext), capture
    Py_ssize_t msg_len       # out: the message is work[20:20 + msg_len]


cdef int _open_body(_BodyJob *job) noexcept nogil:
    """Scan, verify, decrypt and check the frame of a POST body with no Python object.

    Returns 0 when every check passes, -1 at the first anomaly: the caller then runs the
    checks one by one to raise the error they name (hostile input pays twice, never more).
    """
    cdef _Typed st
    cdef char expected[40]
    cdef uint8_t *plain = <uint8_t *>job.work
    cdef const uint8_t *encrypt
    cdef Py_ssize_t dlen, plen, mlen
    memset(&st, 0, sizeof(_Typed))
    st.tags = _ENVELOPE_TAGS
    st.capture = job.work + job.n
    if (xs_parse(job.body, <size_t>job.n, job.work, &_TYPED_HANDLERS, &st) != XS_OK
            or st.seen[2] != SEEN_TEXT):
        return -1
    if st.seen[1] == SEEN_TEXT and not _plain_int(
            <const uint8_t *>st.capture + st.offset[1], st.length[1]):
        return -1
    encrypt = <const uint8_t *>st.capture + st.offset[2]
    job.parts[3] = encrypt
    job.lens[3] = st.length[2]
    if (job.given is NULL or _sha1_private(job.parts, job.lens, 4, expected) != 0
            or CRYPTO_memcmp(expected, job.given, 40) != 0):
        return -1
    dlen = _b64_decode_strict(encrypt, st.length[2], plain)
    if dlen <= 0 or dlen % BLOCK or dlen > INT_MAX - BLOCK:
        return -1
    if _crypt_private(job.dec, plain, dlen) != 0:
        return -1
    plen = _unpad_len(plain, dlen, BLOCK)
    if plen < 20:
        return -1
    mlen = ((<Py_ssize_t>plain[16] << 24) | (<Py_ssize_t>plain[17] << 16)
            | (<Py_ssize_t>plain[18] << 8) | plain[19])
    if (mlen > plen - 20 or plen - 20 - mlen != job.corp_len or job.corp_len == 0
            or memcmp(plain + 20 + mlen, job.corp, <size_t>job.corp_len) != 0):
        return -1
    job.msg_len = mlen
    return 0


cdef inline const char *_given_signature(object given) noexcept:
    """The 40 bytes of a well-formed msg_signature argument, else NULL."""
    if isinstance(given, str):
        if PyUnicode_IS_ASCII(given) and PyUnicode_GET_LENGTH(given) == 40:
            return <const char *>PyUnicode_DATA(given)
    elif isinstance(given, bytes) and PyBytes_GET_SIZE(given) == 40:
        return PyBytes_AS_STRING(given)
    return NULL


# The reply envelope around its four values.
cdef bytes _ENV_OPEN = b"<xml><Encrypt><![CDATA["
cdef bytes _ENV_SIGNATURE = b"]]></Encrypt><MsgSignature><![CDATA["
cdef bytes _ENV_TIMESTAMP = b"]]></MsgSignature><TimeStamp>"
cdef bytes _ENV_NONCE = b"</TimeStamp><Nonce><![CDATA["
cdef bytes _ENV_CLOSE = b"]]></Nonce></xml>"
cdef Py_ssize_t _ENVELOPE_FIXED = sum(
    len(part) for part in (_ENV_OPEN, _ENV_SIGNATURE, _ENV_TIMESTAMP, _ENV_NONCE, _ENV_CLOSE))


cdef inline char *_put(char *o, bytes part) noexcept:
    """Copy part to o; return the position after it."""
    memcpy(o, PyBytes_AS_STRING(part), PyBytes_GET_SIZE(part))
    return o + PyBytes_GET_SIZE(part)


cdef class MsgCrypto:
    # The "--" line makes the first line the class's __text_signature__ (inspect.signature).
    """MsgCrypto(token, encoding_aes_key, corp_id)
--

One application's codec: verify, decrypt and encrypt WeChat Work callbacks."""

    cdef tuple _args
    cdef bytes _token
    cdef _Key _key
    cdef object _corp_id
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
        self._args = (token, encoding_aes_key, corp_id)

    def __reduce__(self):
        return (type(self), self._args)

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
        cdef Py_ssize_t n
        cdef const char *data = _xml_data(body, &n)
        if n >= GIL_MINSIZE:
            xml = self._decrypt_large(data, n, msg_signature, timestamp, nonce)
            if xml is not None:
                return xml
        return self._decrypt_checked(data, n, msg_signature, timestamp, nonce)

    cdef object _decrypt_large(self, const char *data, Py_ssize_t n, object msg_signature,
                               object timestamp, object nonce):
        """The inner XML when the body opens cleanly in one GIL-free pass, else None."""
        cdef _BodyJob job
        cdef int rc
        job.body = data
        job.n = n
        job.given = _given_signature(msg_signature)
        job.dec = self._key.dec
        job.corp = PyBytes_AS_STRING(self._corp_id_b)
        job.corp_len = PyBytes_GET_SIZE(self._corp_id_b)
        timestamp = _timestamp_obj(timestamp)  # kept alive here: parts[1] may point into it
        try:
            _first_parts(self._token, timestamp, nonce, job.parts, job.lens)
        except Exception:
            return None  # _decrypt_checked raises it in its place among the checks
        with nogil:
            job.work = <char *>malloc(2 * <size_t>n)
            rc = -1 if job.work is NULL else _open_body(&job)
        try:
            if rc != 0:
                return None
            return _bytes_of(<const uint8_t *>job.work + 20, job.msg_len)
        finally:
            free(job.work)

    cdef object _decrypt_checked(self, const char *data, Py_ssize_t n, object msg_signature,
                                 object timestamp, object nonce):
        """decrypt with each check in turn, raising the first that fails."""
        # parse_envelope's checks, with Encrypt signed and decrypted where the scan left it
        cdef _Typed st
        cdef char stackbuf[STACK_BUF]
        cdef char expected[40]
        cdef const uint8_t *encrypt
        st.capture = NULL
        try:
            _scan_envelope(&st, data, n, stackbuf)
            if st.seen[1] == SEEN_TEXT and _int_from(
                    <const uint8_t *>st.capture + st.offset[1], st.length[1]) is None:
                raise XMLParseError(MSG_XML_NUMBER.format("AgentID"))
            encrypt = <const uint8_t *>st.capture + st.offset[2]
            n = st.length[2] if st.seen[2] == SEEN_TEXT else 0
            _msg_signature_raw(self._token, timestamp, nonce, encrypt, n, expected)
            if not _signature_matches(expected, msg_signature):
                raise SignatureError(MSG_SIGNATURE_MISMATCH)
            return _decrypt_raw(self._key, encrypt, n, self._corp_id_b)
        finally:
            if st.capture is not &stackbuf[0]:
                free(st.capture)

    def encrypt(self, reply, nonce, timestamp=None):
        """Encrypt ``reply`` (inner XML) into the signed reply envelope."""
        # Written straight into the envelope: the base64 text and the signature land in their
        # places, and from 2048 bytes on AES, base64 and SHA-1 run in one GIL-free block.
        cdef uint8_t rnd[16]
        cdef uint8_t stackbuf[STACK_BUF]
        cdef uint8_t *buf
        cdef char *o
        cdef char *sig
        cdef uint8_t *encrypt
        cdef const uint8_t *parts[4]
        cdef Py_ssize_t lens[4]
        cdef Py_ssize_t total, b64len
        cdef int rc = 0
        cdef bytes nonce_b = _check_nonce(nonce)
        cdef bytes ts = _reply_timestamp(timestamp)
        msg = _utf8_msg(reply)
        if not isinstance(msg, bytes):
            raise TypeError("random and msg must be bytes")
        total = _frame_size(msg, self._corp_id_b)
        b64len = (total + 2) // 3 * 4
        cdef bytes out = PyBytes_FromStringAndSize(
            NULL, _ENVELOPE_FIXED + b64len + 40 + PyBytes_GET_SIZE(ts) + PyBytes_GET_SIZE(nonce_b))
        o = PyBytes_AS_STRING(out)
        o = _put(o, _ENV_OPEN)
        encrypt = <uint8_t *>o
        o = _put(o + b64len, _ENV_SIGNATURE)
        sig = o
        o = _put(_put(_put(_put(o + 40, _ENV_TIMESTAMP), ts), _ENV_NONCE), nonce_b)
        _put(o, _ENV_CLOSE)
        parts[0] = <const uint8_t *>PyBytes_AS_STRING(self._token)
        lens[0] = PyBytes_GET_SIZE(self._token)
        parts[1] = <const uint8_t *>PyBytes_AS_STRING(ts)
        lens[1] = PyBytes_GET_SIZE(ts)
        parts[2] = <const uint8_t *>PyBytes_AS_STRING(nonce_b)
        lens[2] = PyBytes_GET_SIZE(nonce_b)
        parts[3] = encrypt
        lens[3] = b64len
        buf = &stackbuf[0] if total <= STACK_BUF else <uint8_t *>malloc(total)
        if buf is NULL:
            raise MemoryError()
        try:
            _random16(rnd)
            _fill_frame(buf, rnd, msg, self._corp_id_b, total)
            if total < GIL_MINSIZE:
                self._key.crypt(True, buf, total)
                _b64_encode_into(buf, total, encrypt)
                _sha1_hex(parts, lens, 4, sig)
                return out
            with nogil:
                rc = _crypt_private(self._key.enc, buf, total)
                if rc == 0:
                    _b64_encode_into(buf, total, encrypt)
                    if _sha1_private(parts, lens, 4, sig) != 0:
                        rc = -2
            if rc == -1:
                raise DecryptError(MSG_CRYPTO_FAILURE)
            if rc == -2:
                raise SignatureError(MSG_CRYPTO_FAILURE)
            return out
        finally:
            if buf is not &stackbuf[0]:
                free(buf)


include "_aibot.pxi"
