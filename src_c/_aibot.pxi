# AI bots (智能机器人): the JSON envelope, AIBotCrypto and parse_aibot_message, on the core's
# keys, signatures, base64 and frames. Included at the end of _core_c.pyx; the strict JSON
# scanner is C (jsonscan.h); wxcorp_fast._core_py is the specification.

from wxcorp_fast._spec import (
    MAX_JSON_DEPTH,
    MAX_JSON_NUMBER,
    MAX_TIMESTAMP_DIGITS,
    MSG_JSON_DEPTH,
    MSG_JSON_DUPLICATE,
    MSG_JSON_MALFORMED,
    MSG_JSON_NO_ENCRYPT,
    MSG_JSON_NOT_OBJECT,
    MSG_JSON_NUMBER,
    MSG_MISSING_PARAMS,
    MSG_TIMESTAMP,
)
from wxcorp_fast.errors import JSONParseError
from wxcorp_fast.messages import (
    AIBOT_EMPTY_VALUES,
    AIBOT_FIELDS,
    AIBotMessage,
    aibot_message,
)

import json as _json

__all__ = __all__ + ["parse_aibot_message", "AIBotCrypto"]


assert JS_MAX_DEPTH == MAX_JSON_DEPTH and JS_MAX_NUMBER == MAX_JSON_NUMBER
assert JS_PATH_MAX == 3 and len(AIBOT_FIELDS) <= JS_MAX_FIELDS

DEF AI_FIELDS_MAX = 64  # JS_MAX_FIELDS

cdef list _js_key_bytes = []  # keeps the bytes behind js_field.key alive


cdef int _js_field_set(js_field *field, tuple path, int kind) except -1:
    cdef bytes key
    cdef int level
    for level in range(len(path)):
        key = (<str>path[level]).encode("utf-8")
        _js_key_bytes.append(key)
        field.key[level] = PyBytes_AS_STRING(key)
        field.len[level] = <size_t>PyBytes_GET_SIZE(key)
    field.depth = len(path)
    field.kind = kind
    return 0


# The envelope's one field, and the typed fields of a message (AIBOT_FIELDS order).
cdef js_field _ENCRYPT_FIELD[1]
_js_field_set(&_ENCRYPT_FIELD[0], ("encrypt",), JS_K_ANY)

cdef js_field _AI_FIELDS[AI_FIELDS_MAX]
cdef int _AI_KINDS[AI_FIELDS_MAX]
cdef int _AI_NFIELDS = len(AIBOT_FIELDS)
cdef tuple _AI_EMPTY = AIBOT_EMPTY_VALUES
for _ai_index, (_ai_name, _ai_path, _ai_kind) in enumerate(AIBOT_FIELDS):
    _AI_KINDS[_ai_index] = (JS_K_STR if _ai_kind == STR else JS_K_INT if _ai_kind == INT
                            else JS_K_TREE)
    _js_field_set(&_AI_FIELDS[_ai_index], _ai_path, _AI_KINDS[_ai_index])


cdef int _raise_json(int rc) except -1:
    """Raise the error of a js_scan result other than JS_OK."""
    if rc == JS_DEPTH:
        raise JSONParseError(MSG_JSON_DEPTH)
    if rc == JS_NUMBER:
        raise JSONParseError(MSG_JSON_NUMBER)
    if rc == JS_DUPLICATE:
        raise JSONParseError(MSG_JSON_DUPLICATE)
    if rc == JS_NOT_OBJECT:
        raise JSONParseError(MSG_JSON_NOT_OBJECT)
    if rc == JS_NOMEM:
        raise MemoryError()
    raise JSONParseError(MSG_JSON_MALFORMED)


