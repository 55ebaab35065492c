/* str from UTF-8 that the XML scanner has already validated (every byte sequence a Char).
 *
 * Two passes instead of CPython's validating decoder. The first (wx_utf8_measure) counts
 * the code points, as the bytes that are not continuation bytes, and finds the narrowest
 * kind that holds them from the largest byte: below 0x80 ASCII, below 0xC4 Latin-1, below
 * 0xF0 UCS-2, else UCS-4 (continuation bytes are all below any of those lead bytes). The
 * second (wx_utf8_fill) writes them. Neither calls the Python API.
 *
 * With SSE2 both go 16 bytes a step whatever the mix of scripts, so that text mixing ASCII
 * and CJK takes no branch per character: the fill computes the code point that would start
 * at each of the 16 bytes at once, then squeezes out the lanes of continuation bytes (three
 * shifts and blends per 8 lanes, by masks from a table) and stores the rest. Elsewhere, and
 * for the last bytes, scalar loops.
 *
 * The bytes must be valid UTF-8. From invalid bytes the str's contents are unspecified: a
 * count that does not come out right makes wx_str_from_valid_utf8 fall back to CPython's
 * decoder, which names the error, but an overlong form, a surrogate or a lead byte F8..FC
 * can decode to some code point. Whatever the bytes, reads stay inside [s, s + n) and writes
 * inside the str's length.
 */
#ifndef WXCORP_UTF8_H
#define WXCORP_UTF8_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "copy.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* A word loaded with memcpy, as if little-endian. */
static inline uint64_t wx_le64(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

/* The code point count of s[0:n] and the largest code point kind it needs (0x7F, 0xFF,
 * 0xFFFF or 0x10FFFF, as PyUnicode_New takes it). No Python API: callable without the GIL. */
static inline void wx_utf8_measure(const unsigned char *s, Py_ssize_t n, Py_ssize_t *length,
                                   Py_UCS4 *maxchar)
{
    Py_ssize_t i = 0, continuation = 0;
    unsigned top = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128(), below = _mm_set1_epi8(-64); /* 80..BF */
    __m128i high = zero;
    /* ASCII up to the first 64 bytes with a high bit: nothing to count there */
    for (; n - i >= 64; i += 64) {
        __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i)),
                                 _mm_loadu_si128((const __m128i *)(s + i + 16)));
        __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + 32)),
                                 _mm_loadu_si128((const __m128i *)(s + i + 48)));
        if (_mm_movemask_epi8(_mm_or_si128(a, b)))
            break;
    }
    while (n - i >= 16) {
        /* per-lane counts in bytes, summed before they can wrap (255 steps) */
        __m128i count = zero;
        int steps;
        for (steps = 0; steps < 255 && n - i >= 16; steps++, i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            count = _mm_sub_epi8(count, _mm_cmplt_epi8(v, below));
            high = _mm_max_epu8(high, v);
        }
        count = _mm_sad_epu8(count, zero);
        continuation += _mm_cvtsi128_si32(count) + _mm_cvtsi128_si32(_mm_srli_si128(count, 8));
    }
    high = _mm_max_epu8(high, _mm_srli_si128(high, 8));
    high = _mm_max_epu8(high, _mm_srli_si128(high, 4));
    high = _mm_max_epu8(high, _mm_srli_si128(high, 2));
    high = _mm_max_epu8(high, _mm_srli_si128(high, 1));
    top = (unsigned)_mm_cvtsi128_si32(high) & 0xFF;
#endif
    for (; i < n; i++) {
        continuation += (s[i] & 0xC0) == 0x80;
        if (s[i] > top)
            top = s[i];
    }
    *length = n - continuation;
    *maxchar = top >= 0xF0 ? 0x10FFFF : top >= 0xC4 ? 0xFFFF : top >= 0x80 ? 0xFF : 0x7F;
}

