/* Strict JSON validator with field capture: see jsonscan.h. */
#include "jsonscan.h"

#include <stdlib.h>
#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull
#define HAS_ZERO(v) (((v) - ONES) & ~(v) & HIGH)
#define INLINE_KEYS 32
#define INT_DIGITS_MAX 18
#define PAIRWISE_MAX 16  /* objects with more keys are sorted to find a duplicate */

/* The index of the lowest set bit of a non-zero mask. */
#if defined(__GNUC__) || defined(__clang__)
#define LOWEST_BIT(m) __builtin_ctzll(m)
#else
static int lowest_bit(uint64_t m)
{
    int i = 0;
    while (!(m & 1)) {
        m >>= 1;
        i++;
    }
    return i;
}
#define LOWEST_BIT(m) lowest_bit(m)
#endif

typedef struct {
    const char *p;
    size_t n;
} js_key;

typedef struct {
    const unsigned char *s;
    size_t n;
    size_t pos;
    const js_field *fields;
    js_value *values;
    int complex;
    js_key *keys;      /* keys of the open objects, innermost last */
    size_t nkeys;
    size_t cap;
    char *scratch;     /* unescaped keys (allocated on the first escaped key), n bytes */
    size_t scratch_used;
    js_key inline_keys[INLINE_KEYS];
} js_state;

/* Whether any of 8 bytes is a control character, non-ASCII, '"' or '\\'. */
static inline uint64_t special8(uint64_t w)
{
    return (w & HIGH) | ((w - ONES * 0x20) & ~w & HIGH) | HAS_ZERO(w ^ (ONES * 0x22)) |
           HAS_ZERO(w ^ (ONES * 0x5C));
}