cdef inline const char *_json_data(object data, Py_ssize_t *size, str what) except NULL:
    """Borrow the bytes of a JSON input (a str is read as its UTF-8 form)."""
    if isinstance(data, bytes):
        size[0] = PyBytes_GET_SIZE(data)
        return PyBytes_AS_STRING(data)
    if isinstance(data, str):
        try:
            return PyUnicode_AsUTF8AndSize(data, size)
        except UnicodeEncodeError:
            raise JSONParseError(MSG_JSON_MALFORMED) from None
    raise TypeError(f"{what} must be bytes or str")


cdef int _scan_json(const char *data, Py_ssize_t n, const js_field *fields, int nfields,
                    js_value *values, int *complex, bint release_gil) except -1:
    cdef int rc
    if release_gil:
        with nogil:
            rc = js_scan(data, <size_t>n, fields, nfields, values, complex)
    else:
        rc = js_scan(data, <size_t>n, fields, nfields, values, complex)
    if rc != JS_OK:
        _raise_json(rc)
    return 0


cdef const char *_quotable(object text, Py_ssize_t *n) except NULL:
    """The UTF-8 of a str to write as a JSON string literal (at most 6 * n + 2 bytes)."""
    cdef const char *data
    if not isinstance(text, str):
        raise TypeError("text must be str")
    try:
        data = PyUnicode_AsUTF8AndSize(text, n)
    except UnicodeEncodeError:
        raise ValueError("text is not encodable as UTF-8") from None
    if <size_t>n[0] > (<size_t>PY_SSIZE_T_MAX - 2) // 6:
        raise OverflowError("text too long")
    return data


def _json_string(text):
    """Return ``text`` as a JSON string literal in UTF-8, as encode_basestring writes it."""
    cdef Py_ssize_t n
    cdef const char *data = _quotable(text, &n)
    cdef size_t size = js_quoted_len(data, <size_t>n)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>size)
    js_quote(data, <size_t>n, PyBytes_AS_STRING(out))
    return out


# --------------------------------------------------------------------------- messages

cdef Py_ssize_t _AI_SLOT_RAW = (<PyMemberDescrObject *>AIBotMessage.__dict__["_raw"]).d_member.offset
cdef Py_ssize_t _AI_SLOT_VALUES = (<PyMemberDescrObject *>AIBotMessage.__dict__["_values"]).d_member.offset
cdef Py_ssize_t _AI_SLOT_SOURCE = (<PyMemberDescrObject *>AIBotMessage.__dict__["_source"]).d_member.offset
for _ai_slot in ("_raw", "_values", "_source"):
    if type(AIBotMessage.__dict__[_ai_slot]).__name__ != "member_descriptor":
        raise ImportError("AIBotMessage slots changed")


cdef object _js_str(const js_value *v):
    """The str of a string value the scan accepted (valid UTF-8, escapes decoded)."""
    cdef char stackbuf[STACK_BUF]
    cdef char *buf
    cdef size_t m
    if not v.escaped:
        return _str_from_utf8(<const uint8_t *>v.p, <Py_ssize_t>v.n)
    buf = &stackbuf[0] if v.n <= STACK_BUF else <char *>malloc(v.n)
    if buf is NULL:
        raise MemoryError()
    try:
        m = js_unescape(v.p, v.n, buf)
        return _str_from_utf8(<const uint8_t *>buf, <Py_ssize_t>m)
    finally:
        if buf is not &stackbuf[0]:
            free(buf)


cdef object _js_int(const js_value *v):
    """The int of an integer literal of at most 18 digits."""
    cdef size_t i = 0
    cdef long long acc = 0
    cdef bint neg = v.n > 0 and v.p[0] == b"-"
    if neg:
        i = 1
    while i < v.n:
        acc = acc * 10 + (v.p[i] - 48)
        i += 1
    return -acc if neg else acc


cdef object _new_aibot_message(tuple values, bytes source):
    cdef object msg = (<PyTypeObject *>AIBotMessage).tp_alloc(<PyTypeObject *>AIBotMessage, 0)
    _set_slot(msg, _AI_SLOT_RAW, None)
    _set_slot(msg, _AI_SLOT_VALUES, values)
    _set_slot(msg, _AI_SLOT_SOURCE, source)
    return msg


