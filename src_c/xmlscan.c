/* One-pass XML well-formedness scanner for WeChat callback documents; see xmlscan.h.
 *
 * The specification is _parse_tree() in wxcorp_fast/_core_py.py: pyexpat created with
 * ParserCreate("UTF-8"), a DOCTYPE in the prolog refused, names restricted to ASCII and
 * nesting limited to XS_MAX_DEPTH. Each function scans one XML 1.0 production and
 * checks exactly what expat checks there; the first error stops the scan.
 *
 * The specification refuses a NUL byte anywhere before parsing (expat would sniff UTF-16
 * from it), so a NUL also turns a too-deep document into a malformed one.
 *
 * Plain C99: no recursion, no regex, no library but <string.h> and <stdlib.h>; every
 * read is bounds-checked against the end pointer, and the time is linear in len but
 * for duplicate attribute detection, which stays within O(n log n) in the worst case.
 */
#include "xmlscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef unsigned char u8;

/* Byte classes of character data. */
enum {
    B_PL, /* ASCII Char without markup meaning: TAB, LF, 0x20..0x7F except < & ] */
    B_LT, /* '<' */
    B_AM, /* '&' */
    B_RB, /* ']': "]]>" is refused in content and closes a CDATA section */
    B_CR, /* CR: CRLF and lone CR become LF */
    B_U2, /* C2..DF: lead byte of a 2-byte UTF-8 sequence */
    B_U3, /* E0..EF: lead byte of a 3-byte sequence */
    B_U4, /* F0..F4: lead byte of a 4-byte sequence */
    B_XX  /* never a Char: NUL, the other C0 controls, 80..C1, F5..FF */
};

static const u8 K[256] = {
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_PL, B_PL, B_XX, B_XX, B_CR, B_XX, B_XX, /* 00 */
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* 10 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_AM, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, /* 20 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_LT, B_PL, B_PL, B_PL, /* 30 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, /* 40 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_RB, B_PL, B_PL, /* 50 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, /* 60 */
    B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, B_PL, /* 70 */
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* 80 */
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* 90 */
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* A0 */
    B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* B0 */
    B_XX, B_XX, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, /* C0 */
    B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, B_U2, /* D0 */
    B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, B_U3, /* E0 */
    B_U4, B_U4, B_U4, B_U4, B_U4, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, B_XX, /* F0 */
};

/* ASCII name and white-space bits (expat without namespaces; ':' is a name char).
 * Bytes >= 0x80 have none: non-ASCII names are refused. */
#define N_START 1 /* NameStartChar: [A-Za-z_:] */
#define N_CHAR 2  /* NameChar: [A-Za-z0-9_:.-] */
#define N_S 4     /* S: space, TAB, LF, CR */

static const u8 N[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 0, 0, 4, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, /* 20 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 0, 0, 0, 0, 0, /* 30 */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3, /* 50 */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, /* 70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* A0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* B0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* C0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* D0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* E0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* F0 */
};

#define IS_S(c) (N[(c)] & N_S)
#define IS_ALPHA(c) ((unsigned)(((c) | 0x20) - 'a') < 26u)

/* Forced inlining of the hot little helpers (a hint; plain C99 without it). */
#if defined(__GNUC__)
#define XS_INLINE __inline__ __attribute__((always_inline))
#elif defined(_MSC_VER)
#define XS_INLINE __forceinline
#else
#define XS_INLINE
#endif

/* Attribute names checked pairwise up to this count, sorted beyond it. */
#define SMALL_ATTS 16

/* An attribute name. For the merge sort, key packs its first 8 bytes (big-endian,
 * zero-padded) so that most comparisons are one integer comparison. */
typedef struct {
    const u8 *s;
    size_t n;
    uint64_t key;
} span;

/* Char (non-ASCII part): the length of the UTF-8 sequence at p whose lead byte has
 * class k, or 0 when it is truncated, overlong, a surrogate, above U+10FFFF, U+FFFE
 * or U+FFFF, or when k is not a lead class. */
