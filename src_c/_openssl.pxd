# Declarations only: the parts of libcrypto the core calls, all callable without the GIL.

cdef extern from "openssl/evp.h" nogil:
    ctypedef struct EVP_CIPHER:
        pass
    ctypedef struct EVP_CIPHER_CTX:
        pass
    ctypedef struct EVP_MD:
        pass
    ctypedef struct EVP_MD_CTX:
        pass
    ctypedef struct ENGINE:
        pass

    EVP_CIPHER_CTX *EVP_CIPHER_CTX_new()
    void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx)
    int EVP_CIPHER_CTX_copy(EVP_CIPHER_CTX *out, const EVP_CIPHER_CTX *inp)
    int EVP_CIPHER_CTX_set_padding(EVP_CIPHER_CTX *ctx, int pad)
    int EVP_CipherInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
                          const unsigned char *key, const unsigned char *iv, int enc)
    int EVP_CipherUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
                         const unsigned char *inp, int inl)
    int EVP_CipherFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *outm, int *outl)

    EVP_MD_CTX *EVP_MD_CTX_new()
    void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
    int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
    int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
    int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)

cdef extern from "openssl/rand.h" nogil:
    int RAND_bytes(unsigned char *buf, int num)

cdef extern from "openssl/crypto.h" nogil:
    int CRYPTO_memcmp(const void *a, const void *b, size_t length)
    void OPENSSL_cleanse(void *ptr, size_t len)

cdef extern from "openssl/err.h" nogil:
    void ERR_clear_error()

cdef extern from "_wxssl.h" nogil:
    const EVP_CIPHER *wx_aes_256_cbc()
    const EVP_MD *wx_sha1()
    const char *wx_openssl_version()
    const int WX_OPENSSL_STATIC  # 1 when libcrypto.a is linked in (WXCORP_FAST_OPENSSL_STATIC)