cdef bytes _aibot_source(object data):
    """The bytes of an AI-bot message (a str is read as its UTF-8 form)."""
    if isinstance(data, bytes):
        return <bytes>data
    if isinstance(data, str):
        try:
            return (<str>data).encode("utf-8")
        except UnicodeEncodeError:
            raise JSONParseError(MSG_JSON_MALFORMED) from None
    raise TypeError("data must be bytes or str")


cdef bint _scan_aibot(bytes source, js_value *vals) except -1:
    """Scan a message for its typed fields; True when it needs the slow, checking way."""
    cdef int complex_ = 0
    cdef Py_ssize_t n = PyBytes_GET_SIZE(source)
    _scan_json(PyBytes_AS_STRING(source), n, _AI_FIELDS, _AI_NFIELDS, vals, &complex_,
               n >= SCAN_GIL_MINSIZE)
    return complex_ != 0  # a list field, or a type the fast path does not read


cdef object _aibot_from_scan(const js_value *vals, bytes source):
    """The AIBotMessage of a scan that needs no slow way."""
    cdef tuple values = PyTuple_New(_AI_NFIELDS)
    cdef object value
    cdef Py_ssize_t i
    for i in range(_AI_NFIELDS):
        if vals[i].type == JS_T_STRING:
            value = _js_str(&vals[i])
        elif vals[i].type == JS_T_INT:
            value = _js_int(&vals[i])
        else:
            value = <object>PyTuple_GET_ITEM(_AI_EMPTY, i)
        Py_INCREF(value)
        PyTuple_SET_ITEM(values, i, value)
    return _new_aibot_message(values, source)


def parse_aibot_message(data):
    """Parse the decrypted JSON of an AI-bot callback into an ``AIBotMessage``."""
    cdef js_value vals[AI_FIELDS_MAX]
    cdef bytes source = _aibot_source(data)
    if _scan_aibot(source, vals):
        return aibot_message(_json.loads(source.decode("utf-8")))
    return _aibot_from_scan(vals, source)


cdef Py_ssize_t _AI_MSGTYPE = [f[0] for f in AIBOT_FIELDS].index("msgtype")
cdef Py_ssize_t _AI_STREAM_ID = [f[0] for f in AIBOT_FIELDS].index("stream_id")


def _parse_aibot_refresh(data):
    """The stream id of a stream refresh (msgtype ``stream``), else the ``AIBotMessage``.

    Checks and errors are parse_aibot_message's; a refresh's message is never built.
    """
    return _refresh_of(_aibot_source(data))


cdef object _refresh_of(bytes source):
    """_parse_aibot_refresh of the message's bytes."""
    cdef js_value vals[AI_FIELDS_MAX]
    cdef const js_value *kind
    if _scan_aibot(source, vals):
        msg = aibot_message(_json.loads(source.decode("utf-8")))
        return msg.stream_id if msg.msgtype == "stream" else msg
    kind = &vals[_AI_MSGTYPE]
    if kind.type == JS_T_STRING and (
            (kind.n == 6 and memcmp(kind.p, b"stream", 6) == 0) if not kind.escaped
            else _js_str(kind) == "stream"):
        return _js_str(&vals[_AI_STREAM_ID]) if vals[_AI_STREAM_ID].type == JS_T_STRING else ""
    return _aibot_from_scan(vals, source)


