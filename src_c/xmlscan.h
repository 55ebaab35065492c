/* One-pass, allocation-free XML well-formedness scanner for WeChat callback documents.
 *
 * It accepts exactly what pyexpat (with protocol encoding UTF-8) accepts, minus
 * DOCTYPE (refused), minus non-ASCII names (elements, attributes, PI targets), and
 * minus nesting deeper than XS_MAX_DEPTH; see wxcorp_fast/_core_py.py, the specification.
 * It never reads outside [data, data + len) and never writes outside the scratch buffer.
 */
#ifndef WXCORP_XMLSCAN_H
#define WXCORP_XMLSCAN_H

#include <stddef.h>

#define XS_MAX_DEPTH 64  /* keep equal to _spec.MAX_XML_DEPTH */

enum {
    XS_OK = 0,
    XS_MALFORMED = 1,   /* not well-formed, or outside the accepted subset */
    XS_DOCTYPE = 2,     /* <!DOCTYPE in the prolog, everything before it well-formed */
    XS_DEPTH = 3,       /* a start tag would open element number XS_MAX_DEPTH + 1 */
    XS_NOMEM = 4,       /* an internal allocation failed */
    XS_HANDLER = -1     /* a handler returned non-zero (its error is pending) */
};

typedef struct {
    /* A start tag (or empty-element tag) was fully validated; name is ASCII. */
    int (*start)(void *ctx, const char *name, size_t name_len);
    /* An element closed. text is the decoded character data (UTF-8, entities and
     * character references decoded, CDATA verbatim, line ends normalised to \n) seen
     * since the element's start tag or its last child's end; it lives in scratch and
     * is valid only during the call. */
    int (*end)(void *ctx, const char *name, size_t name_len, const char *text, size_t text_len);
} xs_handlers;

/* Scan data[0:len]; scratch must hold at least len bytes. Returns an XS_* code. */
int xs_parse(const char *data, size_t len, char *scratch, const xs_handlers *h, void *ctx);

#endif