/* Decode s[0:n] into out as code points of type T, at most cap of them and none above max;
 * returns how many were written, or -1 when the bytes do not decode to exactly that. */
#define WX_UTF8_DECODER(name, T)                                                              \
    static Py_ssize_t name(const unsigned char *s, Py_ssize_t n, T *out, Py_ssize_t cap,     \
                           Py_UCS4 max)                                                       \
    {                                                                                         \
        Py_ssize_t i = 0, k = 0;                                                              \
        while (i < n && k < cap) {                                                            \
            unsigned char c = s[i];                                                           \
            Py_UCS4 cp;                                                                       \
            if (c < 0x80) {                                                                   \
                cp = c;                                                                       \
                i += 1;                                                                       \
            } else if (c < 0xC0) {                                                            \
                return -1;                                                                    \
            } else if (c < 0xE0 && n - i >= 2) {                                              \
                cp = ((Py_UCS4)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);                          \
                i += 2;                                                                       \
            } else if (c < 0xF0 && n - i >= 3) {                                              \
                cp = ((Py_UCS4)(c & 0x0F) << 12) | ((Py_UCS4)(s[i + 1] & 0x3F) << 6) |        \
                     (s[i + 2] & 0x3F);                                                       \
                i += 3;                                                                       \
                /* CJK comes in runs: two more characters a step while they last */          \
                while (n - i >= 8 && cap - k >= 3) {                                          \
                    uint64_t w;                                                               \
                    memcpy(&w, s + i, 8);                                                     \
                    w = wx_le64(w);                                                           \
                    if ((w & 0xC0C0F0C0C0F0ull) != 0x8080E08080E0ull || max < 0xFFFF)         \
                        break;                                                                \
                    out[k++] = (T)cp;                                                         \
                    out[k++] = (T)(((w & 0x0F) << 12) | ((w >> 2) & 0xFC0) | ((w >> 16) & 0x3F)); \
                    cp = (Py_UCS4)(((w >> 12) & 0xF000) | ((w >> 26) & 0xFC0) | ((w >> 40) & 0x3F)); \
                    i += 6;                                                                   \
                }                                                                             \
            } else if (n - i >= 4) {                                                          \
                cp = ((Py_UCS4)(c & 0x07) << 18) | ((Py_UCS4)(s[i + 1] & 0x3F) << 12) |       \
                     ((Py_UCS4)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);                   \
                i += 4;                                                                       \
            } else {                                                                          \
                return -1;                                                                    \
            }                                                                                 \
            if (cp > max)                                                                     \
                return -1;                                                                    \
            out[k++] = (T)cp;                                                                 \
        }                                                                                     \
        return i == n ? k : -1;                                                               \
    }

WX_UTF8_DECODER(wx_utf8_to_ucs1, Py_UCS1)
WX_UTF8_DECODER(wx_utf8_to_ucs2, Py_UCS2)
WX_UTF8_DECODER(wx_utf8_to_ucs4, Py_UCS4)

#if defined(__SSE2__)
/* x << n and x >> n within each byte (SSE2 shifts 16-bit lanes; the mask drops the bits
 * that crossed from the neighbouring byte). */
#define WX_SHL8(x, n) _mm_and_si128(_mm_slli_epi16((x), (n)), _mm_set1_epi8((char)(0xFF << (n) & 0xFF)))
#define WX_SHR8(x, n) _mm_and_si128(_mm_srli_epi16((x), (n)), _mm_set1_epi8((char)(0xFF >> (n))))
/* m ? a : b, byte by byte, m all ones or all zeros */
#define WX_PICK(m, a, b) _mm_or_si128(_mm_and_si128((m), (a)), _mm_andnot_si128((m), (b)))

/* The code point that would start at each of the 16 bytes at s, reading s[0:19]: bits 0-7
 * in *lo, 8-15 in *hi and, when astral, 16-20 in *top. Returns the mask of the bytes that
 * start a character (are not continuation bytes). */
