# Included by _core_c.pyx: MsgCrypto.

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
    cdef Py_ssize_t dlen
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
    dlen = wx_b64_decode(encrypt, st.length[2], plain)
    if dlen <= 0 or dlen % BLOCK or dlen > INT_MAX - BLOCK:
        return -1
    if _crypt_private(job.dec, plain, dlen) != 0:
        return -1
    if job.corp_len == 0:
        return -1
    job.msg_len = _frame_msg_len(plain, dlen, <const uint8_t *>job.corp, job.corp_len)
    return 0 if job.msg_len >= 0 else -1


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

    # Set once, in __cinit__, and never again: GIL-free blocks read the token, key and corp
    # id through pointers, so they must outlive every call (__init__ cannot reset them).
    cdef tuple _args
    cdef bytes _token
    cdef _Key _key
    cdef object _corp_id
    cdef bytes _corp_id_b
    cdef bint _initialised

    def __cinit__(self, token, encoding_aes_key, corp_id):
        if not isinstance(token, str) or not isinstance(corp_id, str):
            raise TypeError("token and corp_id must be str")
        if not token:
            raise ValueError(MSG_EMPTY_TOKEN)
        if not corp_id:
            raise ValueError(MSG_EMPTY_CORP_ID)
        cdef Py_ssize_t n
        cdef const uint8_t *t = _sig_part(token, &n)
        self._token = PyBytes_FromStringAndSize(<const char *>t, n)
        self._key = _get_key(decode_aes_key(encoding_aes_key))
        self._corp_id_b = _corp_bytes(corp_id)
        self._corp_id = corp_id
        self._args = (token, encoding_aes_key, corp_id)

    def __init__(self, token, encoding_aes_key, corp_id):
        if self._initialised:
            raise TypeError(MSG_REINIT)
        self._initialised = True

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
        # strong local references to what the GIL-free block reads through pointers
        cdef _Key key = self._key
        cdef bytes token = self._token
        cdef bytes corp = self._corp_id_b
        job.body = data
        job.n = n
        job.given = _given_signature(msg_signature)
        job.dec = key.dec
        job.corp = PyBytes_AS_STRING(corp)
        job.corp_len = PyBytes_GET_SIZE(corp)
        timestamp = _timestamp_obj(timestamp)  # kept alive here: parts[1] may point into it
        try:
            _first_parts(token, timestamp, nonce, job.parts, job.lens)
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
        # strong local references to what the GIL-free block reads through pointers
        cdef _Key key = self._key
        cdef bytes token = self._token
        cdef bytes corp = self._corp_id_b
        cdef bytes nonce_b = _check_nonce(nonce)
        cdef bytes ts = _reply_timestamp(timestamp)
        msg = _utf8_msg(reply)
        if not isinstance(msg, bytes):
            raise TypeError("random and msg must be bytes")
        total = _frame_size(msg, corp)
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
        parts[0] = <const uint8_t *>PyBytes_AS_STRING(token)
        lens[0] = PyBytes_GET_SIZE(token)
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
            _fill_frame(buf, rnd, msg, corp, total)
            if total < GIL_MINSIZE:
                key.crypt(True, buf, total)
                _b64_encode_into(buf, total, encrypt)
                _sha1_hex(parts, lens, 4, sig)
                return out
            with nogil:
                rc = _crypt_private(key.enc, buf, total)
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


# ---- the callback server's POST path in one call

cdef Py_ssize_t _MSG_TO = TAG_INDEX["ToUserName"][0]
cdef Py_ssize_t _MSG_AGENT = TAG_INDEX["AgentID"][0]
cdef Py_ssize_t _MSG_TYPE = TAG_INDEX["MsgType"][0]
cdef Py_ssize_t _MSG_EVENT = TAG_INDEX["Event"][0]