static XS_INLINE size_t utf8_char(const u8 *p, const u8 *e, unsigned k)
{
    size_t room = (size_t)(e - p);
    u8 a;
    if (k == B_U2)
        return room >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (k == B_U3) {
        if (room < 3)
            return 0;
        a = p[1];
        if ((a & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (p[0] == 0xE0)
            return a >= 0xA0 ? 3 : 0; /* overlong */
        if (p[0] == 0xED)
            return a <= 0x9F ? 3 : 0; /* UTF-16 surrogate */
        if (p[0] == 0xEF && a == 0xBF && p[2] >= 0xBE)
            return 0; /* U+FFFE, U+FFFF */
        return 3;
    }
    if (k == B_U4) {
        if (room < 4)
            return 0;
        a = p[1];
        if ((a & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (p[0] == 0xF0)
            return a >= 0x90 ? 4 : 0; /* overlong */
        if (p[0] == 0xF4)
            return a <= 0x8F ? 4 : 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Reference ::= EntityRef | CharRef, p just after '&'.
 * EntityRef: only lt gt amp apos quot exist (there is no DTD).
 * CharRef ::= '&#' [0-9]+ ';' | '&#x' [0-9a-fA-F]+ ';' naming a Char (expat: leading
 * zeros allowed; no 0, no C0 control but TAB LF CR, no surrogate, no U+FFFE/U+FFFF).
 * When out is not NULL the character is appended there as UTF-8.
 * Returns the position after ';', or NULL. */
static const u8 *scan_ref(const u8 *p, const u8 *e, char **out)
{
    size_t room = (size_t)(e - p);
    const u8 *d;
    uint32_t v = 0;
    char *o;
    if (room == 0)
        return NULL;
    if (*p != '#') {
        char ch;
        if (room >= 3 && (p[0] == 'l' || p[0] == 'g') && p[1] == 't' && p[2] == ';') {
            ch = p[0] == 'l' ? '<' : '>';
            p += 3;
        } else if (room >= 4 && memcmp(p, "amp;", 4) == 0) {
            ch = '&';
            p += 4;
        } else if (room >= 5 && memcmp(p, "apos;", 5) == 0) {
            ch = '\'';
            p += 5;
        } else if (room >= 5 && memcmp(p, "quot;", 5) == 0) {
            ch = '"';
            p += 5;
        } else {
            return NULL; /* undefined entity, or not a Name followed by ';' */
        }
        if (out)
            *(*out)++ = ch;
        return p;
    }
    p++;
    if (p < e && *p == 'x') {
        for (d = ++p; p < e; p++) {
            unsigned c = *p, x;
            if ((unsigned)(c - '0') < 10u)
                x = c - '0';
            else if ((unsigned)((c | 0x20) - 'a') < 6u)
                x = (c | 0x20) - 'a' + 10;
            else
                break;
            v = v << 4 | x;
            if (v >= 0x110000)
                return NULL; /* stop before the value can overflow */
        }
    } else {
        for (d = p; p < e && (unsigned)(*p - '0') < 10u; p++) {
            v = v * 10 + (uint32_t)(*p - '0');
            if (v >= 0x110000)
                return NULL;
        }
    }
    if (p == d || p == e || *p != ';')
        return NULL;
    if (v < 0x20 ? !(v == 0x9 || v == 0xA || v == 0xD)
                 : (v >= 0xD800 && v <= 0xDFFF) || v == 0xFFFE || v == 0xFFFF)
        return NULL;
    if (out) {
        o = *out;
        if (v < 0x80) {
            *o++ = (char)v;
        } else if (v < 0x800) {
            *o++ = (char)(0xC0 | v >> 6);
            *o++ = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            *o++ = (char)(0xE0 | v >> 12);
            *o++ = (char)(0x80 | (v >> 6 & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        } else {
            *o++ = (char)(0xF0 | v >> 18);
            *o++ = (char)(0x80 | (v >> 12 & 0x3F));
            *o++ = (char)(0x80 | (v >> 6 & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        }
        *out = o;
    }
    return p + 1;
}

/* Word-at-a-time tests on 8 bytes (exact for "some byte matches", which is all that is
 * asked): a byte >= 0x80, a byte < 0x20, a byte equal to c. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGH_BITS (ONES * 0x80)
#define ANY_LESS(w, n) (((w) - ONES * (n)) & ~(w) & HIGH_BITS)
#define ANY_EQ(w, c) ANY_LESS((w) ^ (ONES * (c)), 1)
/* CDATA content: anything but printable ASCII other than ']' */
#define CDATA_STOP(w) (((w) & HIGH_BITS) | ANY_LESS(w, 0x20) | ANY_EQ(w, ']'))
/* CharData: also '<' and '&' */
#define TEXT_STOP(w) (CDATA_STOP(w) | ANY_EQ(w, '<') | ANY_EQ(w, '&'))

static uint64_t load64(const u8 *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* A long plain run, 16 bytes a step while no byte in the step needs a look (CDATA: a byte
 * below 0x20 or above 0x7F, or ']'; text: also '<' and '&'). Copies to *op and returns the
 * position of the first step that holds such a byte; the word loops after it find the byte. */
static const u8 *copy_run16(const u8 *p, const u8 *e, char **op, int text)
{
#if defined(__SSE2__)
    char *o = *op;
    const __m128i space = _mm_set1_epi8(0x20), rb = _mm_set1_epi8(']');
    const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
    for (; e - p >= 16; p += 16, o += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed compare: bytes of 0x80 and up are negative, so "< 0x20" catches them too */
        __m128i stop = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, rb));
        if (text)
            stop = _mm_or_si128(stop, _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)));
        _mm_storeu_si128((__m128i *)o, v);
        if (_mm_movemask_epi8(stop))
            break;
    }
    *op = o;
#else
    (void)e, (void)op, (void)text;
#endif
    return p;
}

/* Lead bytes E0..EF by their low nibble: 1 when any two continuation bytes make a Char
 * (E0 can be overlong, ED a surrogate, EF U+FFFE/U+FFFF) */
static const u8 PLAIN3[16] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0};

/* The output cursor o never runs ahead of the input: every construct decodes to at most
 * as many bytes as it spans, and o is reset to scratch whenever p passes a tag. So
 * o - scratch <= p - data, and 8 bytes may be stored at o whenever p + 8 <= e. */

/* A run of non-ASCII Chars, p at a byte >= 0x80: copied to *op. Returns the position
 * after the run, or NULL at a byte sequence that is not a Char. */
static const u8 *copy_utf8(const u8 *p, const u8 *e, char **op)
{
    char *o = *op;
    do {
        size_t n;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* fastest path, two characters a step: 3-byte sequences whose lead byte needs no
         * check beyond its continuation bytes (E1..EC, EE: the bulk of CJK text) */
        if (e - p >= 8 && *p >= 0x80) { /* at a run's start p may hold any byte */
            while (e - p >= 8) {
                uint64_t w = load64(p);
                if ((w & 0xC0C0F0C0C0F0ull) != 0x8080E08080E0ull ||
                    !(PLAIN3[p[0] & 15] & PLAIN3[p[3] & 15]))
                    break;
                memcpy(o, &w, 8); /* the last two bytes are overwritten or ignored */
                p += 6;
                o += 6;
            }
            if (p == e || *p < 0x80)
                break;
        }
#endif
        if (e - p >= 4) {
            u8 c = p[0], a = p[1], b = p[2];
            memcpy(o, p, 4); /* the bytes past the Char are overwritten or ignored */
            /* fast path: E1..EF but ED (most of the BMP, CJK included) */
            if ((unsigned)(c - 0xE1) <= 0x0Eu && c != 0xED && ((a ^ 0x80) | (b ^ 0x80)) < 0x40 &&
                !(c == 0xEF && a == 0xBF && b >= 0xBE))
                n = 3;
            else if ((n = utf8_char(p, e, K[c])) == 0)
                return NULL;
        } else {
            n = utf8_char(p, e, K[*p]);
            if (n == 0)
                return NULL;
            memcpy(o, p, n);
        }
        p += n;
        o += n;
    } while (p < e && *p >= 0x80);
    *op = o;
    return p;
}

/* ---- documents whose rest is known to be Chars
 *
 * Text that mixes scripts (CJK among ASCII words, as chat does) breaks the runs above at
 * every character. So at the first non-ASCII byte of character data the scanner checks,
 * once, that every byte from there to the end of the input is part of a Char (all_chars).
 * When they are, character data needs no check but for its markup bytes, and is copied 16
 * bytes a step whatever the script (copy_chars); when they are not, the scan goes on as
 * above, character by character, and stops at the first error in document order, as the
 * specification does. */

/* Whether a document's bytes from p on are still to be judged, known to be Chars, or not. */
enum { T_UNKNOWN = 0, T_CHARS = 1, T_CHECK = -1 };

/* The position of the lowest set bit of a non-zero mask. */
static XS_INLINE unsigned lowest_bit(unsigned m)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctz(m);
#else
    unsigned i = 0;
    while (!(m & 1u)) {
        m >>= 1;
        i++;
    }
    return i;
#endif
}

#if defined(__SSE2__)
/* Bytes of 16 at p that are ASCII controls but TAB, LF and CR ((c | 4) == CR holds for TAB
 * and CR only). */
static XS_INLINE __m128i bad_controls(__m128i v)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i ctl = _mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(0x1F)), zero);
    __m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(4)), _mm_set1_epi8(0x0D)),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8(0x0A)));
    return _mm_andnot_si128(ok, ctl);
}