static inline unsigned wx_utf8_points16(const unsigned char *s, __m128i *lo, __m128i *hi,
                                        __m128i *top, int astral)
{
    const __m128i low6 = _mm_set1_epi8(0x3F);
    __m128i b0 = _mm_loadu_si128((const __m128i *)s);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(s + 1));
    __m128i b2 = _mm_loadu_si128((const __m128i *)(s + 2));
    __m128i two = _mm_cmpeq_epi8(_mm_max_epu8(b0, _mm_set1_epi8((char)0xC0)), b0);   /* >= C0 */
    __m128i three = _mm_cmpeq_epi8(_mm_max_epu8(b0, _mm_set1_epi8((char)0xE0)), b0); /* >= E0 */
    /* 110aaabb 10cccccc: lo = bbcccccc, hi = 00000aaa
     * 1110aaaa 10bbbbcc 10dddddd: lo = ccdddddd, hi = aaaabbbb */
    __m128i lo2 = _mm_or_si128(WX_SHL8(b0, 6), _mm_and_si128(b1, low6));
    __m128i hi2 = _mm_and_si128(_mm_srli_epi16(b0, 2), _mm_set1_epi8(0x07));
    __m128i lo3 = _mm_or_si128(WX_SHL8(b1, 6), _mm_and_si128(b2, low6));
    __m128i hi3 = _mm_or_si128(WX_SHL8(b0, 4), _mm_and_si128(_mm_srli_epi16(b1, 2), _mm_set1_epi8(0x0F)));
    __m128i l = WX_PICK(three, lo3, lo2), h = WX_PICK(three, hi3, hi2);
    if (astral) {
        /* 11110aaa 10bbcccc 10ddddee 10ffffff: lo = eeffffff, hi = ccccdddd, top = 000aaabb */
        __m128i b3 = _mm_loadu_si128((const __m128i *)(s + 3));
        __m128i four = _mm_cmpeq_epi8(_mm_max_epu8(b0, _mm_set1_epi8((char)0xF0)), b0);
        __m128i lo4 = _mm_or_si128(WX_SHL8(b2, 6), _mm_and_si128(b3, low6));
        __m128i hi4 = _mm_or_si128(WX_SHL8(b1, 4), _mm_and_si128(_mm_srli_epi16(b2, 2), _mm_set1_epi8(0x0F)));
        __m128i top4 = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(b0, 2), _mm_set1_epi8(0x1C)),
                                    _mm_and_si128(_mm_srli_epi16(b1, 4), _mm_set1_epi8(0x03)));
        l = WX_PICK(four, lo4, l);
        h = WX_PICK(four, hi4, h);
        *top = _mm_and_si128(four, top4);
    }
    *lo = WX_PICK(two, l, b0);
    *hi = _mm_and_si128(two, h);
    return ~(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(b0, _mm_set1_epi8(-64))) & 0xFFFF;
}

/* 8 lanes of 16 bits squeezed towards lane 0, keeping the lanes whose bit is set in a
 * pattern, in order: in three steps, where kept lanes move by 1, 2, then 4 lanes as the bits
 * of their distance say. Each step is a shift of the whole vector and a blend, by the mask
 * wx_squeeze[pattern][step] of the lanes that receive a moving lane. Moving the lanes by
 * the low bit of their distance first never lands one on a lane still kept there (checked
 * for all 256 patterns when the table is built); the lanes past the kept ones hold
 * leftovers. Built once by wx_utf8_init. */
static uint16_t wx_squeeze[256][3][8];
static unsigned char wx_count8[256]; /* the kept lanes of each pattern */

