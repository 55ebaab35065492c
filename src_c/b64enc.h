/* Standard base64 encoding, 12 bits per table lookup. */
#ifndef WXCORP_B64ENC_H
#define WXCORP_B64ENC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const char WX_B64_DIGITS[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static unsigned char wx_b64_pairs[4096][2]; /* the two digits of each 12-bit value */

static void wx_b64_init(void)
{
    int i;
    for (i = 0; i < 4096; i++) {
        wx_b64_pairs[i][0] = (unsigned char)WX_B64_DIGITS[i >> 6];
        wx_b64_pairs[i][1] = (unsigned char)WX_B64_DIGITS[i & 63];
    }
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
#endif
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

#endif