/* The first of the two passes of all_chars over [p, e - 15) by 16 bytes, for what real
 * text holds: ASCII and 2- and 3-byte sequences. Non-zero bytes of *bad mark errors; non-zero
 * bytes of the result mark bytes it does not judge (C0, C1, E0, ED, F0..FF, and BF after EF,
 * for U+FFFE and U+FFFF), for which the second pass runs. */
static __m128i chars_common(const u8 *p, const u8 *e, __m128i *bad)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i err = zero, rare = zero;
    for (; e - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i v1 = _mm_loadu_si128((const __m128i *)(p - 1)); /* byte i - 1 at i */
        __m128i v2 = _mm_loadu_si128((const __m128i *)(p - 2));
        /* a continuation byte (80..BF, signed below -64) exactly where a lead byte one or
         * two back asks for one (C0.., E0..; F0.. is rare) */
        __m128i cont = _mm_cmplt_epi8(v, _mm_set1_epi8(-64));
        __m128i need = _mm_or_si128(_mm_subs_epu8(v1, _mm_set1_epi8((char)0xBF)),
                                    _mm_subs_epu8(v2, _mm_set1_epi8((char)0xDF)));
        err = _mm_or_si128(err, _mm_xor_si128(cont, _mm_cmpgt_epi8(need, zero)));
        err = _mm_or_si128(err, bad_controls(v));
        rare = _mm_or_si128(rare, _mm_subs_epu8(v, _mm_set1_epi8((char)0xEF))); /* F0.. */
        rare = _mm_or_si128(rare, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xE0)));
        rare = _mm_or_si128(rare, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xED)));
        rare = _mm_or_si128(rare, _mm_cmpeq_epi8(_mm_and_si128(v, _mm_set1_epi8((char)0xFE)),
                                                 _mm_set1_epi8((char)0xC0)));
        rare = _mm_or_si128(rare, _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xEF)),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xBF))));
    }
    *bad = err;
    return rare;
}

/* The second pass: every rule of utf8_char, 4-byte sequences included. Non-zero bytes of
 * the result mark errors. */
