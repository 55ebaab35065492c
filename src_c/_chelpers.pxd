"""The C helpers of the compiled core: base64, copies, UTF-8, the XML scanner."""

from libc.stdint cimport uint8_t

cdef extern from "b64.h":
    void wx_b64_init() noexcept
    void wx_b64_encode(const uint8_t *data, size_t n, uint8_t *o) noexcept nogil
    bint wx_b64_is_digit(uint8_t c) noexcept nogil
    unsigned wx_b64_value(uint8_t c) noexcept nogil
    void wx_b64_decode_quads(const uint8_t *s, size_t n, uint8_t *out) noexcept nogil
    # the decoded length, or -1 (a character outside the alphabet) / -2 (bad padding)
    Py_ssize_t wx_b64_decode(const uint8_t *s, size_t n, uint8_t *out) noexcept nogil

cdef extern from "fork.h":
    int wx_fork_watch() noexcept
    unsigned long wx_forks_now() noexcept nogil

cdef extern from "copy.h":
    void _copy "wx_copy" (void *dst, const void *src, size_t n) noexcept nogil

cdef extern from "utf8.h":
    void _utf8_init "wx_utf8_init" () noexcept
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