cdef object _query_timestamp(object msg_signature, object timestamp, object nonce):
    """A callback query's signed values checked as the pure twin's _open_json does; the
    timestamp as an int."""
    cdef Py_ssize_t i, n
    cdef const uint8_t *d
    cdef unsigned long long value = 0
    if not msg_signature or not timestamp or not nonce:
        raise SignatureError(MSG_MISSING_PARAMS)
    if (not isinstance(timestamp, str) or not PyUnicode_IS_ASCII(timestamp)
            or PyUnicode_GET_LENGTH(timestamp) > MAX_TIMESTAMP_DIGITS):
        raise SignatureError(MSG_TIMESTAMP)
    n = PyUnicode_GET_LENGTH(timestamp)
    d = <const uint8_t *>PyUnicode_DATA(timestamp)
    for i in range(n):
        if d[i] < 48 or d[i] > 57:  # ASCII digits: what str.isdigit accepts of ASCII
            raise SignatureError(MSG_TIMESTAMP)
    if n > 19:  # past what an unsigned long long holds
        return int(timestamp)
    for i in range(n):
        value = value * 10 + (d[i] - 48)
    return value


# --------------------------------------------------------------------------- AIBotCrypto

cdef const uint8_t *_json_nonce(object nonce, Py_ssize_t *n, Py_ssize_t *json_n) except NULL:
    """The nonce as signed (its ASCII, n bytes); json_n: its length inside a JSON string."""
    cdef const uint8_t *s
    cdef Py_ssize_t i, quoted
    if not isinstance(nonce, str):
        raise TypeError("nonce must be str")
    n[0] = PyUnicode_GET_LENGTH(nonce)
    if n[0] == 0 or not PyUnicode_IS_ASCII(nonce):
        raise ValueError("nonce must be non-empty printable ASCII")
    s = <const uint8_t *>PyUnicode_DATA(nonce)
    quoted = n[0]
    for i in range(n[0]):
        if s[i] < 0x20 or s[i] > 0x7E:
            raise ValueError("nonce must be non-empty printable ASCII")
        if s[i] == 34 or s[i] == 92:  # " \\
            quoted += 1
    json_n[0] = quoted
    return s


cdef inline char *_put_json_nonce(char *o, const uint8_t *s, Py_ssize_t n) noexcept:
    """Write a checked nonce inside a JSON string ('"' and '\\' escaped)."""
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] == 34 or s[i] == 92:  # " \\
            o[0] = 92
            o += 1
        o[0] = <char>s[i]
        o += 1
    return o


cdef object _json_ts(object timestamp, char *digits, Py_ssize_t *n):
    """The reply's timestamp as a JSON number: written to digits[0:n] (None returned) for an
    int of at most 18 digits or such digits as str, else returned as bytes."""
    cdef long long value
    cdef int overflow = 0
    cdef Py_ssize_t i
    cdef const uint8_t *s
    if type(timestamp) is int:
        value = PyLong_AsLongLongAndOverflow(timestamp, &overflow)
        if overflow == 0 and 0 <= value < 1000000000000000000:
            n[0] = _decimal(<unsigned long long>value, digits)
            return None
    elif type(timestamp) is str and PyUnicode_IS_ASCII(timestamp):
        n[0] = PyUnicode_GET_LENGTH(timestamp)
        s = <const uint8_t *>PyUnicode_DATA(timestamp)
        if 0 < n[0] <= 18 and (n[0] == 1 or s[0] != 48):
            for i in range(n[0]):
                if s[i] < 48 or s[i] > 57:
                    break
            else:
                memcpy(digits, s, <size_t>n[0])
                return None
    ts = _json_timestamp(timestamp)
    n[0] = PyBytes_GET_SIZE(ts)
    return ts


cdef bytes _json_timestamp(object timestamp):
    """The reply's timestamp as a JSON number (digits, no leading zero)."""
    if timestamp is None:
        return str(int(time.time())).encode("ascii")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= 0:
        return str(timestamp).encode("ascii")
    if (isinstance(timestamp, str) and (<str>timestamp).isascii() and (<str>timestamp).isdigit()
            and (len(<str>timestamp) == 1 or (<str>timestamp)[0] != "0")):
        return (<str>timestamp).encode("ascii")
    raise ValueError("timestamp must be a non-negative int or digits without a leading zero")


