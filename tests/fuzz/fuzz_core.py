"""Coverage-guided differential fuzzing of the crypto core (atheris): compiled vs pure twin.

    python tests/fuzz/fuzz_core.py TARGET [libFuzzer flags, e.g. -max_total_time=60]

TARGET is one of ``parse_message``, ``parse_envelope``, ``msgcrypto_decrypt``,
``decrypt_msg``, ``unpack_frame``, and the callback server's one-call paths
``open_callback``, ``text_reply``, ``plain_query``. Each input goes through both twins;
they must give the same value (types included) or the same error (class, code, message);
anything else — a difference, or an exception outside the documented ones — is a finding,
and a crash of the compiled core is one too (run it on an ASan+UBSan build:
``scripts/fuzz.sh``). Coverage guidance comes from the instrumented Python (the pure twin
mirrors every check of the compiled one). Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: _samples

with atheris.instrument_imports():
    from wxcorp_fast import _core_py as pure
    from wxcorp_fast.errors import CallbackError

import wxcorp_fast._core_c as compiled  # noqa: E402 - C code: nothing to instrument
from wxcorp_fast import messages  # noqa: E402

# what importing wxcorp_fast._core does: the compiled core's messages read .raw through it
messages.use_tree_parser(compiled._parse_tree)

from _samples import aes_cbc_encrypt, canonical  # noqa: E402

TOKEN = "QDG6eK"
KEY_TEXT = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
KEY = pure.decode_aes_key(KEY_TEXT)
CORP = "wx5823bf96d3bd56c7"
#: what a twin may raise on hostile input besides CallbackError (documented TypeError/ValueError)
ALLOWED = (CallbackError, TypeError, ValueError, OverflowError)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", canonical(fn(*args)))
    except ALLOWED as exc:
        return ("error", type(exc), getattr(exc, "code", None), str(exc))


def same(name: str, *args: Any) -> None:
    ours, spec = outcome(getattr(compiled, name), *args), outcome(getattr(pure, name), *args)
    if ours != spec:
        raise AssertionError(f"{name}: compiled={ours!r} pure={spec!r} input={args!r}")


def _frame(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A plaintext frame, well-formed or not, padded or not (chosen by the input)."""
    random = fdp.ConsumeBytes(16).ljust(16, b"\0")
    msg = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    length = fdp.ConsumeIntInRange(0, 0xFFFFFFFF) if fdp.ConsumeBool() else len(msg)
    corp = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)) if fdp.ConsumeBool() else CORP.encode()
    frame = random + length.to_bytes(4, "big") + msg + corp
    if fdp.ConsumeBool():
        return pure.pkcs7_pad(frame)
    pad = fdp.ConsumeIntInRange(0, 40)
    frame += bytes([pad]) * fdp.ConsumeIntInRange(0, 40)
    return frame + b"\0" * (-len(frame) % 32)


def _encrypt_text(fdp: atheris.FuzzedDataProvider) -> str:
    if fdp.ConsumeBool():
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 256))
    text = aes_cbc_encrypt(_frame(fdp), KEY) if fdp.ConsumeBool() else ""
    if fdp.ConsumeBool() and text:  # damage it
        at = fdp.ConsumeIntInRange(0, len(text) - 1)
        text = text[:at] + fdp.ConsumeUnicodeNoSurrogates(3) + text[at + 1 :]
    return text


def parse_message(data: bytes) -> None:
    same("parse_message", data)


def parse_envelope(data: bytes) -> None:
    same("parse_envelope", data)


def unpack_frame(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    same("unpack_frame", _frame(fdp) if fdp.ConsumeBool() else fdp.ConsumeBytes(600))


def decrypt_msg(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = _encrypt_text(fdp)
    same("decrypt_msg", text, KEY)
    if text.isascii():
        same("decrypt_msg", text.encode(), KEY)


def msgcrypto_decrypt(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    encrypt = _encrypt_text(fdp)
    timestamp = str(fdp.ConsumeIntInRange(0, 2**40))
    nonce = fdp.ConsumeUnicodeNoSurrogates(12) or "n"
    padding = " " * (3000 if fdp.ConsumeBool() else 0)  # the GIL-free path from 2048 B
    if fdp.ConsumeBool():
        body: bytes | str = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>"
            f"</Encrypt><AgentID>218</AgentID>{padding}</xml>"
        )
    else:
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    signature = pure.msg_signature(TOKEN, timestamp, nonce, encrypt)
    if fdp.ConsumeBool():
        signature = fdp.ConsumeUnicodeNoSurrogates(40)
    results = []
    for twin in (compiled, pure):
        crypto = twin.MsgCrypto(TOKEN, KEY_TEXT, CORP)
        results.append(outcome(crypto.decrypt, body, signature, timestamp, nonce))
    if results[0] != results[1]:
        raise AssertionError(f"MsgCrypto.decrypt: compiled={results[0]!r} pure={results[1]!r}")


def open_callback(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    to = CORP if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(8)
    if fdp.ConsumeBool():  # a sealed message, its ids and fields chosen by the input
        inner = (
            f"<xml><ToUserName><![CDATA[{to if fdp.ConsumeBool() else 'other'}]]></ToUserName>"
            f"<MsgType>{'event' if fdp.ConsumeBool() else 'text'}</MsgType>"
            f"<Event>{'subscribe' if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(6)}"
            f"</Event><AgentID>{fdp.ConsumeIntInRange(0, 300)}</AgentID>"
            f"{fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64))}</xml>"
        )
        frame_corp = (to if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(8)) or "x"
        encrypt = pure.encrypt_msg(inner, frame_corp, KEY)
    else:
        encrypt = _encrypt_text(fdp)
    timestamp = str(fdp.ConsumeIntInRange(0, 2**40))
    nonce = fdp.ConsumeUnicodeNoSurrogates(12) or "n"
    agent = fdp.PickValueInList(["218", "0", "", "x", "+218", "-1"])
    padding = " " * (3000 if fdp.ConsumeBool() else 0)  # decrypt's GIL-free path from 2048 B
    body = (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>"
        f"</Encrypt><AgentID>{agent}</AgentID>{padding}</xml>"
    ).encode()
    if fdp.ConsumeBool():
        body = body[: fdp.ConsumeIntInRange(0, len(body))]
    query = {
        "msg_signature": pure.msg_signature(TOKEN, timestamp, nonce, encrypt),
        "timestamp": timestamp if fdp.ConsumeBool() else fdp.ConsumeUnicode(4),
        "nonce": nonce,
    }
    if fdp.ConsumeBool():
        query["msg_signature"] = fdp.ConsumeUnicode(40)
    corp_id = CORP if fdp.ConsumeBool() else fdp.PickValueInList(["", to])
    agent_id = fdp.PickValueInList([218, 0, 5])
    same("_open_callback", query, body, TOKEN, KEY, corp_id, agent_id)


def text_reply(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    texts = [fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 64)) for _ in range(3)]
    create_time = fdp.ConsumeIntInRange(-(2**63), 2**64)
    same("_text_reply", texts[0], texts[1], create_time, texts[2])


def plain_query(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    same("_plain_query", fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 128)))


TARGETS: dict[str, Callable[[bytes], None]] = {
    f.__name__: f
    for f in (
        parse_message,
        parse_envelope,
        unpack_frame,
        decrypt_msg,
        msgcrypto_decrypt,
        open_callback,
        text_reply,
        plain_query,
    )
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv[1]]
    print(f"compiled core: {compiled.__file__}", file=sys.stderr)
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
