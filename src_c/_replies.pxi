# Included by _core_c.pyx: the inner XML of a text reply, written in one pass.

# --------------------------------------------------------------------------- text reply

cdef bytes _TR_TO = b"<xml><ToUserName><![CDATA["
cdef bytes _TR_FROM = b"]]></ToUserName><FromUserName><![CDATA["
cdef bytes _TR_TIME = b"]]></FromUserName><CreateTime>"
cdef bytes _TR_CONTENT = b"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
cdef bytes _TR_CLOSE = b"]]></Content></xml>"
cdef Py_ssize_t _TR_FIXED = sum(
    len(part) for part in (_TR_TO, _TR_FROM, _TR_TIME, _TR_CONTENT, _TR_CLOSE))


cdef const uint8_t *_cdata_plain(str text, Py_ssize_t *n):
    """The UTF-8 of text when one CDATA section holds it as it is, else NULL (no error set):
    a character to refuse (controls but tab and LF, lone surrogates, U+FFFE, U+FFFF), a CR
    or ']]>' to write in pieces."""
    cdef const uint8_t *s
    cdef Py_ssize_t i
    if PyUnicode_IS_ASCII(text):
        s = <const uint8_t *>PyUnicode_DATA(text)
        n[0] = PyUnicode_GET_LENGTH(text)
    else:
        try:
            s = <const uint8_t *>PyUnicode_AsUTF8AndSize(text, n)
        except UnicodeEncodeError:  # a lone surrogate
            return NULL
    for i in range(n[0]):
        if s[i] < 0x20:
            if s[i] != 9 and s[i] != 10:
                return NULL
        elif s[i] == 62:  # ">" after "]]"
            if i >= 2 and s[i - 1] == 93 and s[i - 2] == 93:
                return NULL
        elif s[i] == 0xEF:  # U+FFFE, U+FFFF
            if i + 2 < n[0] and s[i + 1] == 0xBF and (s[i + 2] == 0xBE or s[i + 2] == 0xBF):
                return NULL
    return s


def _text_reply(to_user_name, from_user_name, create_time, content):
    """A text reply's inner XML in one pass, or None where ``TextReply.render``'s own path
    must write it (a character to escape or refuse, a value of another type, a create_time
    outside 0 to 10**18)."""
    cdef const uint8_t *to
    cdef const uint8_t *frm
    cdef const uint8_t *text
    cdef Py_ssize_t to_n, frm_n, text_n, ts_n
    cdef char digits[20]
    cdef long long value
    cdef int overflow = 0
    cdef char *o
    if (type(to_user_name) is not str or type(from_user_name) is not str
            or type(content) is not str or type(create_time) is not int):
        return None
    value = PyLong_AsLongLongAndOverflow(create_time, &overflow)
    if overflow or not 0 <= value < 1000000000000000000:
        return None
    to = _cdata_plain(to_user_name, &to_n)
    frm = _cdata_plain(from_user_name, &frm_n)
    text = _cdata_plain(content, &text_n)
    if to is NULL or frm is NULL or text is NULL:
        return None
    ts_n = _decimal(<unsigned long long>value, digits)
    cdef bytes out = PyBytes_FromStringAndSize(
        NULL, _TR_FIXED + to_n + frm_n + ts_n + text_n)
    o = _put(PyBytes_AS_STRING(out), _TR_TO)
    memcpy(o, to, <size_t>to_n)
    o = _put(o + to_n, _TR_FROM)
    memcpy(o, frm, <size_t>frm_n)
    o = _put(o + frm_n, _TR_TIME)
    memcpy(o, digits, <size_t>ts_n)
    o = _put(o + ts_n, _TR_CONTENT)
    memcpy(o, text, <size_t>text_n)
    _put(o + text_n, _TR_CLOSE)
    return out