# The reply envelope around its four values.
cdef bytes _JENV_OPEN = b'{"encrypt":"'
cdef bytes _JENV_SIGNATURE = b'","msgsignature":"'
cdef bytes _JENV_TIMESTAMP = b'","timestamp":'
cdef bytes _JENV_NONCE = b',"nonce":"'
cdef bytes _JENV_CLOSE = b'"}'
cdef Py_ssize_t _JENVELOPE_FIXED = sum(
    len(part) for part in (_JENV_OPEN, _JENV_SIGNATURE, _JENV_TIMESTAMP, _JENV_NONCE, _JENV_CLOSE))

# A plain stream reply around its id and content (aibot.replies.render_stream's JSON).
cdef bytes _JSTREAM_HEAD = b'{"msgtype":"stream","stream":{"id":'
cdef bytes _JSTREAM_FINISHED = b',"finish":true,"content":'
cdef bytes _JSTREAM_OPEN = b',"finish":false,"content":'


cdef struct _JsonJob:
    const char *body
    Py_ssize_t n
    const uint8_t *parts[4]  # token, timestamp, nonce, then encrypt
    Py_ssize_t lens[4]
    const char *given        # the request's 40-character msg_signature, or NULL
    const EVP_CIPHER_CTX *dec
    const char *rid
    Py_ssize_t rid_len
    char *work               # 2 * n bytes: the unescaped encrypt, then the plaintext
    Py_ssize_t msg_len       # out: the message is work[n + 20:n + 20 + msg_len]


cdef int _open_json_body(_JsonJob *job) noexcept nogil:
    """Scan, verify, decrypt and check the frame of a JSON body with no Python object.

    Returns 0 when every check passes, -1 at the first anomaly: the caller then runs the
    checks one by one to raise the error they name.
    """
    cdef js_value val
    cdef int complex_ = 0
    cdef char expected[40]
    cdef const uint8_t *encrypt
    cdef uint8_t *plain = <uint8_t *>job.work + job.n
    cdef Py_ssize_t elen, dlen
    if (js_scan(job.body, <size_t>job.n, _ENCRYPT_FIELD, 1, &val, &complex_) != JS_OK
            or val.type != JS_T_STRING):
        return -1
    if val.escaped:
        elen = <Py_ssize_t>js_unescape(val.p, val.n, job.work)
        encrypt = <const uint8_t *>job.work
    else:
        elen = <Py_ssize_t>val.n
        encrypt = <const uint8_t *>val.p
    job.parts[3] = encrypt
    job.lens[3] = elen
    if (job.given is NULL or _sha1_private(job.parts, job.lens, 4, expected) != 0
            or CRYPTO_memcmp(expected, job.given, 40) != 0):
        return -1
    dlen = wx_b64_decode(encrypt, elen, plain)  # room: elen // 4 * 3 <= n
    if dlen <= 0 or dlen % BLOCK or dlen > INT_MAX - BLOCK:
        return -1
    if _crypt_private(job.dec, plain, dlen) != 0:
        return -1
    job.msg_len = _frame_msg_len(plain, dlen, <const uint8_t *>job.rid, job.rid_len)
    return 0 if job.msg_len >= 0 else -1


