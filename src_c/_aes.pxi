# Included by _core_c.pyx: AES-256-CBC, the random pool, encrypt_msg and decrypt_msg.

# --------------------------------------------------------------------------- AES

# RAND_bytes costs ~1.5 us a call on OpenSSL 3.0, so draw 4 KiB at a time and hand out
# 16 bytes per frame, wiping what was handed out. Only touched with the GIL held. The pool
# belongs to the process that filled it: a child forked in any way (os.fork, or a fork from
# C that runs no Python fork hook: uWSGI, ctypes) sees another fork count (fork.h: a
# pthread_atfork child handler, no syscall per frame) and refills, so no two processes ever
# hand out the same bytes (the protocol's IV is fixed: equal randoms would make equal
# ciphertexts).
DEF RAND_POOL = 4096
cdef uint8_t _rand_pool[RAND_POOL]
cdef Py_ssize_t _rand_left = 0
cdef unsigned long _rand_forks = 0
wx_fork_watch()  # before any draw; on failure fork.h falls back to getpid()


cdef int _random16(uint8_t *out) except -1:
    global _rand_left, _rand_forks
    cdef unsigned long forks = wx_forks_now()
    if _rand_left < 16 or forks != _rand_forks:
        if RAND_bytes(_rand_pool, RAND_POOL) != 1:
            ERR_clear_error()
            raise DecryptError(MSG_CRYPTO_FAILURE)
        _rand_left = RAND_POOL
        _rand_forks = forks
    _rand_left -= 16
    memcpy(out, _rand_pool + _rand_left, 16)
    OPENSSL_cleanse(_rand_pool + _rand_left, 16)
    return 0


cdef Py_ssize_t _frame_size(bytes msg, bytes corp) except -1:
    """The padded frame's length for msg and corp; OverflowError past one AES call."""
    cdef uint64_t flen = <uint64_t>PyBytes_GET_SIZE(msg) + 20 + <uint64_t>PyBytes_GET_SIZE(corp)
    flen += BLOCK - flen % BLOCK
    if flen > <uint64_t>(INT_MAX - BLOCK):
        raise OverflowError(MSG_TOO_LONG)
    return <Py_ssize_t>flen


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
                dlen = wx_b64_decode(s, n, buf)
        else:
            dlen = wx_b64_decode(s, n, buf)
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