static inline void skip_ws(js_state *st)
{
    while (st->pos < st->n) {
        unsigned char c = st->s[st->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        st->pos++;
    }
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The length of the valid UTF-8 sequence at s[i] (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i], lo = 0x80, hi = 0xBF;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return (n - i >= 2 && (s[i + 1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;  /* no UTF-8 encoded surrogates */
        if (n - i < 3 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n - i < 4 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 ||
        (s[i + 3] & 0xC0) != 0x80)
        return 0;
    return 4;
}

/* A string token at st->pos ('"'): validate it, leave pos after the closing quote. */
static int scan_string(js_state *st, size_t *start, size_t *len, int *escaped)
{
    const unsigned char *s = st->s;
    size_t n = st->n, i = st->pos + 1;
    unsigned cu, lo;
    int esc = 0;
    *start = i;
    for (;;) {
        while (n - i >= 8) {  /* i <= n holds throughout */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (special8(w))
                break;
            i += 8;
        }
        if (i >= n)
            return JS_MALFORMED;
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            esc = 1;
            if (n - i < 2)
                return JS_MALFORMED;
            switch (s[i + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                i += 2;
                continue;
            case 'u':
                if (n - i < 6 || hex4(s + i + 2, &cu) != 0)
                    return JS_MALFORMED;
                i += 6;
                if (cu >= 0xDC00 && cu <= 0xDFFF)
                    return JS_MALFORMED;  /* a low surrogate with no high one before it */
                if (cu >= 0xD800 && cu <= 0xDBFF) {
                    if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
                        hex4(s + i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return JS_MALFORMED;
                    i += 6;
                }
                continue;
            default:
                return JS_MALFORMED;
            }
        }
        if (c < 0x20)
            return JS_MALFORMED;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s, n, i);
        if (k == 0)
            return JS_MALFORMED;
        i += k;
    }
    *len = i - *start;
    *escaped = esc;
    st->pos = i + 1;
    return JS_OK;
}

/* A number token at st->pos, read as the regular expression
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? reads it (optional parts only when whole). */
static int scan_number(js_state *st, js_value *rec)
{
    const unsigned char *s = st->s;
    size_t n = st->n, start = st->pos, i = st->pos, j;
    int type = JS_T_INT;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return JS_MALFORMED;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return JS_MALFORMED;
    if (n - i >= 2 && s[i] == '.' && is_digit(s[i + 1])) {
        i += 2;
        while (i < n && is_digit(s[i]))
            i++;
        type = JS_T_NUMBER;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && is_digit(s[j])) {
            i = j + 1;
            while (i < n && is_digit(s[i]))
                i++;
            type = JS_T_NUMBER;
        }
    }
    if (i - start > JS_MAX_NUMBER)
        return JS_NUMBER;
    st->pos = i;
    rec->p = (const char *)s + start;
    rec->n = i - start;
    rec->type = type;
    return JS_OK;
}

static int scan_literal(js_state *st, const char *word, size_t len, int type, js_value *rec)
{
    if (st->n - st->pos < len || memcmp(st->s + st->pos, word, len) != 0)
        return JS_MALFORMED;
    rec->p = (const char *)st->s + st->pos;
    rec->n = len;
    rec->type = type;
    st->pos += len;
    return JS_OK;
}

static int push_key(js_state *st, const char *p, size_t n)
{
    if (st->nkeys == st->cap) {
        size_t cap = st->cap * 2;
        js_key *keys = (js_key *)malloc(cap * sizeof(js_key));
        if (keys == NULL)
            return JS_NOMEM;
        memcpy(keys, st->keys, st->nkeys * sizeof(js_key));
        if (st->keys != st->inline_keys)
            free(st->keys);
        st->keys = keys;
        st->cap = cap;
    }
    st->keys[st->nkeys].p = p;
    st->keys[st->nkeys].n = n;
    st->nkeys++;
    return JS_OK;
}

static int key_cmp(const void *a, const void *b)
{
    const js_key *x = (const js_key *)a, *y = (const js_key *)b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

static int has_duplicate(js_key *keys, size_t count)
{
    size_t i, j;
    if (count <= PAIRWISE_MAX) {
        for (i = 1; i < count; i++)
            for (j = 0; j < i; j++)
                if (key_cmp(&keys[i], &keys[j]) == 0)
                    return 1;
        return 0;
    }
    qsort(keys, count, sizeof(js_key), key_cmp);  /* the object's keys are popped next */
    for (i = 1; i < count; i++)
        if (key_cmp(&keys[i], &keys[i - 1]) == 0)
            return 1;
    return 0;
}

static int scan_value(js_state *st, int depth, uint64_t mask, int level, js_value *rec);

/* Apply a recorded value to the field it belongs to. */
static void capture(js_state *st, int f, const js_value *rec)
{
    int kind = st->fields[f].kind;
    if (kind == JS_K_ANY) {
        st->values[f] = *rec;
        return;
    }
    if (rec->type == JS_T_NULL)
        return;  /* absent */
    if (kind == JS_K_STR && rec->type == JS_T_STRING) {
        st->values[f] = *rec;
        return;
    }
    if (kind == JS_K_INT && rec->type == JS_T_INT &&
        rec->n - (rec->p[0] == '-' ? 1 : 0) <= INT_DIGITS_MAX) {
        st->values[f] = *rec;
        return;
    }
    st->complex = 1;  /* JS_K_TREE, or the wrong type */
}

/* An object at st->pos ('{') whose path matches the fields in mask on its first level keys. */
static int scan_object(js_state *st, int depth, uint64_t mask, int level)
{
    size_t mark = st->nkeys, scratch_mark = st->scratch_used;
    int rc;
    st->pos++;
    skip_ws(st);
    if (st->pos < st->n && st->s[st->pos] == '}') {
        st->pos++;
        return JS_OK;
    }
    for (;;) {
        size_t kstart, klen;
        int kesc;
        const char *key;
        uint64_t leaves = 0, deeper = 0;
        js_value rec = {NULL, 0, JS_T_NONE, 0};
        if (st->pos >= st->n || st->s[st->pos] != '"')
            return JS_MALFORMED;
        rc = scan_string(st, &kstart, &klen, &kesc);
        if (rc != JS_OK)
            return rc;
        key = (const char *)st->s + kstart;
        if (kesc) {
            if (st->scratch == NULL) {
                st->scratch = (char *)malloc(st->n ? st->n : 1);
                if (st->scratch == NULL)
                    return JS_NOMEM;
            }
            char *out = st->scratch + st->scratch_used;  /* room: keys are unescaped shorter */
            klen = js_unescape(key, klen, out);
            st->scratch_used += klen;
            key = out;
        }
        rc = push_key(st, key, klen);
        if (rc != JS_OK)
            return rc;
        if (mask) {
            uint64_t rest = mask;
            while (rest) {
                int f = LOWEST_BIT(rest);
                const js_field *fd = &st->fields[f];
                rest &= rest - 1;
                if (fd->len[level] != klen || memcmp(fd->key[level], key, klen) != 0)
                    continue;
                if (fd->depth == level + 1)
                    leaves |= 1ull << f;
                else
                    deeper |= 1ull << f;
            }
        }
        skip_ws(st);
        if (st->pos >= st->n || st->s[st->pos] != ':')
            return JS_MALFORMED;
        st->pos++;
        skip_ws(st);
        rc = scan_value(st, depth, deeper, level + 1, &rec);
        if (rc != JS_OK)
            return rc;
        while (leaves) {
            capture(st, LOWEST_BIT(leaves), &rec);
            leaves &= leaves - 1;
        }
        if (deeper && rec.type != JS_T_OBJECT && rec.type != JS_T_NULL)
            st->complex = 1;  /* a value on the path to a field is not an object */
        skip_ws(st);
        if (st->pos >= st->n)
            return JS_MALFORMED;
        if (st->s[st->pos] == ',') {
            st->pos++;
            skip_ws(st);
            continue;
        }
        if (st->s[st->pos] != '}')
            return JS_MALFORMED;
        st->pos++;
        break;
    }
    if (has_duplicate(st->keys + mark, st->nkeys - mark))
        return JS_DUPLICATE;
    st->nkeys = mark;
    st->scratch_used = scratch_mark;
    return JS_OK;
}

static int scan_array(js_state *st, int depth)
{
    int rc;
    st->pos++;
    skip_ws(st);
    if (st->pos < st->n && st->s[st->pos] == ']') {
        st->pos++;
        return JS_OK;
    }
    for (;;) {
        js_value rec = {NULL, 0, JS_T_NONE, 0};
        rc = scan_value(st, depth, 0, 0, &rec);
        if (rc != JS_OK)
            return rc;
        skip_ws(st);
        if (st->pos >= st->n)
            return JS_MALFORMED;
        if (st->s[st->pos] == ',') {
            st->pos++;
            skip_ws(st);
            continue;
        }
        if (st->s[st->pos] != ']')
            return JS_MALFORMED;
        st->pos++;
        return JS_OK;
    }
}

/* The value at st->pos inside depth open containers; mask: fields to look for below it. */
static int scan_value(js_state *st, int depth, uint64_t mask, int level, js_value *rec)
{
    size_t start, len;
    int esc, rc;
    if (st->pos >= st->n)
        return JS_MALFORMED;
    switch (st->s[st->pos]) {
    case '{':
    case '[':
        if (depth >= JS_MAX_DEPTH)
            return JS_DEPTH;
        rec->p = (const char *)st->s + st->pos;
        rec->n = 1;
        if (st->s[st->pos] == '[') {
            rec->type = JS_T_ARRAY;
            return scan_array(st, depth + 1);
        }
        rec->type = JS_T_OBJECT;
        return scan_object(st, depth + 1, mask, level);
    case '"':
        rc = scan_string(st, &start, &len, &esc);
        if (rc != JS_OK)
            return rc;
        rec->p = (const char *)st->s + start;
        rec->n = len;
        rec->type = JS_T_STRING;
        rec->escaped = esc;
        return JS_OK;
    case 't':
        return scan_literal(st, "true", 4, JS_T_TRUE, rec);
    case 'f':
        return scan_literal(st, "false", 5, JS_T_FALSE, rec);
    case 'n':
        return scan_literal(st, "null", 4, JS_T_NULL, rec);
    default:
        return scan_number(st, rec);
    }
}

int js_scan(const char *data, size_t len, const js_field *fields, int nfields,
            js_value *values, int *complex)
{
    js_state st;
    int rc, f;
    uint64_t mask;
    if (nfields < 0 || nfields > JS_MAX_FIELDS)
        return JS_NOMEM;
    for (f = 0; f < nfields; f++)
        if (fields[f].depth < 1 || fields[f].depth > JS_PATH_MAX)
            return JS_NOMEM;
    for (f = 0; f < nfields; f++) {
        values[f].p = NULL;
        values[f].n = 0;
        values[f].type = JS_T_NONE;
        values[f].escaped = 0;
    }
    mask = nfields == JS_MAX_FIELDS ? ~0ull : (1ull << nfields) - 1;
    st.s = (const unsigned char *)data;
    st.n = len;
    st.pos = 0;
    st.fields = fields;
    st.values = values;
    st.complex = 0;
    st.keys = st.inline_keys;
    st.nkeys = 0;
    st.cap = INLINE_KEYS;
    st.scratch = NULL;
    st.scratch_used = 0;
    skip_ws(&st);
    if (st.pos >= st.n)
        rc = JS_MALFORMED;
    else if (st.s[st.pos] != '{')
        rc = JS_NOT_OBJECT;
    else {
        rc = scan_object(&st, 1, mask, 0);
        if (rc == JS_OK) {
            skip_ws(&st);
            if (st.pos != st.n)
                rc = JS_MALFORMED;
        }
    }
    if (st.keys != st.inline_keys)
        free(st.keys);
    free(st.scratch);
    *complex = st.complex;
    return rc;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t js_unescape(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    unsigned cp, lo;
    while (i < n) {
        const unsigned char *b = (const unsigned char *)memchr(u + i, '\\', n - i);
        size_t run = b == NULL ? n - i : (size_t)(b - (u + i));
        memcpy(out + o, u + i, run);
        o += run;
        i += run;
        if (i >= n || n - i < 2)
            break;
        switch (u[i + 1]) {
        case 'b': out[o++] = '\b'; i += 2; break;
        case 'f': out[o++] = '\f'; i += 2; break;
        case 'n': out[o++] = '\n'; i += 2; break;
        case 'r': out[o++] = '\r'; i += 2; break;
        case 't': out[o++] = '\t'; i += 2; break;
        case 'u':
            /* js_scan validated the escape; the checks only keep reads in bounds */
            if (n - i < 6 || hex4(u + i + 2, &cp) != 0)
                return o;
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (n - i < 6 || hex4(u + i + 2, &lo) != 0)
                    return o;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += put_utf8(out + o, cp);
            break;
        default:  /* '"', '\\', '/' */
            out[o++] = (char)u[i + 1];
            i += 2;
            break;
        }
    }
    return o;
}

/* The escape letter of byte c in a JSON string literal ('u': \u00xx), 0 for a byte written
 * as it is (0x80 and above too). */
static const unsigned char ESCAPE_LETTER[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
};

/* Flags (bit 7 of a byte) of the bytes of a load_le64 word that need an escape: control
 * characters, '"' and '\\' (0x80 and above pass). A borrow can flag a byte after a flagged
 * one, never before: the first flag is exact, and no flag at all means none to escape. */
static inline uint64_t quote8(uint64_t w)
{
    return ((w - ONES * 0x20) & ~w & HIGH) | HAS_ZERO(w ^ (ONES * 0x22)) |
           HAS_ZERO(w ^ (ONES * 0x5C));
}

/* 8 bytes as a word whose low bits hold the first byte (for first_flagged). */
static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The index (0..7) of the first flagged byte of a non-zero mask of a load_le64 word. */
static inline size_t first_flagged(uint64_t m)
{
#if defined(__GNUC__) || defined(__clang__)
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    size_t k = 0;
    while (!(m & 0x80)) {
        m >>= 8;
        k++;
    }
    return k;
#endif
}

/* Both go 8 bytes a step while 8 remain; a word with a byte to escape jumps to that byte
 * (the bytes before it are plain), and the last 0..7 bytes go one at a time. */
size_t js_quoted_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len = n + 2;
    unsigned char e;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t m = quote8(load_le64(u + i));
            if (!m) {
                i += 8;
                continue;
            }
            i += first_flagged(m);
        }
        e = ESCAPE_LETTER[u[i++]];
        if (e)
            len += e == 'u' ? 5 : 1;
    }
    return len;
}

size_t js_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0, k;
    unsigned char c, e;
    out[o++] = '"';
    while (i < n) {
        if (n - i >= 8) {
            uint64_t m = quote8(load_le64(u + i));
            /* All 8 bytes are stored as they are, then o advances past the plain ones only.
             * In bounds: the rest of the literal takes at least n - i + 1 >= 9 bytes. */
            memcpy(out + o, u + i, 8);
            if (!m) {
                i += 8;
                o += 8;
                continue;
            }
            k = first_flagged(m);
            i += k;
            o += k;
        }
        c = u[i++];
        e = ESCAPE_LETTER[c];
        if (!e) {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        out[o++] = (char)e;
        if (e == 'u') {
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o++] = '"';
    return o;
}