static __m128i chars_all(const u8 *p, const u8 *e)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i bad = zero;
    for (; e - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i v1 = _mm_loadu_si128((const __m128i *)(p - 1));
        __m128i v2 = _mm_loadu_si128((const __m128i *)(p - 2));
        __m128i v3 = _mm_loadu_si128((const __m128i *)(p - 3));
        __m128i cont = _mm_cmplt_epi8(v, _mm_set1_epi8(-64));
        __m128i need = _mm_or_si128(_mm_subs_epu8(v1, _mm_set1_epi8((char)0xBF)),
                                    _mm_or_si128(_mm_subs_epu8(v2, _mm_set1_epi8((char)0xDF)),
                                                 _mm_subs_epu8(v3, _mm_set1_epi8((char)0xEF))));
        bad = _mm_or_si128(bad, bad_controls(v));
        bad = _mm_or_si128(bad, _mm_xor_si128(cont, _mm_cmpgt_epi8(need, zero)));
        /* bytes that are never in UTF-8: C0, C1, F5..FF */
        bad = _mm_or_si128(bad, _mm_subs_epu8(v, _mm_set1_epi8((char)0xF4)));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_and_si128(v, _mm_set1_epi8((char)0xFE)),
                                               _mm_set1_epi8((char)0xC0)));
        /* second bytes: after E0 A0..BF (else overlong), after ED 80..9F (else a
         * surrogate), after F0 90..BF (overlong), after F4 80..8F (above U+10FFFF);
         * signed, continuation bytes run from -128 (80) to -65 (BF) */
        bad = _mm_or_si128(bad, _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xE0)),
                                              _mm_cmplt_epi8(v, _mm_set1_epi8((char)0xA0))));
        bad = _mm_or_si128(bad, _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xED)),
                                              _mm_cmpgt_epi8(v, _mm_set1_epi8((char)0x9F))));
        bad = _mm_or_si128(bad, _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xF0)),
                                              _mm_cmplt_epi8(v, _mm_set1_epi8((char)0x90))));
        bad = _mm_or_si128(bad, _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xF4)),
                                              _mm_cmpgt_epi8(v, _mm_set1_epi8((char)0x8F))));
        /* U+FFFE and U+FFFF: EF BF BE, EF BF BF */
        bad = _mm_or_si128(
            bad, _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v2, _mm_set1_epi8((char)0xEF)),
                                             _mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0xBF))),
                               _mm_cmpgt_epi8(v, _mm_set1_epi8((char)0xBD))));
    }
    return bad;
}
#endif

/* Whether [p, e) is a sequence of Chars in UTF-8: no ASCII control but TAB, LF and CR, no
 * byte sequence that utf8_char refuses. p is at a character boundary with at least 3
 * bytes of the document before it (they are read, never judged: at a boundary they end
 * whole characters). With SSE2, 16 bytes a step: each byte is checked against the bytes
 * one to three before it (loaded from there), first by a pass for ASCII and 2- and 3-byte
 * sequences and, should it meet anything else, by a pass with every rule. */
static int all_chars(const u8 *p, const u8 *e)
{
    size_t n;
#if defined(__SSE2__)
    if (e - p >= 16) {
        const __m128i zero = _mm_setzero_si128();
        __m128i bad, rare = chars_common(p, e, &bad);
        const u8 *q;
        int i;
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(rare, zero)) != 0xFFFF)
            bad = chars_all(p, e);
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, zero)) != 0xFFFF)
            return 0;
        p += (size_t)(e - p) / 16 * 16;
        /* the last character checked may go on past p: the rest is judged from its lead */
        for (q = p, i = 0; i < 3; i++) {
            u8 c = *--q;
            if (c >= 0xC0) {
                if ((size_t)(p - q) < (c >= 0xF0 ? 4u : c >= 0xE0 ? 3u : 2u))
                    p = q;
                break;
            }
            if (c < 0x80)
                break;
        }
    }
#endif
    while (p < e) {
        unsigned k = K[*p];
        if (k < B_U2) {
            p++;
        } else {
            n = utf8_char(p, e, k); /* 0 for B_XX */
            if (n == 0)
                return 0;
            p += n;
        }
    }
    return 1;
}

/* Character data of a document whose rest is all Chars, p in it: copied to *op up to the
 * first byte that may end it or needs a look (CDATA: ']' and CR; text: also '<' and '&').
 * Returns that byte's position, or e. Whole characters are copied, as the stop bytes are
 * ASCII. */
static const u8 *copy_chars(const u8 *p, const u8 *e, char **op, int text)
{
    char *o = *op;
    u8 c;
#if defined(__SSE2__)
    const __m128i rb = _mm_set1_epi8(']'), cr = _mm_set1_epi8('\r');
    const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
    for (; e - p >= 16; p += 16, o += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(v, rb), _mm_cmpeq_epi8(v, cr));
        unsigned m;
        if (text)
            stop = _mm_or_si128(stop, _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)));
        _mm_storeu_si128((__m128i *)o, v);
        m = (unsigned)_mm_movemask_epi8(stop);
        if (m) {
            *op = o + lowest_bit(m);
            return p + lowest_bit(m);
        }
    }
#endif
    for (; e - p >= 8; p += 8, o += 8) {
        uint64_t w = load64(p);
        memcpy(o, &w, 8);
        if (ANY_EQ(w, ']') | ANY_EQ(w, '\r') | (text ? ANY_EQ(w, '<') | ANY_EQ(w, '&') : 0))
            break;
    }
    for (; p < e; p++) {
        c = *p;
        if (c == ']' || c == '\r' || (text && (c == '<' || c == '&')))
            break;
        *o++ = (char)c;
    }
    *op = o;
    return p;
}

