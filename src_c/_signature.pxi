# Included by _core_c.pyx: SHA-1 signatures.

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
