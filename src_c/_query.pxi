# Included by _core_c.pyx: a callback URL's query string.

# --------------------------------------------------------------------------- query

def _plain_query(query_string):
    """``{name: first value}`` of an ASCII query string without escapes ('%', '+'), else
    None (``parse_query``'s own path then decodes it)."""
    cdef const char *s
    cdef const char *end
    cdef const char *part_end
    cdef const char *eq
    cdef Py_ssize_t n
    cdef dict out
    if type(query_string) is not str or not PyUnicode_IS_ASCII(query_string):
        return None
    s = <const char *>PyUnicode_DATA(query_string)
    n = PyUnicode_GET_LENGTH(query_string)
    if memchr(s, 37, <size_t>n) is not NULL or memchr(s, 43, <size_t>n) is not NULL:
        return None
    out = {}
    end = s + n
    while True:
        part_end = <const char *>memchr(s, 38, <size_t>(end - s))  # "&"
        if part_end is NULL:
            part_end = end
        if part_end > s:
            eq = <const char *>memchr(s, 61, <size_t>(part_end - s))  # "="
            if eq is NULL:
                out.setdefault(PyUnicode_DecodeASCII(s, part_end - s, NULL), "")
            else:
                out.setdefault(PyUnicode_DecodeASCII(s, eq - s, NULL),
                               PyUnicode_DecodeASCII(eq + 1, part_end - eq - 1, NULL))
        if part_end == end:
            return out
        s = part_end + 1