def _open_callback(query, body, token, aes_key, corp_id, agent_id):
    """A POST callback verified and opened at once, or None at the first check that fails.

    The checks are those of ``wxcorp_fast.callback.checks`` but the replay window; this
    only says whether they all pass (the caller then runs them one by one to raise the
    error). Returns ``(msg_signature, timestamp, nonce, xml, msg, random, envelope corp id,
    envelope AgentID)``.
    """
    cdef _Typed st
    cdef char stackbuf[STACK_BUF]
    cdef uint8_t plainbuf[STACK_BUF]
    cdef char expected[40]
    cdef const uint8_t *parts[4]
    cdef Py_ssize_t lens[4]
    cdef const uint8_t *to
    cdef const uint8_t *corp
    cdef const uint8_t *encrypt
    cdef Py_ssize_t n, to_len, corp_len, encrypt_len, room, dlen, mlen
    cdef uint8_t *plain = NULL
    cdef _Key key
    if (type(query) is not dict or type(body) is not bytes or type(token) is not str
            or type(corp_id) is not str or type(agent_id) is not int):
        return None
    sig = (<dict>query).get("msg_signature")
    ts_text = (<dict>query).get("timestamp")
    nonce = (<dict>query).get("nonce")
    if (type(sig) is not str or type(ts_text) is not str or type(nonce) is not str
            or PyUnicode_GET_LENGTH(sig) != 40 or not PyUnicode_IS_ASCII(sig)):
        return None
    try:
        ts = _query_timestamp(sig, ts_text, nonce)
        key = _get_key(aes_key)
    except CallbackError:
        return None
    n = PyBytes_GET_SIZE(body)
    st.capture = NULL
    try:
        try:
            _scan_envelope(&st, PyBytes_AS_STRING(body), n, stackbuf)
            env_agent = 0 if st.seen[1] != SEEN_TEXT else _int_from(
                <const uint8_t *>st.capture + st.offset[1], st.length[1])
            if (env_agent is None or st.seen[0] != SEEN_TEXT or st.length[0] == 0
                    or st.seen[2] != SEEN_TEXT):
                return None
            to = <const uint8_t *>st.capture + st.offset[0]
            to_len = st.length[0]
            if PyUnicode_GET_LENGTH(corp_id):
                corp = _sig_part(corp_id, &corp_len)
                if corp_len != to_len or memcmp(corp, to, to_len) != 0:
                    return None
                if env_agent != agent_id and env_agent != 0:
                    return None
            encrypt = <const uint8_t *>st.capture + st.offset[2]
            encrypt_len = st.length[2]
            _first_parts(token, ts_text, nonce, parts, lens)
            parts[3] = encrypt
            lens[3] = encrypt_len
            _sha1_hex(parts, lens, 4, expected)  # sorts parts and lens
            if CRYPTO_memcmp(expected, PyUnicode_DATA(sig), 40) != 0:
                return None
            room = encrypt_len // 4 * 3
            plain = &plainbuf[0] if room <= STACK_BUF else <uint8_t *>malloc(room)
            if plain is NULL:
                raise MemoryError()
            if encrypt_len >= GIL_MINSIZE:
                with nogil:
                    dlen = wx_b64_decode(encrypt, encrypt_len, plain)
            else:
                dlen = wx_b64_decode(encrypt, encrypt_len, plain)
            if dlen <= 0 or dlen % BLOCK:
                return None
            key.crypt(False, plain, dlen)
        except CallbackError:
            return None
        mlen = _frame_msg_len(plain, dlen, to, to_len)
        if mlen < 0:
            return None
        xml = _bytes_of(plain + 20, mlen)
        random = _bytes_of(plain, 16)
        env_corp = corp_id if PyUnicode_GET_LENGTH(corp_id) else _str_from_utf8(to, to_len)
    finally:
        if st.capture is not &stackbuf[0]:
            free(st.capture)
        if plain is not &plainbuf[0]:
            free(plain)
    try:
        msg = _message_of(xml)
    except CallbackError:
        return None
    values = <tuple>(<PyObject **>(<char *><PyObject *>msg + _SLOT_VALUES))[0]
    if values[_MSG_TO] != env_corp or values[_MSG_AGENT] != env_agent:
        return None
    if (PyUnicode_GET_LENGTH(corp_id) and env_agent != agent_id
            and not (values[_MSG_TYPE] == "event"
                     and values[_MSG_EVENT] in ("subscribe", "unsubscribe"))):
        return None
    return (sig, ts, nonce, xml, msg, random, env_corp, env_agent)
