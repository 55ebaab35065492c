"""The strict JSON scanner of the AI-bot envelope and messages (jsonscan.h)."""

cdef extern from "jsonscan.h":
    enum:
        JS_OK
        JS_MALFORMED
        JS_DEPTH
        JS_NUMBER
        JS_DUPLICATE
        JS_NOT_OBJECT
        JS_NOMEM
        JS_MAX_DEPTH
        JS_MAX_NUMBER
        JS_PATH_MAX
        JS_MAX_FIELDS
    enum:
        JS_K_ANY
        JS_K_STR
        JS_K_INT
        JS_K_TREE
    enum:
        JS_T_NONE
        JS_T_STRING
        JS_T_INT
    ctypedef struct js_field:
        const char *key[3]
        size_t len[3]
        int depth
        int kind
    ctypedef struct js_value:
        const char *p
        size_t n
        int type
        int escaped
    int js_scan(const char *data, size_t len, const js_field *fields, int nfields,
                js_value *values, int *complex) nogil
    size_t js_unescape(const char *s, size_t n, char *out) nogil
    size_t js_quoted_len(const char *s, size_t n) nogil
    size_t js_quote(const char *s, size_t n, char *out) nogil