static inline __m128i wx_squeeze8(__m128i v, unsigned pattern)
{
    const __m128i *mask = (const __m128i *)wx_squeeze[pattern];
    __m128i m = _mm_loadu_si128(mask);
    v = _mm_or_si128(_mm_and_si128(m, _mm_srli_si128(v, 2)), _mm_andnot_si128(m, v));
    m = _mm_loadu_si128(mask + 1);
    v = _mm_or_si128(_mm_and_si128(m, _mm_srli_si128(v, 4)), _mm_andnot_si128(m, v));
    m = _mm_loadu_si128(mask + 2);
    return _mm_or_si128(_mm_and_si128(m, _mm_srli_si128(v, 8)), _mm_andnot_si128(m, v));
}

/* Each step decodes the characters that start in s[i:i+16] (reading s[i:i+19]) and stores
 * 16 lanes from out + k on, those past the last character decoded holding leftovers that
 * the next step, or the scalar decoder of the rest, overwrites: the loop keeps 16 lanes of
 * room, and decodes no character twice (the next step skips continuation bytes). */
#define WX_UTF8_FILL16(name, T, ASTRAL)                                                       \
    static Py_ssize_t name(const unsigned char *s, Py_ssize_t n, T *out, Py_ssize_t cap,     \
                           Py_ssize_t *done)                                                  \
    {                                                                                         \
        Py_ssize_t i = 0, k = 0;                                                              \
        while (n - i >= 19 && cap - k >= 16) {                                                \
            __m128i lo, hi, top = _mm_setzero_si128();                                        \
            unsigned starts = wx_utf8_points16(s + i, &lo, &hi, &top, ASTRAL);                \
            WX_UTF8_PUT_##T(out, k, starts, lo, hi, top);                                     \
            i += 16;                                                                          \
        }                                                                                     \
        while (i < n && (s[i] & 0xC0) == 0x80) /* the rest of the last character */          \
            i++;                                                                              \
        *done = i;                                                                            \
        return k;                                                                             \
    }

#define WX_UTF8_PUT_Py_UCS1(out, k, starts, lo, hi, top)                                  \
    do {                                                                                   \
        __m128i zero = _mm_setzero_si128();                                                \
        __m128i p0 = wx_squeeze8(_mm_unpacklo_epi8((lo), zero), (starts) & 0xFF);         \
        __m128i p1 = wx_squeeze8(_mm_unpackhi_epi8((lo), zero), (starts) >> 8);           \
        _mm_storel_epi64((__m128i *)((out) + (k)), _mm_packus_epi16(p0, p0));              \
        (k) += wx_count8[(starts) & 0xFF];                                                 \
        _mm_storel_epi64((__m128i *)((out) + (k)), _mm_packus_epi16(p1, p1));              \
        (k) += wx_count8[(starts) >> 8];                                                   \
    } while (0)
#define WX_UTF8_PUT_Py_UCS2(out, k, starts, lo, hi, top)                                  \
    do {                                                                                   \
        __m128i p0 = wx_squeeze8(_mm_unpacklo_epi8((lo), (hi)), (starts) & 0xFF);         \
        __m128i p1 = wx_squeeze8(_mm_unpackhi_epi8((lo), (hi)), (starts) >> 8);           \
        _mm_storeu_si128((__m128i *)((out) + (k)), p0);                                    \
        (k) += wx_count8[(starts) & 0xFF];                                                 \
        _mm_storeu_si128((__m128i *)((out) + (k)), p1);                                    \
        (k) += wx_count8[(starts) >> 8];                                                   \
    } while (0)
#define WX_UTF8_PUT_Py_UCS4(out, k, starts, lo, hi, top)                                  \
    do {                                                                                   \
        __m128i zero = _mm_setzero_si128();                                                \
        unsigned m0 = (starts) & 0xFF, m1 = (starts) >> 8;                                 \
        __m128i p0 = wx_squeeze8(_mm_unpacklo_epi8((lo), (hi)), m0);                      \
        __m128i t0 = wx_squeeze8(_mm_unpacklo_epi8((top), zero), m0);                     \
        __m128i p1 = wx_squeeze8(_mm_unpackhi_epi8((lo), (hi)), m1);                      \
        __m128i t1 = wx_squeeze8(_mm_unpackhi_epi8((top), zero), m1);                     \
        _mm_storeu_si128((__m128i *)((out) + (k)), _mm_unpacklo_epi16(p0, t0));            \
        _mm_storeu_si128((__m128i *)((out) + (k) + 4), _mm_unpackhi_epi16(p0, t0));        \
        (k) += wx_count8[m0];                                                              \
        _mm_storeu_si128((__m128i *)((out) + (k)), _mm_unpacklo_epi16(p1, t1));            \
        _mm_storeu_si128((__m128i *)((out) + (k) + 4), _mm_unpackhi_epi16(p1, t1));        \
        (k) += wx_count8[m1];                                                              \
    } while (0)