/* CharData ::= [^<&]* - ([^<&]* ']]>' [^<&]*), with References, p in content.
 * Appends the decoded text at *op (line ends normalised). Returns the position of the
 * next '<', or NULL when malformed or at the end of the input (the root is open). */
static const u8 *scan_text(const u8 *p, const u8 *e, char **op, int *chars)
{
    char *o = *op;
    for (;;) {
        const u8 *lim = e - p > 16 ? p + 16 : e;
        unsigned k;
        if (*chars == T_CHARS) {
            p = copy_chars(p, e, &o, 1);
            if (p == e)
                return NULL;
        } else {
            /* a byte at a time first: most texts between tags are short */
            while (p < lim && K[*p] == B_PL)
                *o++ = (char)*p++;
            if (p == lim) {
                if (p == e)
                    return NULL;
                /* a long plain run: 8 bytes at a time up to the word holding a stop byte */
                p = copy_run16(p, e, &o, 1);
                for (; e - p >= 8; p += 8, o += 8) {
                    uint64_t w = load64(p);
                    memcpy(o, &w, 8);
                    if (TEXT_STOP(w))
                        break;
                }
                continue;
            }
        }
        k = K[*p];
        switch (k) {
        case B_LT:
            *op = o;
            return p;
        case B_AM:
            p = scan_ref(p + 1, e, &o);
            if (p == NULL)
                return NULL;
            break;
        case B_RB:
            if (e - p >= 3 && p[1] == ']' && p[2] == '>')
                return NULL;
            *o++ = ']';
            p++;
            break;
        case B_CR:
            *o++ = '\n';
            if (++p < e && *p == '\n')
                p++;
            break;
        default:
            if (*chars == T_UNKNOWN && *p >= 0x80) {
                *chars = all_chars(p, e) ? T_CHARS : T_CHECK;
                if (*chars == T_CHARS)
                    break;
            }
            p = copy_utf8(p, e, &o);
            if (p == NULL)
                return NULL;
        }
    }
}

/* CDSect ::= '<![CDATA[' (Char* - (Char* ']]>' Char*)) ']]>', p after "<![CDATA[".
 * Appends the content at *op, verbatim but for line ends. Returns the position after
 * "]]>", or NULL. */
static const u8 *scan_cdata(const u8 *p, const u8 *e, char **op, int *chars)
{
    char *o = *op;
    for (;;) {
        const u8 *lim = e - p > 16 ? p + 16 : e;
        unsigned k;
        if (*chars == T_CHARS) {
            p = copy_chars(p, e, &o, 0);
            if (p == e)
                return NULL;
        } else {
            while (p < lim && K[*p] <= B_AM)
                *o++ = (char)*p++;
            if (p == lim) {
                if (p == e)
                    return NULL;
                p = copy_run16(p, e, &o, 0);
                for (; e - p >= 8; p += 8, o += 8) {
                    uint64_t w = load64(p);
                    memcpy(o, &w, 8);
                    if (CDATA_STOP(w))
                        break;
                }
                continue;
            }
        }
        k = K[*p];
        switch (k) {
        case B_RB:
            if (e - p >= 3 && p[1] == ']' && p[2] == '>') {
                *op = o;
                return p + 3;
            }
            *o++ = ']';
            p++;
            break;
        case B_CR:
            *o++ = '\n';
            if (++p < e && *p == '\n')
                p++;
            break;
        default:
            if (*chars == T_UNKNOWN && *p >= 0x80) {
                *chars = all_chars(p, e) ? T_CHARS : T_CHECK;
                if (*chars == T_CHARS)
                    break;
            }
            p = copy_utf8(p, e, &o);
            if (p == NULL)
                return NULL;
        }
    }
}

/* Whether the n bytes at a and b are equal (an end tag's Name against its start tag's):
 * inline, as names are short. */