cdef class AIBotCrypto:
    # The "--" line makes the first line the class's __text_signature__ (inspect.signature).
    """AIBotCrypto(token, encoding_aes_key, receive_id='')
--

An AI bot's codec: verify, decrypt and encrypt its JSON callbacks."""

    cdef tuple _args
    cdef bytes _token
    cdef _Key _key
    cdef object _receive_id
    cdef bytes _receive_id_b
    cdef bint _ready

    def __cinit__(self, token, encoding_aes_key, receive_id=""):
        if not isinstance(token, str) or not isinstance(receive_id, str):
            raise TypeError("token and receive_id must be str")
        cdef Py_ssize_t n
        cdef const uint8_t *t = _sig_part(token, &n)
        self._token = PyBytes_FromStringAndSize(<const char *>t, n)
        self._key = _get_key(decode_aes_key(encoding_aes_key))
        self._receive_id_b = _corp_bytes(receive_id)
        self._receive_id = receive_id
        self._args = (token, encoding_aes_key, receive_id)

    def __init__(self, token, encoding_aes_key, receive_id=""):
        if self._ready:
            raise TypeError("AIBotCrypto is already initialised")
        self._ready = True

    def __reduce__(self):
        return (type(self), self._args)

    @property
    def receive_id(self):
        """The expected receive id."""
        return self._receive_id

    def __repr__(self):
        return f"AIBotCrypto(receive_id={self._receive_id!r})"

    def verify_url(self, msg_signature, timestamp, nonce, echostr):
        """Check the GET URL verification and return the decrypted echostr."""
        cdef char expected[40]
        _msg_signature_into(self._token, timestamp, nonce, echostr, expected)
        if not _signature_matches(expected, msg_signature):
            raise SignatureError(MSG_SIGNATURE_MISMATCH)
        return _decrypt(self._key, echostr, self._receive_id_b, True)

    def decrypt_json(self, body, msg_signature, timestamp, nonce):
        """Verify the POST body's signature, decrypt it and return the inner JSON."""
        return self._decrypt_json(body, msg_signature, timestamp, nonce)

    def _open_json(self, body, msg_signature, timestamp, nonce):
        """A POST callback's query checks, ``decrypt_json`` and ``_parse_aibot_refresh`` at once."""
        ts = _query_timestamp(msg_signature, timestamp, nonce)
        cdef bytes data = self._decrypt_json(body, msg_signature, timestamp, nonce)
        try:
            parsed = _refresh_of(data)
        except CallbackError:
            parsed = None
        return ts, data, parsed

    cdef bytes _decrypt_json(self, object body, object msg_signature, object timestamp,
                             object nonce):
        cdef Py_ssize_t n
        cdef const char *data = _json_data(body, &n, "body")
        if n >= GIL_MINSIZE:
            out = self._decrypt_large(data, n, msg_signature, timestamp, nonce)
            if out is not None:
                return out
        return self._decrypt_checked(data, n, msg_signature, timestamp, nonce)

    cdef object _decrypt_large(self, const char *data, Py_ssize_t n, object msg_signature,
                               object timestamp, object nonce):
        """The inner JSON when the body opens cleanly in one GIL-free pass, else None."""
        cdef _JsonJob job
        cdef int rc
        job.body = data
        job.n = n
        job.given = _given_signature(msg_signature)
        job.dec = self._key.dec
        job.rid = PyBytes_AS_STRING(self._receive_id_b)
        job.rid_len = PyBytes_GET_SIZE(self._receive_id_b)
        timestamp = _timestamp_obj(timestamp)  # kept alive here: parts[1] may point into it
        try:
            _first_parts(self._token, timestamp, nonce, job.parts, job.lens)
        except Exception:
            return None  # _decrypt_checked raises it in its place among the checks
        with nogil:
            job.work = <char *>malloc(2 * <size_t>n)
            rc = -1 if job.work is NULL else _open_json_body(&job)
        try:
            if rc != 0:
                return None
            return _bytes_of(<const uint8_t *>job.work + n + 20, job.msg_len)
        finally:
            free(job.work)

    cdef object _decrypt_checked(self, const char *data, Py_ssize_t n, object msg_signature,
                                 object timestamp, object nonce):
        """decrypt_json with each check in turn, raising the first that fails."""
        cdef js_value val
        cdef int complex_ = 0
        cdef char expected[40]
        cdef char stackbuf[STACK_BUF]
        cdef char *buf = NULL
        cdef const uint8_t *encrypt
        cdef Py_ssize_t elen
        _scan_json(data, n, _ENCRYPT_FIELD, 1, &val, &complex_, False)
        if val.type != JS_T_STRING:
            raise JSONParseError(MSG_JSON_NO_ENCRYPT)
        try:
            if val.escaped:
                buf = &stackbuf[0] if val.n <= STACK_BUF else <char *>malloc(val.n)
                if buf is NULL:
                    raise MemoryError()
                elen = <Py_ssize_t>js_unescape(val.p, val.n, buf)
                encrypt = <const uint8_t *>buf
            else:
                elen = <Py_ssize_t>val.n
                encrypt = <const uint8_t *>val.p
            _msg_signature_raw(self._token, timestamp, nonce, encrypt, elen, expected)
            if not _signature_matches(expected, msg_signature):
                raise SignatureError(MSG_SIGNATURE_MISMATCH)
            return _decrypt_raw(self._key, encrypt, elen, self._receive_id_b, True)
        finally:
            if buf is not NULL and buf is not &stackbuf[0]:
                free(buf)

    cdef bytes _seal(self, uint8_t *frame, Py_ssize_t total, const uint8_t *nonce,
                     Py_ssize_t nonce_n, Py_ssize_t nonce_json_n, const char *ts, Py_ssize_t ts_n):
        """The signed envelope of the whole frame[0:total] (a multiple of BLOCK, at most
        INT_MAX - BLOCK), which is encrypted in place; nonce and ts checked."""
        # base64 and the signature are written straight into the envelope, as MsgCrypto does
        cdef char *o
        cdef char *sig
        cdef uint8_t *encrypt
        cdef const uint8_t *parts[4]
        cdef Py_ssize_t lens[4]
        cdef Py_ssize_t b64len = (total + 2) // 3 * 4
        cdef int rc = 0
        cdef bytes out = PyBytes_FromStringAndSize(
            NULL, _JENVELOPE_FIXED + b64len + 40 + ts_n + nonce_json_n)
        o = PyBytes_AS_STRING(out)
        o = _put(o, _JENV_OPEN)
        encrypt = <uint8_t *>o
        o = _put(o + b64len, _JENV_SIGNATURE)
        sig = o
        o = _put(o + 40, _JENV_TIMESTAMP)
        memcpy(o, ts, <size_t>ts_n)
        o = _put_json_nonce(_put(o + ts_n, _JENV_NONCE), nonce, nonce_n)
        _put(o, _JENV_CLOSE)
        parts[0] = <const uint8_t *>PyBytes_AS_STRING(self._token)
        lens[0] = PyBytes_GET_SIZE(self._token)
        parts[1] = <const uint8_t *>ts
        lens[1] = ts_n
        parts[2] = nonce
        lens[2] = nonce_n
        parts[3] = encrypt
        lens[3] = b64len
        if total < GIL_MINSIZE:
            self._key.crypt(True, frame, total)
            _b64_encode_into(frame, total, encrypt)
            _sha1_hex(parts, lens, 4, sig)
            return out
        with nogil:
            rc = _crypt_private(self._key.enc, frame, total)
            if rc == 0:
                _b64_encode_into(frame, total, encrypt)
                if _sha1_private(parts, lens, 4, sig) != 0:
                    rc = -2
        if rc == -1:
            raise DecryptError(MSG_CRYPTO_FAILURE)
        if rc == -2:
            raise SignatureError(MSG_CRYPTO_FAILURE)
        return out

    def encrypt_json(self, reply, nonce, timestamp=None):
        """Encrypt ``reply`` (inner JSON) into the signed JSON reply envelope."""
        cdef uint8_t rnd[16]
        cdef uint8_t stackbuf[STACK_BUF]
        cdef uint8_t *buf
        cdef char digits[18]
        cdef Py_ssize_t nonce_n, nonce_json_n, ts_n
        cdef const uint8_t *nonce_s = _json_nonce(nonce, &nonce_n, &nonce_json_n)
        ts_b = _json_ts(timestamp, digits, &ts_n)  # kept alive here: _seal reads it
        msg = _utf8_msg(reply)
        if not isinstance(msg, bytes):
            raise TypeError("random and msg must be bytes")
        cdef Py_ssize_t total = _frame_size(msg, self._receive_id_b)
        buf = &stackbuf[0] if total <= STACK_BUF else <uint8_t *>malloc(total)
        if buf is NULL:
            raise MemoryError()
        try:
            _random16(rnd)
            _fill_frame(buf, rnd, msg, self._receive_id_b, total)
            return self._seal(buf, total, nonce_s, nonce_n, nonce_json_n,
                              <char *>digits if ts_b is None else PyBytes_AS_STRING(ts_b), ts_n)
        finally:
            if buf is not &stackbuf[0]:
                free(buf)

    def _encrypt_stream(self, stream_id, content, finish, nonce, timestamp=None):
        """``encrypt_json`` of a plain stream reply, rendered straight into the frame."""
        cdef uint8_t stackbuf[STACK_BUF]
        cdef uint8_t *buf = &stackbuf[0]
        cdef char *o
        cdef char digits[18]
        cdef Py_ssize_t id_n, content_n, nonce_n, nonce_json_n, ts_n, flen
        cdef const char *id_s = _quotable(stream_id, &id_n)
        cdef bytes middle = _JSTREAM_FINISHED if finish else _JSTREAM_OPEN
        cdef const char *content_s = _quotable(content, &content_n)
        cdef const uint8_t *nonce_s = _json_nonce(nonce, &nonce_n, &nonce_json_n)
        ts_b = _json_ts(timestamp, digits, &ts_n)  # kept alive here: _seal reads it
        cdef Py_ssize_t rid_n = PyBytes_GET_SIZE(self._receive_id_b)
        cdef Py_ssize_t fixed = (PyBytes_GET_SIZE(_JSTREAM_HEAD) + PyBytes_GET_SIZE(middle) + 2
                                 + 20 + BLOCK)
        cdef uint64_t inner, total
        # A short reply is quoted in one pass straight into the stack frame, which has room
        # for its longest possible literals (6 bytes a byte + 2); a longer one is measured
        # first (js_quoted_len), then allocated to size.
        cdef bint one_pass = (id_n <= STACK_BUF and content_n <= STACK_BUF and rid_n <= STACK_BUF
                              and 6 * (id_n + content_n) + 4 + rid_n + fixed <= STACK_BUF)
        if not one_pass:
            inner = (<uint64_t>PyBytes_GET_SIZE(_JSTREAM_HEAD) + js_quoted_len(id_s, <size_t>id_n)
                     + <uint64_t>PyBytes_GET_SIZE(middle)
                     + js_quoted_len(content_s, <size_t>content_n) + 2)
            total = inner + 20 + <uint64_t>rid_n
            total += BLOCK - total % BLOCK
            if total > <uint64_t>(INT_MAX - BLOCK):
                raise OverflowError(MSG_TOO_LONG)
            if total > STACK_BUF:
                buf = <uint8_t *>malloc(<size_t>total)
                if buf is NULL:
                    raise MemoryError()
        try:
            _random16(buf)
            o = _put(<char *>buf + 20, _JSTREAM_HEAD)
            o += js_quote(id_s, <size_t>id_n, o)
            o = _put(o, middle)
            o += js_quote(content_s, <size_t>content_n, o)
            o[0] = 125  # "}}"
            o[1] = 125
            inner = <uint64_t>(o + 2 - (<char *>buf + 20))  # as measured, if it was
            _put_be32(buf + 16, <uint32_t>inner)
            memcpy(o + 2, PyBytes_AS_STRING(self._receive_id_b), <size_t>rid_n)
            flen = 20 + <Py_ssize_t>inner + rid_n
            total = <uint64_t>(flen + BLOCK - flen % BLOCK)
            memset(buf + flen, <int>(<Py_ssize_t>total - flen), <size_t>(<Py_ssize_t>total - flen))
            return self._seal(buf, <Py_ssize_t>total, nonce_s, nonce_n, nonce_json_n,
                              <char *>digits if ts_b is None else PyBytes_AS_STRING(ts_b), ts_n)
        finally:
            if buf is not &stackbuf[0]:
                free(buf)
