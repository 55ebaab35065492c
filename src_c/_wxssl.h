/* Shim over OpenSSL 1.1.1 and 3.x: the cipher and digest, fetched once, and the version. */
#ifndef WXCORP_WXSSL_H
#define WXCORP_WXSSL_H

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x10101000L
#error "wxcorp_fast needs OpenSSL 1.1.1 or newer"
#endif

/* Explicit fetches on 3.x avoid the slow implicit fetch inside every EVP_*Init_ex
 * (openssl/openssl#17064); the objects are never freed: they live for the process. */
static const EVP_CIPHER *wx_aes_256_cbc(void) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
#else
    return EVP_aes_256_cbc();
#endif
}

static const EVP_MD *wx_sha1(void) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return EVP_MD_fetch(NULL, "SHA1", NULL);
#else
    return EVP_sha1();
#endif
}

/* setup.py defines WXCORP_FAST_OPENSSL_STATIC when libcrypto.a is linked into the extension */
#ifdef WXCORP_FAST_OPENSSL_STATIC
#define WX_OPENSSL_STATIC 1
#else
#define WX_OPENSSL_STATIC 0
#endif

static const char *wx_openssl_version(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

#endif
