/* str from UTF-8 that the XML scanner has already validated (every byte sequence a Char).
 *
 * Two tight passes instead of CPython's validating decoder: the first counts the code
 * points and finds the narrowest kind that holds them (lead bytes below 0xC4 give Latin-1,
 * below 0xF0 UCS-2, else UCS-4; continuation bytes are all below any lead), the second
 * writes them. The bytes must be valid UTF-8: a sequence with missing or extra continuation
 * bytes goes to CPython's decoder, which names the error, but an overlong form, a surrogate
 * or a lead byte F8..FC can decode to a code point instead of failing. Whatever the bytes,
 * reads stay inside [s, s + n) and writes inside the new str.
 */
#ifndef WXCORP_UTF8_H
#define WXCORP_UTF8_H

#include <Python.h>
#include <stdint.h>

#include "copy.h"
#include <string.h>

#define WX_HIGH 0x8080808080808080ull

/* A word loaded with memcpy, as if little-endian. */
static inline uint64_t wx_le64(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

/* The number of bytes whose bit 7 is set in a word of such flags (no popcount needed). */
static inline Py_ssize_t wx_count_flags(uint64_t flags)
{
    return (Py_ssize_t)(((flags >> 7) * 0x0101010101010101ull) >> 56);
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

static PyObject *wx_str_from_valid_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, continuation = 0, written;
    uint64_t high = 0, wide = 0, astral = 0;
    Py_UCS4 maxchar;
    PyObject *str;
    /* ASCII up to the first word with a high bit: nothing to count there */
#if defined(__SSE2__)
    for (; n - i >= 64; i += 64) {
        __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i)),
                                 _mm_loadu_si128((const __m128i *)(s + i + 16)));
        __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + 32)),
                                 _mm_loadu_si128((const __m128i *)(s + i + 48)));
        if (_mm_movemask_epi8(_mm_or_si128(a, b)))
            break;
    }
#endif
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & WX_HIGH)
            break;
    }
    /* eight bytes a step, on bit 7 of each byte: w << k brings bit 7 - k there */
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        continuation += wx_count_flags(w & ~(w << 1) & WX_HIGH);                /* 10xxxxxx */
        high |= w;
        wide |= w & (w << 1) & ((w << 2) | (w << 3) | (w << 4) | (w << 5));   /* >= C4 */
        astral |= w & (w << 1) & (w << 2) & (w << 3);                         /* >= F0 */
    }
    for (; i < n; i++) {
        uint64_t c = s[i] << 0;
        continuation += (c & 0xC0) == 0x80;
        high |= c;
        wide |= c >= 0xC4 ? 0x80 : 0;
        astral |= c >= 0xF0 ? 0x80 : 0;
    }
    maxchar = (astral & WX_HIGH) ? 0x10FFFF
              : (wide & WX_HIGH) ? 0xFFFF
              : (high & WX_HIGH) ? 0xFF
                                 : 0x7F;
    str = PyUnicode_New(n - continuation, maxchar);
    if (str == NULL)
        return NULL;
    switch (maxchar) {
    case 0x7F:
        wx_copy(PyUnicode_1BYTE_DATA(str), s, (size_t)n);
        return str;
    case 0xFF:
        written = wx_utf8_to_ucs1(s, n, PyUnicode_1BYTE_DATA(str), n - continuation, maxchar);
        break;
    case 0xFFFF:
        written = wx_utf8_to_ucs2(s, n, PyUnicode_2BYTE_DATA(str), n - continuation, maxchar);
        break;
    default:
        written = wx_utf8_to_ucs4(s, n, PyUnicode_4BYTE_DATA(str), n - continuation, maxchar);
    }
    if (written != n - continuation) { /* not valid UTF-8 after all: CPython names the error */
        Py_DECREF(str);
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    }
    return str;
}

#endif