static int same_bytes(const u8 *a, const u8 *b, size_t n)
{
    size_t i;
    if (n >= 8) {
        for (i = 0; i + 8 <= n; i += 8)
            if (load64(a + i) != load64(b + i))
                return 0;
        return load64(a + n - 8) == load64(b + n - 8);
    }
    for (i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* Comment ::= '<!--' ((Char - '-') | ('-' (Char - '-')))* '-->', p after "<!--".
 * Returns the position after "-->", or NULL. */
static const u8 *scan_comment(const u8 *p, const u8 *e)
{
    while (p < e) {
        unsigned k = K[*p];
        if (k < B_U2) {
            if (*p == '-' && e - p >= 2 && p[1] == '-')
                return e - p >= 3 && p[2] == '>' ? p + 3 : NULL;
            p++;
        } else {
            size_t n = utf8_char(p, e, k);
            if (n == 0)
                return NULL;
            p += n;
        }
    }
    return NULL;
}

/* PI ::= '<?' PITarget (S (Char* - (Char* '?>' Char*)))? '?>', p after "<?".
 * PITarget: an ASCII Name, not "xml" in any case (the XML declaration is scanned by
 * scan_xmldecl, and only at the start). Returns the position after "?>", or NULL. */
static const u8 *scan_pi(const u8 *p, const u8 *e)
{
    const u8 *t = p;
    if (p == e || !(N[*p] & N_START))
        return NULL;
    while (++p < e && (N[*p] & N_CHAR)) {
    }
    if (p == e)
        return NULL;
    if (p - t == 3 && (t[0] | 0x20) == 'x' && (t[1] | 0x20) == 'm' && (t[2] | 0x20) == 'l')
        return NULL;
    if (*p == '?')
        return e - p >= 2 && p[1] == '>' ? p + 2 : NULL;
    if (!IS_S(*p))
        return NULL;
    for (p++; p < e;) {
        unsigned k = K[*p];
        if (k < B_U2) {
            if (*p == '?' && e - p >= 2 && p[1] == '>')
                return p + 2;
            p++;
        } else {
            size_t n = utf8_char(p, e, k);
            if (n == 0)
                return NULL;
            p += n;
        }
    }
    return NULL;
}

/* XMLDecl ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>', p after "<?xml".
 * Expat's pseudo-attribute rules: each is S+ name S? '=' S? quoted value, in this
 * order; version is any [A-Za-z0-9._-]* (even empty or "2.0"), encoding is
 * [A-Za-z][A-Za-z0-9._-]* and otherwise ignored (the protocol encoding UTF-8 wins),
 * standalone is "yes" or "no". Returns the position after "?>", or NULL. */
static const u8 *scan_xmldecl(const u8 *p, const u8 *e)
{
    static const char *const names[3] = {"version", "encoding", "standalone"};
    static const size_t lens[3] = {7, 8, 10};
    int next = 0; /* the first pseudo-attribute still allowed; 3: none */
    for (;;) {
        const u8 *s = p, *v;
        int i;
        u8 q;
        while (p < e && IS_S(*p))
            p++;
        if (e - p >= 2 && p[0] == '?' && p[1] == '>')
            return next > 0 ? p + 2 : NULL; /* version is required */
        if (p == s || next == 3)
            return NULL;
        for (i = next; i < 3; i++) {
            size_t n = lens[i];
            if ((size_t)(e - p) > n && memcmp(p, names[i], n) == 0 &&
                (p[n] == '=' || IS_S(p[n])))
                break;
        }
        if (i == 3 || (next == 0 && i != 0))
            return NULL;
        p += lens[i];
        while (p < e && IS_S(*p))
            p++;
        if (p == e || *p != '=')
            return NULL;
        p++;
        while (p < e && IS_S(*p))
            p++;
        if (p == e || (*p != '"' && *p != '\''))
            return NULL;
        q = *p++;
        for (v = p; p < e && (N[*p] & N_CHAR) && *p != ':'; p++) {
        }
        if (p == e || *p != q)
            return NULL;
        if (i == 1 && !(p > v && IS_ALPHA(*v)))
            return NULL;
        if (i == 2 && !((p - v == 3 && memcmp(v, "yes", 3) == 0) ||
                        (p - v == 2 && memcmp(v, "no", 2) == 0)))
            return NULL;
        p++;
        next = i + 1;
    }
}

/* Misc ::= Comment | PI | S. Skips Misc*; returns the position of the first byte that
 * starts none of them (or e), NULL when a comment or PI is malformed. */
static const u8 *skip_misc(const u8 *p, const u8 *e)
{
    for (;;) {
        while (p < e && IS_S(*p))
            p++;
        if (e - p < 2 || p[0] != '<')
            return p;
        if (p[1] == '?')
            p = scan_pi(p + 2, e);
        else if (p[1] == '!' && e - p >= 4 && p[2] == '-' && p[3] == '-')
            p = scan_comment(p + 4, e);
        else
            return p;
        if (p == NULL)
            return NULL;
    }
}

/* AttValue ::= '"' ([^<&"] | Reference)* '"' | "'" ([^<&'] | Reference)* "'",
 * p after the opening quote q; references are checked, not decoded.
 * Returns the position after the closing quote, or NULL. */
static const u8 *scan_attvalue(const u8 *p, const u8 *e, u8 q)
{
    for (;;) {
        unsigned k;
        size_t n;
        while (p < e && K[*p] == B_PL && *p != q)
            p++;
        if (p == e)
            return NULL;
        if (*p == q)
            return p + 1;
        k = K[*p];
        if (k == B_RB || k == B_CR) {
            p++;
        } else if (k == B_AM) {
            p = scan_ref(p + 1, e, NULL);
            if (p == NULL)
                return NULL;
        } else {
            n = utf8_char(p, e, k); /* 0 for '<' and non-Chars */
            if (n == 0)
                return NULL;
            p += n;
        }
    }
}

/* Byte order of attribute names: by key, then by the bytes after the eighth, then by
 * length. Names hold no zero byte, so equal keys mean the same first 8 bytes, or the
 * same name when one of them is shorter than 8. */
static int span_cmp(const span *a, const span *b)
{
    size_t n;
    int c;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    n = a->n < b->n ? a->n : b->n;
    if (n > 8) {
        c = memcmp(a->s + 8, b->s + 8, n - 8);
        if (c != 0)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

/* Whether two of the n names are equal, by a bottom-up merge sort then a look at
 * neighbours: O(n log n) whatever the names. 1 on a duplicate, 0 if none, -1 if the
 * sort buffer cannot be had. */
static int sorted_duplicate(span *a, size_t n)
{
    span *tmp, *src, *dst, *t;
    size_t i, j, w;
    if (n > SIZE_MAX / sizeof *tmp)
        return -1;
    tmp = (span *)malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        uint64_t key = 0;
        for (j = 0; j < 8; j++)
            key = key << 8 | (j < a[i].n ? a[i].s[j] : 0u);
        a[i].key = key;
    }
    src = a;
    dst = tmp;
    for (w = 1; w < n; w *= 2) {
        for (i = 0; i < n; i += 2 * w) {
            size_t mid = n - i > w ? i + w : n;
            size_t hi = n - mid > w ? mid + w : n;
            size_t l = i, r = mid, k = i;
            while (l < mid && r < hi)
                dst[k++] = span_cmp(&src[r], &src[l]) < 0 ? src[r++] : src[l++];
            while (l < mid)
                dst[k++] = src[l++];
            while (r < hi)
                dst[k++] = src[r++];
        }
        t = src;
        src = dst;
        dst = t;
        if (w > n / 2)
            break;
    }
    for (i = 1; i < n; i++)
        if (span_cmp(&src[i], &src[i - 1]) == 0)
            break;
    free(tmp);
    return i < n;
}

/* FNV-1a, finalised: a 32-bit hash of a name. */
static uint32_t name_hash(const u8 *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ s[i]) * UINT64_C(0x100000001b3);
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (uint32_t)h;
}

/* Uniqueness of attribute names (expat compares them byte for byte). A few are compared
 * pairwise. Beyond, (hash, index) records are radix-sorted by hash (linear) and only
 * names of equal hash are compared; should many share a hash (crafted names), all the
 * names are merge-sorted instead, so the bound stays O(n log n).
 * Returns 1 on a duplicate, 0 if none, -1 if a buffer cannot be had. */
static int has_duplicate(span *a, size_t n)
{
    uint64_t *rec, *src, *dst, *t;
    size_t count[256];
    size_t i, j, k;
    int shift, dup = 0;
    if (n <= SMALL_ATTS) {
        for (i = 1; i < n; i++)
            for (j = 0; j < i; j++)
                if (a[i].n == a[j].n && memcmp(a[i].s, a[j].s, a[i].n) == 0)
                    return 1;
        return 0;
    }
    if ((uint64_t)n > 0xFFFFFFFFu || n > SIZE_MAX / 2 / sizeof *rec)
        return sorted_duplicate(a, n);
    rec = (uint64_t *)malloc(2 * n * sizeof *rec);
    if (rec == NULL)
        return -1;
    for (i = 0; i < n; i++)
        rec[i] = (uint64_t)name_hash(a[i].s, a[i].n) << 32 | i;
    /* LSD radix sort on the hash, 8 bits a pass; four passes end back in rec */
    src = rec;
    dst = rec + n;
    for (shift = 32; shift < 64; shift += 8) {
        size_t sum = 0;
        memset(count, 0, sizeof count);
        for (i = 0; i < n; i++)
            count[src[i] >> shift & 0xFF]++;
        for (k = 0; k < 256; k++) {
            size_t c = count[k];
            count[k] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            dst[count[src[i] >> shift & 0xFF]++] = src[i];
        t = src;
        src = dst;
        dst = t;
    }
    for (i = 0; i < n && !dup; i = j) {
        for (j = i + 1; j < n && rec[j] >> 32 == rec[i] >> 32; j++) {
        }
        if (j - i > SMALL_ATTS) {
            free(rec);
            return sorted_duplicate(a, n);
        }
        for (k = i + 1; k < j && !dup; k++) {
            size_t x = (size_t)(rec[k] & 0xFFFFFFFFu), y;
            for (y = i; y < k; y++) {
                size_t z = (size_t)(rec[y] & 0xFFFFFFFFu);
                if (a[x].n == a[z].n && memcmp(a[x].s, a[z].s, a[x].n) == 0) {
                    dup = 1;
                    break;
                }
            }
        }
    }
    free(rec);
    return dup;
}

/* STag ::= '<' Name (S Attribute)* S? '>'
 * EmptyElemTag ::= '<' Name (S Attribute)* S? '/>'
 * Attribute ::= Name Eq AttValue; Eq ::= S? '=' S?; attribute names unique.
 * *pp points just after the element's Name; on XS_OK it is moved past the tag and
 * *empty tells an EmptyElemTag. */
static int scan_stag(const u8 **pp, const u8 *e, int *empty)
{
    span small[SMALL_ATTS];
    span *atts = small;
    size_t n = 0, cap = SMALL_ATTS;
    const u8 *p = *pp;
    int rc = XS_MALFORMED;

    for (;;) {
        const u8 *s = p, *an;
        size_t alen;
        while (p < e && IS_S(*p))
            p++;
        if (p == e)
            goto out;
        if (*p == '>') {
            *empty = 0;
            p++;
            break;
        }
        if (*p == '/') {
            if (e - p < 2 || p[1] != '>')
                goto out;
            *empty = 1;
            p += 2;
            break;
        }
        if (p == s || !(N[*p] & N_START))
            goto out; /* no S before the attribute, or no Name */
        an = p;
        while (++p < e && (N[*p] & N_CHAR)) {
        }
        alen = (size_t)(p - an);
        while (p < e && IS_S(*p))
            p++;
        if (p == e || *p != '=')
            goto out;
        p++;
        while (p < e && IS_S(*p))
            p++;
        if (p == e || (*p != '"' && *p != '\''))
            goto out;
        p = scan_attvalue(p + 1, e, *p);
        if (p == NULL)
            goto out;
        if (n == cap) {
            span *grown;
            if (cap > SIZE_MAX / 2 / sizeof *atts) {
                rc = XS_NOMEM;
                goto out;
            }
            if (atts == small) {
                grown = (span *)malloc(2 * cap * sizeof *atts);
                if (grown != NULL)
                    memcpy(grown, small, sizeof small);
            } else {
                grown = (span *)realloc(atts, 2 * cap * sizeof *atts);
            }
            if (grown == NULL) {
                rc = XS_NOMEM;
                goto out;
            }
            atts = grown;
            cap *= 2;
        }
        atts[n].s = an;
        atts[n].n = alen;
        n++;
    }
    switch (has_duplicate(atts, n)) {
    case 0:
        rc = XS_OK;
        *pp = p;
        break;
    case 1:
        rc = XS_MALFORMED;
        break;
    default:
        rc = XS_NOMEM;
    }
out:
    if (atts != small)
        free(atts);
    return rc;
}

/* document ::= BOM? XMLDecl? Misc* element Misc*  (doctypedecl refused) */
int xs_parse(const char *data, size_t len, char *scratch, const xs_handlers *h, void *ctx)
{
    struct {
        const char *s;
        size_t n;
    } stack[XS_MAX_DEPTH]; /* the open elements' names */
    int (*on_start)(void *, const char *, size_t) = h ? h->start : NULL;
    int (*on_end)(void *, const char *, size_t, const char *, size_t) = h ? h->end : NULL;
    const u8 *p, *e;
    char *o = scratch; /* end of the current element's text in scratch */
    int depth = 0;
    int chars = T_UNKNOWN; /* whether the rest of the input is known to be Chars */

    if (len == 0 || data == NULL)
        return XS_MALFORMED;
    p = (const u8 *)data;
    e = p + len;

    /* prolog ::= XMLDecl? Misc* (doctypedecl Misc*)?; the XMLDecl only at the very
     * start, after an optional UTF-8 byte order mark */
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        p += 3;
    if (e - p >= 6 && memcmp(p, "<?xml", 5) == 0 && IS_S(p[5])) {
        p = scan_xmldecl(p + 5, e);
        if (p == NULL)
            return XS_MALFORMED;
    }
    p = skip_misc(p, e);
    if (p == NULL)
        return XS_MALFORMED;
    if (e - p >= 9 && memcmp(p, "<!DOCTYPE", 9) == 0)
        return XS_DOCTYPE;
    if (e - p < 2 || p[0] != '<' || !(N[p[1]] & N_START))
        return XS_MALFORMED;

    /* element and content; p is at a '<' on entry to each round */
    for (;;) {
        const u8 *t = p + 1;
        if (t == e)
            return XS_MALFORMED;
        if (N[*t] & N_START) {
            /* STag | EmptyElemTag; the common "<Name>" without scan_stag */
            size_t n;
            int empty = 0;
            p = t;
            while (++p < e && (N[*p] & N_CHAR)) {
            }
            n = (size_t)(p - t);
            if (p < e && *p == '>') {
                p++;
            } else {
                int rc = scan_stag(&p, e, &empty);
                if (rc != XS_OK)
                    return rc;
            }
            if (depth == XS_MAX_DEPTH) /* unless a NUL lies ahead */
                return memchr(p, 0, (size_t)(e - p)) ? XS_MALFORMED : XS_DEPTH;
            if (on_start && on_start(ctx, (const char *)t, n))
                return XS_HANDLER;
            o = scratch;
            if (!empty) {
                stack[depth].s = (const char *)t;
                stack[depth].n = n;
                depth++;
            } else {
                if (on_end && on_end(ctx, (const char *)t, n, scratch, 0))
                    return XS_HANDLER;
                if (depth == 0)
                    break;
            }
        } else if (*t == '/') {
            /* ETag ::= '</' Name S? '>', the Name of the open element */
            const char *name = stack[depth - 1].s;
            size_t n = stack[depth - 1].n;
            t++;
            if ((size_t)(e - t) <= n || !same_bytes(t, (const u8 *)name, n))
                return XS_MALFORMED;
            t += n;
            while (t < e && IS_S(*t))
                t++;
            if (t == e || *t != '>')
                return XS_MALFORMED;
            p = t + 1;
            if (on_end && on_end(ctx, name, n, scratch, (size_t)(o - scratch)))
                return XS_HANDLER;
            o = scratch;
            if (--depth == 0)
                break;
        } else if (*t == '?') {
            p = scan_pi(t + 1, e);
            if (p == NULL)
                return XS_MALFORMED;
        } else if (*t == '!' && e - t >= 3 && t[1] == '-' && t[2] == '-') {
            p = scan_comment(t + 3, e);
            if (p == NULL)
                return XS_MALFORMED;
        } else if (*t == '!' && e - t >= 8 && memcmp(t, "![CDATA[", 8) == 0) {
            p = scan_cdata(t + 8, e, &o, &chars);
            if (p == NULL)
                return XS_MALFORMED;
        } else {
            return XS_MALFORMED;
        }

        /* content continues: CharData? up to the next '<' */
        p = scan_text(p, e, &o, &chars);
        if (p == NULL)
            return XS_MALFORMED;
    }

    /* Misc* after the root element */
    p = skip_misc(p, e);
    return p == e ? XS_OK : XS_MALFORMED;
}
