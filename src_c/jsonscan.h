/* Strict one-pass JSON validator for WeChat Work AI-bot callbacks, with field capture.
 *
 * It accepts exactly RFC 8259 JSON in UTF-8 whose top level is one object, and refuses what
 * the pure twin (wxcorp_fast/_core_py.py, the specification) refuses, in the same order: the
 * first problem in document order wins. Refused: invalid UTF-8 (overlongs, encoded
 * surrogates, above U+10FFFF), control characters in strings (NUL included), unknown escapes,
 * a \u escape of a lone surrogate, leading zeros, NaN and other non-JSON, trailing data,
 * nesting deeper than JS_MAX_DEPTH (reported at the opening bracket), number tokens longer
 * than JS_MAX_NUMBER bytes (reported when the token ends), and two equal keys in one object
 * (compared after unescaping, reported when the object closes).
 *
 * Capture: the caller lists fields by key path (up to JS_PATH_MAX keys, objects only); the
 * scan records where each field's value lies. It never reads outside [data, data + len),
 * never calls Python and may run without the GIL. Its allocations (key stack, unescaped
 * keys) are freed before it returns.
 */
#ifndef WXCORP_JSONSCAN_H
#define WXCORP_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JS_MAX_DEPTH 64    /* keep equal to _spec.MAX_JSON_DEPTH */
#define JS_MAX_NUMBER 640  /* keep equal to _spec.MAX_JSON_NUMBER */
#define JS_PATH_MAX 3
#define JS_MAX_FIELDS 64

enum {
    JS_OK = 0,
    JS_MALFORMED = 1,   /* not well-formed JSON */
    JS_DEPTH = 2,       /* a container would open level JS_MAX_DEPTH + 1 */
    JS_NUMBER = 3,      /* a number token longer than JS_MAX_NUMBER bytes */
    JS_DUPLICATE = 4,   /* an object holds two equal keys */
    JS_NOT_OBJECT = 5,  /* the first token is not '{' */
    JS_NOMEM = 6        /* an allocation failed */
};

/* What a field accepts. A value of another type (null excepted: it counts as absent) marks
 * the document "complex": the caller then converts it the slow, checking way. */
enum {
    JS_K_ANY = 0,   /* record any value */
    JS_K_STR = 1,   /* a string */
    JS_K_INT = 2,   /* an integer literal of at most 18 digits (no fraction, no exponent) */
    JS_K_TREE = 3   /* present and not null: mark the document complex */
};

/* The type of a recorded value. */
enum {
    JS_T_NONE = 0,  /* not seen (or null for a typed field) */
    JS_T_STRING,
    JS_T_INT,       /* an integer literal */
    JS_T_NUMBER,    /* a number with a fraction or an exponent */
    JS_T_TRUE,
    JS_T_FALSE,
    JS_T_NULL,
    JS_T_OBJECT,
    JS_T_ARRAY
};

typedef struct {
    const char *key[JS_PATH_MAX];  /* UTF-8 keys, outermost first */
    size_t len[JS_PATH_MAX];
    int depth;                     /* number of keys, 1..JS_PATH_MAX */
    int kind;                      /* JS_K_* */
} js_field;

typedef struct {
    const char *p;   /* strings: the content between the quotes, escapes not decoded;
                        other values: the token (containers: the opening bracket only) */
    size_t n;
    int type;        /* JS_T_* */
    int escaped;     /* a string holding a backslash */
} js_value;

/* Scan data[0:len]. fields[0:nfields] (nfields <= JS_MAX_FIELDS) are captured into
 * values[0:nfields] (reset here); *complex is set when a field's value (or a value on the
 * path to it) has the wrong type. Returns a JS_* code. */
int js_scan(const char *data, size_t len, const js_field *fields, int nfields,
            js_value *values, int *complex);

/* Decode the content of a string js_scan accepted (s[0:n], between the quotes) into out,
 * which must hold n bytes; returns the number of UTF-8 bytes written (at most n). */
size_t js_unescape(const char *s, size_t n, char *out);

/* JSON string literals as Python's json.encoder.encode_basestring writes them (then UTF-8):
 * '"' and '\\' escaped, \b \f \n \r \t, other bytes below 0x20 as \u00xx, the rest as is.
 * js_quoted_len gives the literal's length, quotes included (at most 6 * n + 2); js_quote
 * writes it into out, which must hold that many bytes, and returns that length. */
size_t js_quoted_len(const char *s, size_t n);
size_t js_quote(const char *s, size_t n, char *out);

#endif
