/* Standard base64: encoding 12 bits per table lookup, strict decoding four digits per step.
 *
 * Decoding follows the pure twin's _b64decode: only the 64 digits and '=' padding at the end
 * are accepted; the first error is named (-1: a character outside the alphabet, -2: bad
 * padding), so both twins raise the same Base64Error. */
#ifndef WXCORP_B64_H
#define WXCORP_B64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const char WX_B64_DIGITS[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static unsigned char wx_b64_pairs[4096][2]; /* the two digits of each 12-bit value */

/* 0..63 digit values, 64 for '=', 255 outside the alphabet */
static unsigned char wx_b64_rev[256];
/* digit values pre-shifted to their place in a quad's 24 bits, WX_B64_BAD for any non-digit
 * ('=' included): one OR of four lookups decodes a quad and flags a bad character */
#define WX_B64_BAD 0x40000000u
static uint32_t wx_b64_quad[4][256];

static void wx_b64_init(void)
{
    int i, j;
    for (i = 0; i < 4096; i++) {
        wx_b64_pairs[i][0] = (unsigned char)WX_B64_DIGITS[i >> 6];
        wx_b64_pairs[i][1] = (unsigned char)WX_B64_DIGITS[i & 63];
    }
    memset(wx_b64_rev, 255, sizeof wx_b64_rev);
    for (i = 0; i < 64; i++)
        wx_b64_rev[(unsigned char)WX_B64_DIGITS[i]] = (unsigned char)i;
    wx_b64_rev['='] = 64;
    for (i = 0; i < 256; i++)
        for (j = 0; j < 4; j++)
            wx_b64_quad[j][i] = wx_b64_rev[i] < 64
                ? (uint32_t)wx_b64_rev[i] << (18 - 6 * j) : WX_B64_BAD;
}

/* Is c one of the 64 digits? */
static inline int wx_b64_is_digit(unsigned char c)
{
    return wx_b64_rev[c] < 64;
}

/* The value of digit c (0..63); only for characters wx_b64_is_digit accepts. */
static inline unsigned wx_b64_value(unsigned char c)
{
    return wx_b64_rev[c];
}

/* Decode n (a multiple of 4) characters already known to be digits into out. */
static void wx_b64_decode_quads(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t i;
    uint32_t v;
    for (i = 0; i < n; i += 4, out += 3) {
        v = (uint32_t)wx_b64_rev[s[i]] << 18 | (uint32_t)wx_b64_rev[s[i + 1]] << 12
            | (uint32_t)wx_b64_rev[s[i + 2]] << 6 | wx_b64_rev[s[i + 3]];
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
    }
}

/* Validate strict base64: the decoded length, or -1 (a character outside the alphabet) or
 * -2 (bad padding), checked in that order. */
static ptrdiff_t wx_b64_check(const unsigned char *s, size_t n)
{
    size_t i;
    ptrdiff_t pad = -1;
    unsigned char c;
    for (i = 0; i < n; i++) {
        c = wx_b64_rev[s[i]];
        if (c == 255)
            return -1;
        if (c == 64 && pad < 0)
            pad = (ptrdiff_t)i;
    }
    if (n % 4 || (pad >= 0 && (pad < (ptrdiff_t)n - 2 || s[n - 1] != '=')))
        return -2;
    return (ptrdiff_t)(n / 4 * 3) - (pad < 0 ? 0 : (ptrdiff_t)n - pad);
}

/* Decode base64 that wx_b64_check accepted; the number of bytes written. */
static size_t wx_b64_decode_checked(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t full = n, written;
    uint32_t v;
    if (n && s[n - 1] == '=')
        full = n - 4;
    wx_b64_decode_quads(s, full, out);
    written = full / 4 * 3;
    if (full < n) {
        s += full;
        v = (uint32_t)wx_b64_rev[s[0]] << 18 | (uint32_t)wx_b64_rev[s[1]] << 12;
        out[written++] = (unsigned char)(v >> 16);
        if (s[2] != '=') {
            v |= (uint32_t)wx_b64_rev[s[2]] << 6;
            out[written++] = (unsigned char)(v >> 8);
        }
    }
    return written;
}

