# cython: language_level=3, embedsignature=True, embedsignature.format=clinic, binding=True
# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled twin of the crypto core: libcrypto EVP, C base64 and a C XML scanner.

Same names, signatures, results and errors as wxcorp_fast._core_py (the specification).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.limits cimport INT_MAX
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy, memset

from _openssl cimport *

import time

from wxcorp_fast._spec import (
    MSG_B64_CHAR,
    MSG_B64_PAD,
    MSG_CORP_UTF8,
    MAX_XML_DEPTH,
    MSG_AES_KEY_RAW,
    MSG_AES_KEY_TEXT,
    MSG_CORP_EMPTY,
    MSG_CORP_MISMATCH,
    MSG_CRYPTO_FAILURE,
    MSG_CT_LENGTH,
    MSG_FRAME_LENGTH,
    MSG_FRAME_SHORT,
    MSG_PAD,
    MSG_SIGNATURE_ENCODING,
    MSG_SIGNATURE_MISMATCH,
    MSG_XML_DEPTH,
    MSG_XML_DOCTYPE,
    MSG_XML_MALFORMED,
    MSG_XML_NO_ENCRYPT,
    MSG_XML_NUMBER,
    MSG_TOO_LONG,
    MSG_REINIT,
    MSG_EMPTY_TOKEN,
    MSG_EMPTY_CORP_ID,
)
from wxcorp_fast.errors import (
    Base64Error,
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    SignatureError,
    XMLParseError,
)
from wxcorp_fast.messages import (
    EMPTY_VALUES,
    FLOAT,
    INT,
    LOCATION_INFO,
    LOCATION_INFO_FIELDS,
    PICS_INFO,
    SCAN_INFO,
    STR,
    TAG_INDEX,
    Envelope,
    MixedMessage,
    ScanCodeInfo,
    SendLocationInfo,
    SendPicsInfo,
)

__all__ = [
    "decode_aes_key",
    "msg_signature",
    "signature",
    "pkcs7_pad",
    "pkcs7_unpad",
    "pack_frame",
    "unpack_frame",
    "encrypt_msg",
    "decrypt_msg",
    "parse_envelope",
    "parse_message",
    "MsgCrypto",
]

from _cpython cimport *
from _chelpers cimport *
from _jsonscan cimport *

DEF BLOCK = 32
DEF GIL_MINSIZE = 2048      # CPython's HASHLIB_GIL_MINSIZE
DEF STACK_BUF = 4096
# The typed scan runs at several GB/s: a 16 KB message takes ~2 us, less than a GIL hand-off
# between two busy threads costs on a VM, so parse_message keeps the GIL below 64 KiB
# (measured: 2 threads doing decrypt+parse of 16 KB messages scale better that way).
DEF SCAN_GIL_MINSIZE = 65536
DEF KEY_CACHE_SIZE = 64

cdef const EVP_CIPHER *_AES = wx_aes_256_cbc()
cdef const EVP_MD *_SHA1 = wx_sha1()
if _AES is NULL or _SHA1 is NULL:
    ERR_clear_error()
    raise ImportError("libcrypto has no AES-256-CBC or SHA-1")

cdef EVP_MD_CTX *_md_hot = EVP_MD_CTX_new()  # for inputs under GIL_MINSIZE, GIL held
if _md_hot is NULL:
    raise MemoryError()

OPENSSL_VERSION = wx_openssl_version().decode("ascii", "replace")
# "static": libcrypto is linked into this module (the self-contained wheels); "shared": the
# system's libcrypto, loaded by the dynamic linker
OPENSSL_LINKAGE = "static" if WX_OPENSSL_STATIC else "shared"

assert XS_MAX_DEPTH == MAX_XML_DEPTH

cdef const char *_HEX = b"0123456789abcdef"
wx_b64_init()
_utf8_init()

include "_keys.pxi"
include "_signature.pxi"
include "_frame.pxi"
include "_aes.pxi"
include "_xml.pxi"
include "_msgcrypto.pxi"
include "_replies.pxi"
include "_query.pxi"
include "_aibot.pxi"