WX_UTF8_FILL16(wx_utf8_fill16_ucs1, Py_UCS1, 0)
WX_UTF8_FILL16(wx_utf8_fill16_ucs2, Py_UCS2, 0)
WX_UTF8_FILL16(wx_utf8_fill16_ucs4, Py_UCS4, 1)
#endif

/* Build the tables (at import). */
static void wx_utf8_init(void)
{
#if defined(__SSE2__)
    int m, step, i, n;
    for (m = 0; m < 256; m++) {
        int at[8], distance[8];
        for (n = 0, i = 0; i < 8; i++) {
            if (m >> i & 1) {
                at[n] = i;
                distance[n] = i - n;
                n++;
            }
        }
        wx_count8[m] = (unsigned char)n;
        for (step = 0; step < 3; step++) {
            memset(wx_squeeze[m][step], 0, sizeof wx_squeeze[m][step]);
            for (i = 0; i < n; i++) {
                if (distance[i] >> step & 1) {
                    at[i] -= 1 << step;
                    wx_squeeze[m][step][at[i]] = 0xFFFF;
                }
            }
        }
    }
#endif
}

/* Write the code points of s[0:n] into data, the buffer of a new str of the given maxchar
 * (its kind) and length. Returns 0, or -1 when the bytes do not decode to exactly length
 * code points of that kind. No Python API: callable without the GIL. */
static inline int wx_utf8_fill(const unsigned char *s, Py_ssize_t n, void *data, Py_UCS4 maxchar,
                               Py_ssize_t length)
{
    Py_ssize_t i = 0, k = 0, rest;
    switch (maxchar) {
    case 0x7F:
        if (n != length)
            return -1;
        wx_copy(data, s, (size_t)n);
        return 0;
    case 0xFF:
#if defined(__SSE2__)
        k = wx_utf8_fill16_ucs1(s, n, (Py_UCS1 *)data, length, &i);
#endif
        rest = wx_utf8_to_ucs1(s + i, n - i, (Py_UCS1 *)data + k, length - k, maxchar);
        break;
    case 0xFFFF:
#if defined(__SSE2__)
        k = wx_utf8_fill16_ucs2(s, n, (Py_UCS2 *)data, length, &i);
#endif
        rest = wx_utf8_to_ucs2(s + i, n - i, (Py_UCS2 *)data + k, length - k, maxchar);
        break;
    default:
#if defined(__SSE2__)
        k = wx_utf8_fill16_ucs4(s, n, (Py_UCS4 *)data, length, &i);
#endif
        rest = wx_utf8_to_ucs4(s + i, n - i, (Py_UCS4 *)data + k, length - k, maxchar);
    }
    return rest >= 0 && k + rest == length ? 0 : -1;
}

static PyObject *wx_str_from_valid_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t length;
    Py_UCS4 maxchar;
    PyObject *str;
    wx_utf8_measure(s, n, &length, &maxchar);
    str = PyUnicode_New(length, maxchar);
    if (str == NULL)
        return NULL;
    if (wx_utf8_fill(s, n, PyUnicode_DATA(str), maxchar, length) < 0) {
        /* not valid UTF-8 after all: CPython names the error */
        Py_DECREF(str);
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    }
    return str;
}

#endif
