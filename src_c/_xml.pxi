# Included by _core_c.pyx: the XML envelope and message parsers.

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
    return _message_of(xml)


cdef object _message_of(object xml):
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
