"""``info``: the version, the crypto core in use and the OpenSSL it links, and a self-check."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Callable
from typing import Final

import wxcorp_fast
from wxcorp_fast import _core

__all__ = ["self_check", "cmd_info", "KNOWN_ECHO_PLAIN", "KNOWN_POST_FIELDS"]

_log = logging.getLogger(__name__)

# Known answers for the official example in wxcorp_fast.testing.vectors (WeChat Work docs,
# "加解密方案说明" / Tencent's WXBizMsgCrypt samples). Public example data, no secret.
KNOWN_ECHO_PLAIN: Final = b"1616140317555161061"
KNOWN_POST_FIELDS: Final = {
    "to_user_name": "wx5823bf96d3bd56c7",
    "from_user_name": "mycreate",
    "create_time": 1409659813,
    "msg_type": "text",
    "content": "hello",
    "msg_id": 4561255354251345929,
    "agent_id": 218,
}
_REPLY: Final = b"<xml><Content><![CDATA[self-check]]></Content></xml>"


def self_check() -> list[str]:
    """Run the official docs' example through the implementation in use.

    Verifies and decrypts the URL check and the POST message, parses the message, and
    round-trips a reply through ``MsgCrypto.encrypt`` and ``MsgCrypto.decrypt``.

    Returns:
        The problems found, empty when every known answer matched. Problems name the
        step and the error class, never decrypted content.
    """
    from wxcorp_fast.testing import vectors

    problems: list[str] = []
    crypto = wxcorp_fast.MsgCrypto(vectors.TOKEN, vectors.ENCODING_AES_KEY, vectors.CORP_ID)

    def verify_url() -> bool:
        echo = crypto.verify_url(
            vectors.ECHO_MSG_SIGNATURE, vectors.ECHO_TIMESTAMP, vectors.ECHO_NONCE, vectors.ECHOSTR
        )
        return echo == KNOWN_ECHO_PLAIN

    def decrypt() -> bool:
        xml = crypto.decrypt(
            vectors.POST_BODY,
            vectors.POST_MSG_SIGNATURE,
            vectors.POST_TIMESTAMP,
            vectors.POST_NONCE,
        )
        msg = wxcorp_fast.parse_message(xml)
        return all(getattr(msg, name) == value for name, value in KNOWN_POST_FIELDS.items())

    def round_trip() -> bool:
        envelope = crypto.encrypt(_REPLY, nonce=vectors.POST_NONCE)
        raw = wxcorp_fast.parse_message(envelope).raw
        opened = crypto.decrypt(envelope, raw["MsgSignature"], raw["TimeStamp"], raw["Nonce"])
        return opened == _REPLY

    steps: dict[str, Callable[[], bool]] = {
        "verify_url": verify_url,
        "decrypt + parse_message": decrypt,
        "encrypt round trip": round_trip,
    }
    for name, run in steps.items():
        try:
            if not run():
                problems.append(f"{name}: wrong result")
        except Exception as exc:  # a self-check reports, it does not crash
            code = getattr(exc, "code", None)
            problems.append(f"{name}: {type(exc).__name__}" + (f" ({code})" if code else ""))
    return problems


def _loaded_libcrypto() -> list[str]:
    """Return the libcrypto files mapped into this process (Linux only, else empty)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "libcrypto" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def cmd_info(args: argparse.Namespace) -> int:
    """Print the version, the core in use, OpenSSL, and run the known-answer self-check."""
    lines = [
        f"wxcorp_fast {wxcorp_fast.__version__}",
        f"location: {wxcorp_fast.__file__}",
        f"python: {platform.python_implementation()} {platform.python_version()}"
        f" ({sys.executable})",
        f"implementation: {wxcorp_fast.IMPLEMENTATION}",
    ]
    if wxcorp_fast.IMPLEMENTATION == "compiled":
        from wxcorp_fast import _core_c

        lines.append(f"openssl: {_core_c.OPENSSL_VERSION}")
        linkage = _core_c.OPENSSL_LINKAGE
        lines.append(
            "openssl linkage: " + ("bundled, static" if linkage == "static" else "system, shared")
        )
        # a static core maps no libcrypto of its own: any listed was loaded by other modules
        # (the standard library's ssl and hashlib)
        key = "libcrypto (not the core's)" if linkage == "static" else "libcrypto"
        lines.extend(f"{key}: {path}" for path in _loaded_libcrypto())
    else:
        lines.append(f"compiled core missing: {_core.IMPORT_ERROR}")
        try:
            from cryptography import __version__ as crypto_version
            from cryptography.hazmat.backends.openssl.backend import backend

            lines.append(
                f"openssl: {backend.openssl_version_text()} (via cryptography {crypto_version})"
            )
            lines.append("openssl linkage: cryptography's own (the pure-Python core)")
        except Exception as exc:  # informational only
            _log.debug("cannot read cryptography's OpenSSL version: %r", exc)
    print("\n".join(lines))

    problems = self_check()
    if problems:
        print(f"self-check: FAILED ({'; '.join(problems)})")
        return 1
    print("self-check: ok (official docs example: verify_url, decrypt, parse_message, encrypt)")
    return 0
