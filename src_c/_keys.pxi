# Included by _core_c.pyx: small helpers, AES keys and their cache, base64 encoding.

# --------------------------------------------------------------------------- small helpers

cdef inline int _raise_pending() except -1:
    """Re-raise the exception a C callback left pending."""
    return -1


cdef inline Py_ssize_t _decimal(unsigned long long value, char *out) noexcept nogil:
    """Write value's decimal digits to out (20 at most); return how many."""
    cdef char digits[20]
    cdef Py_ssize_t i = 20
    while True:
        i -= 1
        digits[i] = <char>(48 + value % 10)
        value //= 10
        if value == 0:
            break
    memcpy(out, digits + i, <size_t>(20 - i))
    return 20 - i


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
        if PyBytes_GET_SIZE(key) != 32:  # read 32 bytes below: never past a shorter key
            raise InvalidAESKeyError(MSG_AES_KEY_RAW)
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
        if not wx_b64_is_digit(s[i]):
            raise InvalidAESKeyError(MSG_AES_KEY_TEXT)
    wx_b64_decode_quads(s, 40, out)
    # The last three characters carry 16 bits (+2 ignored): "xyz=" -> 2 bytes.
    out[30] = <uint8_t>((wx_b64_value(s[40]) << 2) | (wx_b64_value(s[41]) >> 4))
    out[31] = <uint8_t>((wx_b64_value(s[41]) << 4) | (wx_b64_value(s[42]) >> 2))
    return PyBytes_FromStringAndSize(<char *>out, 32)


# --------------------------------------------------------------------------- base64 (decoding: b64.h)

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
    wx_b64_encode(data, <size_t>n, o)