/* Validate and decode strict base64 in one pass into out (room for n / 4 * 3 bytes).
 * The decoded length, or -1 / -2 as wx_b64_check: an anomaly anywhere sends the input to
 * wx_b64_check, which names the first error. */
static ptrdiff_t wx_b64_decode(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t i;
    uint32_t a, b, c, d, bad = 0;
    unsigned char *o = out;
    ptrdiff_t checked;
    if (n % 4)
        return wx_b64_check(s, n);
    if (n == 0)
        return 0;
    for (i = 0; i + 4 < n; i += 4, o += 3) {
        a = wx_b64_quad[0][s[i]] | wx_b64_quad[1][s[i + 1]]
            | wx_b64_quad[2][s[i + 2]] | wx_b64_quad[3][s[i + 3]];
        bad |= a;
        o[0] = (unsigned char)(a >> 16);
        o[1] = (unsigned char)(a >> 8);
        o[2] = (unsigned char)a;
    }
    a = wx_b64_rev[s[n - 4]];
    b = wx_b64_rev[s[n - 3]];
    c = wx_b64_rev[s[n - 2]];
    d = wx_b64_rev[s[n - 1]];
    if (bad & WX_B64_BAD || (a | b) & 0xC0 || (c == 64 && d != 64) || (c | d) & 0x80) {
        checked = wx_b64_check(s, n); /* an error: name it (decode anew should it be none) */
        return checked < 0 ? checked : (ptrdiff_t)wx_b64_decode_checked(s, n, out);
    }
    o[0] = (unsigned char)(a << 2 | b >> 4);
    if (c == 64)
        return o - out + 1;
    o[1] = (unsigned char)(b << 4 | c >> 2);
    if (d == 64)
        return o - out + 2;
    o[2] = (unsigned char)(c << 6 | d);
    return o - out + 3;
}

/* Encode data[0:n] into o (room for (n + 2) / 3 * 4 bytes), '=' padded. */
static void wx_b64_encode(const unsigned char *data, size_t n, unsigned char *o)
{
    size_t i = 0;
    uint32_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    /* six bytes (48 bits, four lookups) into one 8-byte store while 8 bytes are readable */
    for (; i + 8 <= n; i += 6, o += 8) {
        uint64_t w, out;
        uint16_t a, b, c, d;
        memcpy(&w, data + i, 8);
        w = __builtin_bswap64(w);
        memcpy(&a, wx_b64_pairs[(w >> 52) & 0xFFF], 2);
        memcpy(&b, wx_b64_pairs[(w >> 40) & 0xFFF], 2);
        memcpy(&c, wx_b64_pairs[(w >> 28) & 0xFFF], 2);
        memcpy(&d, wx_b64_pairs[(w >> 16) & 0xFFF], 2);
        out = (uint64_t)a | (uint64_t)b << 16 | (uint64_t)c << 32 | (uint64_t)d << 48;
        memcpy(o, &out, 8);
    }
#endif /* WXCORP_B64_H */
    for (; i + 3 <= n; i += 3, o += 4) {
        v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        memcpy(o, wx_b64_pairs[v >> 12], 2);
        memcpy(o + 2, wx_b64_pairs[v & 0xFFF], 2);
    }
    if (i < n) {
        v = (uint32_t)data[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)data[i + 1] << 8;
        o[0] = (unsigned char)WX_B64_DIGITS[v >> 18];
        o[1] = (unsigned char)WX_B64_DIGITS[(v >> 12) & 63];
        o[2] = i + 1 < n ? (unsigned char)WX_B64_DIGITS[(v >> 6) & 63] : '=';
        o[3] = '=';
    }
}

#endif /* WXCORP_B64_H */
