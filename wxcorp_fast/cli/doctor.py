"""``doctor``: run every check of a callback that failed, and say which setting to change.

Given the agent's settings and a request as copied from an access log or from the admin
console's test tool (the full URL with its query string, and the POST body), it goes
through the server's checks one by one — signed parameters, envelope, corp id, AgentID,
signature, timestamp, decryption, the frame's receive id, the message — and prints one line
per check. Nothing secret is printed: not the Token, the key, the signature or the message.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from .._spec import MSG_B64_CHAR, MSG_B64_PAD
from ..callback._query import parse_query
from ..callback.checks import age_text, signed_params
from ..crypto import decode_aes_key, decrypt_msg, msg_signature, parse_envelope, parse_message
from ..crypto import signature as plain_signature
from ..errors import CallbackError, InvalidAESKeyError
from ._options import add_credentials

__all__ = ["add_doctor_command", "diagnose", "Finding"]

OK: Final = "ok"
FAIL: Final = "FAIL"

Finding = tuple[str, str, str]
"""``(status, check, what it found and what to change)``."""


class _Stop(Exception):
    """A check failed and the later checks cannot run."""


def _signature_variants(
    token: str, timestamp: str, nonce: str, encrypt: str
) -> dict[str, Callable[[], str]]:
    """Ways a sender or a proxy can get the signature wrong, each as its own signature."""
    return {
        "the signature covers the Token, timestamp and nonce only (plain mode, without the"
        " Encrypt text)": lambda: plain_signature(token, timestamp, nonce),
        "the Encrypt text's '+' characters were turned into spaces on the way (a URL or form"
        " decoder; in a URL they must arrive as %2B)": lambda: msg_signature(
            token, timestamp, nonce, encrypt.replace(" ", "+")
        ),
        "the signed Encrypt text had spaces where this one has '+'": lambda: msg_signature(
            token, timestamp, nonce, encrypt.replace("+", " ")
        ),
        "whitespace was added around the Encrypt text on the way": lambda: msg_signature(
            token, timestamp, nonce, encrypt.strip()
        ),
    }


def diagnose(
    url: str,
    body: bytes | None,
    *,
    corp_id: str,
    agent_id: int,
    token: str,
    encoding_aes_key: str,
    replay_window: float | None = 300,
    now: float | None = None,
) -> list[Finding]:
    """Run the server's checks on one request; return what each found, in order.

    ``body`` is the POST body, or ``None`` for the URL check (a GET with ``echostr``).
    The request would be accepted when no finding is ``FAIL``.
    """
    findings: list[Finding] = []

    def say(status: str, check: str, text: str) -> None:
        findings.append((status, check, text))

    try:
        _run(
            say,
            url,
            body,
            corp_id,
            agent_id,
            token,
            encoding_aes_key,
            replay_window,
            time.time() if now is None else now,
        )
    except _Stop:
        pass
    return findings


def _run(
    say: Callable[[str, str, str], None],
    url: str,
    body: bytes | None,
    corp_id: str,
    agent_id: int,
    token: str,
    encoding_aes_key: str,
    replay_window: float | None,
    now: float,
) -> None:
    try:
        aes_key = decode_aes_key(encoding_aes_key)
    except InvalidAESKeyError:
        say(
            FAIL,
            "settings",
            "the EncodingAESKey is not 43 characters of the base64 alphabet:"
            " copy it again from the admin console (app > Receive messages)",
        )
        raise _Stop from None
    if not token:
        say(FAIL, "settings", "the Token is empty: copy it from the admin console")
        raise _Stop

    query = parse_query(urlsplit(url).query)
    try:
        sig, ts_text, nonce, timestamp = signed_params(query)
    except CallbackError as exc:
        say(
            FAIL,
            "query",
            f"{exc}: the URL must carry WeChat's query string as it arrived"
            " (msg_signature, timestamp, nonce); does the proxy or the log keep it?",
        )
        raise _Stop from None
    say(OK, "query", "msg_signature, timestamp and nonce present")

    if body is None:
        encrypt = query.get("echostr", "")
        if not encrypt:
            say(
                FAIL,
                "request",
                "no POST body and no echostr in the URL: give the body with"
                " --body FILE (or - for stdin), or the URL check's full URL",
            )
            raise _Stop
        say(OK, "request", "a URL check (GET, echostr)")
        envelope_corp: str | None = None
        envelope_agent: int | None = None
    else:
        say(OK, "request", "a message (POST)")
        try:
            envelope = parse_envelope(body)
        except CallbackError as exc:
            hint = (
                " — this is JSON: AI-bot callbacks are served by wxcorp_fast.aibot"
                if body.lstrip()[:1] == b"{"
                else ""
            )
            say(FAIL, "envelope", f"the body is not the callback XML envelope ({exc}){hint}")
            raise _Stop from None
        encrypt, envelope_corp, envelope_agent = (
            envelope.encrypt,
            envelope.to_user_name,
            envelope.agent_id,
        )
        say(OK, "envelope", f"ToUserName {envelope_corp}, AgentID {envelope_agent}")
        if corp_id and envelope_corp != corp_id:
            say(
                FAIL,
                "corp id",
                f"the envelope is for corp {envelope_corp!r}, the setting says"
                f" {corp_id!r}: set --corp-id (WXCORP_CORP_ID) to {envelope_corp!r}",
            )
        elif corp_id:
            say(OK, "corp id", "the envelope's ToUserName is the configured corp id")
        if corp_id and envelope_agent not in (agent_id, 0):
            say(
                FAIL,
                "agent id",
                f"the envelope is for AgentID {envelope_agent}, the setting"
                f" says {agent_id}: this URL receives another app's callbacks; set --agent-id"
                f" (WXCORP_AGENT_ID) to {envelope_agent}, or serve both apps with"
                " MultiAgentServerFrontend",
            )
        elif corp_id:
            say(
                OK,
                "agent id",
                f"AgentID {envelope_agent} is this agent's"
                + (" (0: a subscription event)" if envelope_agent == 0 else ""),
            )

    expected = msg_signature(token, ts_text, nonce, encrypt)
    if expected == sig.lower():
        say(OK, "signature", "matches with this Token")
    else:
        variants = _signature_variants(token, ts_text, nonce, encrypt)
        matched = [name for name, sign in variants.items() if sign() == sig.lower()]
        if matched:
            say(
                FAIL,
                "signature",
                f"the Token is right, but {matched[0]}: fix what rewrites"
                " the request on its way to the server",
            )
        else:
            say(
                FAIL,
                "signature",
                "does not match with this Token, and no altered form of the"
                " request matches either: the Token is wrong — copy it again from the admin"
                " console (app > Receive messages > Set API receive), or a proxy changed the"
                " query's timestamp or nonce",
            )

    age = now - timestamp
    if replay_window is not None and abs(age) > replay_window:
        say(
            FAIL,
            "timestamp",
            f"{age_text(age)} by this machine's clock, outside the {replay_window:g} s replay"
            " window: a request copied from a log is refused as a replay (run again with"
            " --replay-window 0 to check the rest); a live request this old means the"
            " server's clock is wrong (NTP)",
        )
    else:
        say(OK, "timestamp", f"{age_text(age)} by this machine's clock")

    try:
        _, msg, frame_corp = decrypt_msg(encrypt, aes_key)
    except CallbackError as exc:
        if str(exc) in (MSG_B64_CHAR, MSG_B64_PAD):
            say(FAIL, "decrypt", f"{exc}: the Encrypt text was cut or re-encoded on the way")
        else:
            say(
                FAIL,
                "decrypt",
                f"{type(exc).__name__} ({exc}): this EncodingAESKey does not"
                " open the message — copy the key again from the admin console; after a"
                " change there, keep the old one with DefaultAgentServer.update_aes_key()",
            )
        raise _Stop from None
    say(OK, "decrypt", "the EncodingAESKey opens the message")

    want = envelope_corp if envelope_corp is not None else corp_id
    if want and frame_corp != want:
        say(
            FAIL,
            "receive id",
            f"the message was encrypted for {frame_corp!r}, not {want!r}:"
            f" set --corp-id (WXCORP_CORP_ID) to {frame_corp!r}",
        )
    elif want:
        say(OK, "receive id", f"the frame carries {frame_corp}")

    if body is not None:
        try:
            inner = parse_message(msg)
        except CallbackError as exc:
            say(FAIL, "message", f"the decrypted message does not parse ({exc})")
            raise _Stop from None
        if inner.to_user_name != envelope_corp or inner.agent_id != envelope_agent:
            say(FAIL, "message", "the decrypted message does not match its envelope: forged")
        else:
            kind = inner.msg_type + (f"/{inner.event}" if inner.event else "")
            say(OK, "message", f"{kind} from {inner.from_user_name}")


def _read_body(path: str | None) -> bytes | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def _cmd_doctor(args: argparse.Namespace) -> int:
    """Diagnose one request; exit 0 when it would be accepted."""
    findings = diagnose(
        args.url,
        _read_body(args.body),
        corp_id=args.corp_id,
        agent_id=args.agent_id,
        token=args.token,
        encoding_aes_key=args.encoding_aes_key,
        replay_window=args.replay_window or None,
    )
    for status, check, text in findings:
        print(f"[{status:>4}] {check}: {text}")
    failed = [check for status, check, _ in findings if status == FAIL]
    ran_all = findings[-1][1] == ("message" if args.body is not None else "receive id")
    if failed:
        print(f"verdict: refused — fix the {', '.join(dict.fromkeys(failed))} check(s) above")
        return 1
    if not ran_all:
        print("verdict: incomplete")
        return 1
    print("verdict: this request would be accepted with these settings")
    return 0


def add_doctor_command(commands: Any) -> None:
    """Register ``doctor`` on the command line's subparsers."""
    doctor = commands.add_parser(
        "doctor",
        help="say why a callback was refused and which setting to change",
        description="Run every check of one callback request — as copied from an access log"
        " or the admin console's test tool — with the given settings, and say which check"
        " fails and what to change. Exits 0 when the request would be accepted. Prints no"
        " secret.",
    )
    doctor.add_argument(
        "url", metavar="URL", help="the full callback URL with its query string, as received"
    )
    doctor.add_argument(
        "--body",
        metavar="FILE",
        help="the POST body (a file, or - for stdin); leave out for the URL check (GET)",
    )
    doctor.add_argument(
        "--replay-window",
        type=float,
        default=300,
        metavar="S",
        help="seconds a timestamp may be from now (default 300; 0 skips the check)",
    )
    add_credentials(doctor)
    doctor.set_defaults(func=_cmd_doctor)
