"""What both crypto twins share: message texts, limits and the environment-flag rule.

The compiled twin (``_core_c``) and the pure twin (``_core_py``) import these, so that for
the same input both raise the same class, code and message. No text holds input or secrets.
"""

from __future__ import annotations

import os
from typing import Final


def truthy(name: str) -> bool:
    """Tell whether environment variable ``name`` is set to a true value.

    Truthy means non-empty and not ``0``, ``false`` or ``no`` (any case, spaces ignored).
    """
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


# Message texts shared by both twins (never containing input data or secrets).
MSG_SIGNATURE_MISMATCH: Final = "signature mismatch"
MSG_SIGNATURE_ENCODING: Final = "signed parameter is not encodable as UTF-8"
MSG_AES_KEY_TEXT: Final = "EncodingAESKey must be 43 characters of the base64 alphabet"
MSG_AES_KEY_RAW: Final = "AES key must be 32 bytes"
MSG_B64_CHAR: Final = "invalid character in base64 input"
MSG_B64_PAD: Final = "incorrect base64 padding"
MSG_CT_LENGTH: Final = "ciphertext length is not a positive multiple of 32"
MSG_PAD: Final = "bad PKCS#7 padding"
MSG_FRAME_SHORT: Final = "frame shorter than 20 bytes"
MSG_FRAME_LENGTH: Final = "frame length field overruns the frame"
MSG_CORP_EMPTY: Final = "empty corp_id in frame"
MSG_CORP_UTF8: Final = "corp_id in frame is not UTF-8"
MSG_CORP_MISMATCH: Final = "corp_id mismatch"
MSG_XML_MALFORMED: Final = "not well-formed XML"
MSG_XML_DOCTYPE: Final = "DOCTYPE and ENTITY declarations are refused"
MSG_XML_DEPTH: Final = "XML nested too deeply"
MSG_XML_NO_ENCRYPT: Final = "no Encrypt element"
MSG_XML_NUMBER: Final = "{} is not a number"
MSG_CRYPTO_FAILURE: Final = "the crypto library reported an error"
MSG_TOO_LONG: Final = "the frame would exceed the 2 GiB an AES call takes"
MSG_EMPTY_TOKEN: Final = (
    "token is empty: set the Token shown in the admin console (app > Receive messages)"
)
MSG_EMPTY_CORP_ID: Final = (
    "corp_id is empty: set the CorpID shown in the admin console (My Company)"
)
MSG_REINIT: Final = "MsgCrypto is already initialised: build a new one for other settings"

# The largest padded frame AES-256-CBC encrypts in one call (INT_MAX - 32: OpenSSL takes an int).
MAX_FRAME: Final = 2**31 - 1 - 32

# AI-bot JSON bodies and messages (both twins scan them with the same rules, first problem
# in document order wins; see src_c/jsonscan.h).
MSG_JSON_MALFORMED: Final = "not well-formed JSON"
MSG_JSON_DEPTH: Final = "JSON nested too deeply"
MSG_JSON_NUMBER: Final = "JSON number too long"
MSG_JSON_DUPLICATE: Final = "duplicate key in a JSON object"
MSG_JSON_NOT_OBJECT: Final = "JSON body is not an object"
MSG_JSON_NO_ENCRYPT: Final = "no string encrypt member in JSON body"
MSG_JSON_FIELD: Final = "{} has the wrong JSON type"
# A callback query's signed parameters (AIBotCrypto._open_json checks them too).
MSG_MISSING_PARAMS: Final = "missing or empty msg_signature, timestamp or nonce"
MSG_TIMESTAMP: Final = "timestamp is not an integer"
# The longest timestamp parameter accepted (digits).
MAX_TIMESTAMP_DIGITS: Final = 20

# Deepest element nesting the parsers accept (WeChat's messages nest 4 levels).
MAX_XML_DEPTH: Final = 64
# Deepest JSON nesting (objects and arrays) the AI-bot scanners accept, the top object
# counted: WeChat's AI-bot messages nest 5 levels.
MAX_JSON_DEPTH: Final = 64
# Longest JSON number token accepted: within sys.get_int_max_str_digits()'s smallest setting
# (640), so that json.loads never fails on a document the scanners accepted.
MAX_JSON_NUMBER: Final = 640
