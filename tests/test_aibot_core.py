"""The AI-bot half of the core on both twins: AIBotCrypto and parse_aibot_message.

Contract tests (``core_impl``): the JSON envelope read and written, the receive id rules
(the empty one accepted here and only here), signatures, arguments, the GIL-free path of
bodies from 2048 bytes, every documented message and event parsed to its typed fields.
"""

from __future__ import annotations

import json
import pickle

import pytest
from _aibot_samples import AIBOT_MESSAGES, IMAGE_URL, RESPONSE_URL, dumps, frame_encrypt, seal

import wxcorp_fast
import wxcorp_fast.aibot
from wxcorp_fast import _spec
from wxcorp_fast._core import core
from wxcorp_fast.errors import (
    Base64Error,
    CorpIdMismatchError,
    DecryptError,
    JSONParseError,
    SignatureError,
)
from wxcorp_fast.messages import AIBotItem, AIBotMessage, SelectedItem
from wxcorp_fast.testing import vectors as v

from _samples import raises_callback_error

TS, NONCE = "1700000000", "1372623149"


@pytest.fixture
def crypto(core_impl):
    return core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)


def test_names_are_the_selected_core():
    assert wxcorp_fast.aibot.AIBotCrypto is core.AIBotCrypto
    assert wxcorp_fast.aibot.parse_aibot_message is core.parse_aibot_message
    assert wxcorp_fast.JSONParseError is JSONParseError
    assert JSONParseError.code == -40002 and issubclass(JSONParseError, wxcorp_fast.CallbackError)


# --------------------------------------------------------------------------- decrypt_json


@pytest.mark.parametrize("receive_id", ["", "wwcorp", "企业"])
def test_decrypt_json_of_an_independent_frame(core_impl, receive_id):
    msg = dumps(AIBOT_MESSAGES["text"])
    body, sig, ts, nonce = seal(msg, receive_id)
    crypto = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, receive_id)
    assert crypto.receive_id == receive_id
    assert crypto.decrypt_json(body, sig, ts, nonce) == msg
    assert crypto.decrypt_json(body.decode(), sig, int(ts), nonce) == msg
    assert crypto.decrypt_json(body, sig.encode(), ts, nonce) == msg


@pytest.mark.parametrize("size", [10, 2047, 2048, 5000, 70000])
def test_decrypt_json_both_paths(crypto, size):
    """Bodies from 2048 bytes open in one GIL-free pass; any size gives the same answer."""
    msg = b'{"a":"' + b"x" * size + b'"}'
    body, sig, ts, nonce = seal(msg)
    assert crypto.decrypt_json(body, sig, ts, nonce) == msg
    escaped = body.replace(b"/", b"\\/").replace(b"A", b"\\u0041")
    assert crypto.decrypt_json(escaped, sig, ts, nonce) == msg
    spaced = b' \n{ "other" : [1, {"x": null}] ,\t"encrypt"  :' + body[11:-1] + b" } \r\n"
    assert crypto.decrypt_json(spaced, sig, ts, nonce) == msg


@pytest.mark.parametrize("size", [100, 3000])
def test_decrypt_json_errors(crypto, size):
    msg = b"{" + b" " * size + b"}"
    body, sig, ts, nonce = seal(msg)
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        crypto.decrypt_json(body, "0" * 40, ts, nonce)
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        crypto.decrypt_json(body, sig, "1700000001", nonce)
    with raises_callback_error(JSONParseError, _spec.MSG_JSON_NO_ENCRYPT):
        crypto.decrypt_json(b'{"Encrypt":"x"}', sig, ts, nonce)
    with raises_callback_error(JSONParseError, _spec.MSG_JSON_NO_ENCRYPT):
        crypto.decrypt_json(b'{"encrypt":["x"]}', sig, ts, nonce)
    with raises_callback_error(JSONParseError, _spec.MSG_JSON_DUPLICATE):
        crypto.decrypt_json(body[:-1] + b',"encr\\u0079pt":"x"}', sig, ts, nonce)
    bad = json.dumps({"encrypt": "not base64!"})
    bad_sig = core.msg_signature(v.TOKEN, ts, nonce, "not base64!")
    with raises_callback_error(Base64Error, _spec.MSG_B64_CHAR):
        crypto.decrypt_json(bad, bad_sig, ts, nonce)
    other, osig, _, _ = seal(msg, "wwsomeone")
    with raises_callback_error(CorpIdMismatchError, _spec.MSG_CORP_MISMATCH):
        crypto.decrypt_json(other, osig, ts, nonce)


def test_empty_receive_id_is_refused_elsewhere(core_impl):
    """MsgCrypto, decrypt_msg and unpack_frame keep refusing an empty corp id."""
    msg = b"<xml></xml>"
    encrypt = frame_encrypt(msg, "")
    key = core_impl.decode_aes_key(v.ENCODING_AES_KEY)
    with raises_callback_error(DecryptError, _spec.MSG_CORP_EMPTY):
        core_impl.decrypt_msg(encrypt, key)
    with raises_callback_error(DecryptError, _spec.MSG_CORP_EMPTY):
        core_impl.unpack_frame(b"r" * 16 + (3).to_bytes(4, "big") + b"abc")
    sig = core_impl.msg_signature(v.TOKEN, TS, NONCE, encrypt)
    with pytest.raises(ValueError, match="corp_id is empty"):  # refused at construction
        core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, "")
    with raises_callback_error(DecryptError, _spec.MSG_CORP_EMPTY):
        core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID).verify_url(
            sig, TS, NONCE, encrypt
        )
    # and an AI bot expecting a receive id refuses the empty one as a mismatch
    bot = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "wwcorp")
    with raises_callback_error(CorpIdMismatchError, _spec.MSG_CORP_MISMATCH):
        bot.verify_url(sig, TS, NONCE, encrypt)
    assert (
        core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY).verify_url(sig, TS, NONCE, encrypt)
        == msg
    )


def test_verify_url(crypto):
    echo = b"8716542089125436"
    encrypt = frame_encrypt(echo)
    sig = core.msg_signature(v.TOKEN, TS, NONCE, encrypt)
    assert crypto.verify_url(sig, TS, NONCE, encrypt) == echo
    assert crypto.verify_url(sig, int(TS), NONCE, encrypt.encode()) == echo
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        crypto.verify_url(sig, TS, NONCE + "1", encrypt)


def test_frame_errors_keep_their_names(crypto):
    for plain, message in [
        (b"short", _spec.MSG_FRAME_SHORT),
        (b"r" * 16 + (99).to_bytes(4, "big") + b"abc", _spec.MSG_FRAME_LENGTH),
        (b"r" * 16 + (1).to_bytes(4, "big") + b"a\xff", _spec.MSG_CORP_UTF8),
    ]:
        pad = 32 - len(plain) % 32
        key = core.decode_aes_key(v.ENCODING_AES_KEY)
        from _samples import aes_cbc_encrypt

        encrypt = aes_cbc_encrypt(plain + bytes([pad]) * pad, key)
        sig = core.msg_signature(v.TOKEN, TS, NONCE, encrypt)
        with raises_callback_error(DecryptError, message):
            crypto.verify_url(sig, TS, NONCE, encrypt)


# --------------------------------------------------------------------------- encrypt_json


def test_encrypt_json_envelope(core_impl, crypto):
    reply = '{"msgtype":"stream","stream":{"id":"s","finish":true,"content":"你好"}}'
    out = crypto.encrypt_json(reply, NONCE, 1409659813)
    doc = json.loads(out)
    assert list(doc) == ["encrypt", "msgsignature", "timestamp", "nonce"]
    assert doc["timestamp"] == 1409659813 and doc["nonce"] == NONCE
    assert doc["msgsignature"] == core_impl.msg_signature(
        v.TOKEN, "1409659813", NONCE, doc["encrypt"]
    )
    body = dumps({"encrypt": doc["encrypt"]})
    assert crypto.decrypt_json(body, doc["msgsignature"], doc["timestamp"], NONCE) == reply.encode()
    # the frame carries the receive id, here the empty one
    other = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "x")
    with raises_callback_error(CorpIdMismatchError, _spec.MSG_CORP_MISMATCH):
        other.decrypt_json(body, doc["msgsignature"], doc["timestamp"], NONCE)


@pytest.mark.parametrize("size", [0, 2100, 40000])
def test_encrypt_json_sizes_and_fresh_random(crypto, size):
    reply = b'{"x":"' + b"y" * size + b'"}'
    first, second = (crypto.encrypt_json(reply, "n") for _ in range(2))
    assert json.loads(first)["encrypt"] != json.loads(second)["encrypt"]
    doc = json.loads(first)
    body = dumps({"encrypt": doc["encrypt"]})
    assert crypto.decrypt_json(body, doc["msgsignature"], doc["timestamp"], "n") == reply


def test_encrypt_json_nonce_is_escaped(crypto):
    nonce = 'a"b\\c'
    doc = json.loads(crypto.encrypt_json("{}", nonce, "7"))
    assert doc["nonce"] == nonce
    assert doc["msgsignature"] == core.msg_signature(v.TOKEN, "7", nonce, doc["encrypt"])


@pytest.mark.parametrize(
    ("nonce", "timestamp", "error"),
    [
        (7, None, TypeError),
        ("", None, ValueError),
        ("a\nb", None, ValueError),
        ("é", None, ValueError),
        ("n", -1, ValueError),
        ("n", True, ValueError),
        ("n", "0123", ValueError),
        ("n", "12a", ValueError),
        ("n", "١٢", ValueError),
        ("n", 1.5, ValueError),
    ],
)
def test_encrypt_json_refuses(crypto, nonce, timestamp, error):
    with pytest.raises(error):
        crypto.encrypt_json("{}", nonce, timestamp)


def test_encrypt_json_timestamps(crypto):
    assert json.loads(crypto.encrypt_json("{}", "n", "0"))["timestamp"] == 0
    assert json.loads(crypto.encrypt_json("{}", "n", 0))["timestamp"] == 0
    assert isinstance(json.loads(crypto.encrypt_json("{}", "n"))["timestamp"], int)


def test_arguments(core_impl):
    with pytest.raises(TypeError):
        core_impl.AIBotCrypto(1, v.ENCODING_AES_KEY)
    with pytest.raises(TypeError):
        core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, None)
    with pytest.raises(wxcorp_fast.InvalidAESKeyError):
        core_impl.AIBotCrypto(v.TOKEN, "short")
    with pytest.raises(ValueError):
        core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "\ud800")
    crypto = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "rid")
    with pytest.raises(TypeError):
        crypto.decrypt_json(bytearray(b"{}"), "0" * 40, TS, NONCE)
    with pytest.raises(TypeError):
        crypto.decrypt_json(b'{"encrypt":"x"}', None, TS, NONCE)
    with pytest.raises(TypeError):
        crypto.encrypt_json(5, NONCE)
    with pytest.raises(TypeError):
        crypto.__init__(v.TOKEN, v.ENCODING_AES_KEY, "other")
    assert crypto.receive_id == "rid"


def test_repr_pickle_and_no_secret(core_impl):
    crypto = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "rid")
    assert repr(crypto) == "AIBotCrypto(receive_id='rid')"
    assert v.TOKEN not in repr(crypto) and v.ENCODING_AES_KEY not in repr(crypto)
    clone = pickle.loads(pickle.dumps(crypto))
    body, sig, ts, nonce = seal(b"{}", "rid")
    assert clone.decrypt_json(body, sig, ts, nonce) == b"{}"


# --------------------------------------------------------------------------- messages


def test_text_message(core_impl):
    msg = core_impl.parse_aibot_message(dumps(AIBOT_MESSAGES["text"]))
    assert isinstance(msg, AIBotMessage)
    assert (msg.msgid, msg.aibotid, msg.chatid, msg.chattype) == (
        "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        "AIBOTID",
        "CHATID",
        "group",
    )
    assert (msg.from_userid, msg.response_url, msg.msgtype, msg.content) == (
        "USERID",
        RESPONSE_URL,
        "text",
        "@RobotA hello robot",
    )
    assert msg.raw == AIBOT_MESSAGES["text"]
    assert msg.raw["quote"]["text"]["content"] == "这是今日的测试情况"
    assert not msg.is_event and msg.items == () and msg.create_time == 0


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("image", {"msgtype": "image", "image_url": IMAGE_URL, "chattype": "single"}),
        ("voice", {"voice_content": "这是语音转成文本的内容"}),
        ("file", {"file_url": IMAGE_URL + "0"}),
        ("stream", {"stream_id": "STREAMID", "response_url": ""}),
        (
            "mixed",
            {
                "items": (
                    AIBotItem("text", "@机器人 这是今日的测试情况", ""),
                    AIBotItem("image", "", IMAGE_URL),
                )
            },
        ),
        (
            "enter_chat",
            {
                "event_type": "enter_chat",
                "from_corpid": "wpxxxx",
                "create_time": 1700000000,
                "msgtype": "event",
            },
        ),
        (
            "template_card_event",
            {
                "event_type": "template_card_event",
                "card_type": "vote_interaction",
                "event_key": "button_replace_text",
                "task_id": "fBmjTL7ErRCQSNA6GZKMlcFiWX1shOvg",
                "selected_items": (SelectedItem("button_selection_key1", ("one", "two")),),
            },
        ),
        ("menu_event", {"card_type": "text_notice", "selected_items": ()}),
        (
            "feedback_event",
            {
                "event_type": "feedback_event",
                "feedback_id": "FEEDBACKID",
                "feedback_type": 2,
                "feedback_content": "能再详细一些么",
                "inaccurate_reasons": (2, 4),
            },
        ),
    ],
)
def test_documented_kinds(core_impl, kind, fields):
    msg = core_impl.parse_aibot_message(dumps(AIBOT_MESSAGES[kind]).decode())
    for name, value in fields.items():
        assert getattr(msg, name) == value, name
    assert msg.raw == AIBOT_MESSAGES[kind]
    assert msg.is_event == (msg.msgtype == "event")
    assert msg == pickle.loads(pickle.dumps(msg))
    assert msg.to_dict()["msgid"] == msg.msgid
    assert "RESPONSECODE" not in repr(msg)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b'{"msgid": 5}', "msgid has the wrong JSON type"),
        (b'{"text": "hi"}', "text has the wrong JSON type"),
        (b'{"text": {"content": ["hi"]}}', "text.content has the wrong JSON type"),
        (b'{"create_time": "1700000000"}', "create_time has the wrong JSON type"),
        (b'{"create_time": true}', "create_time has the wrong JSON type"),
        (b'{"create_time": 1.0}', "create_time has the wrong JSON type"),
        (b'{"mixed": {"msg_item": {}}}', "mixed.msg_item has the wrong JSON type"),
        (b'{"mixed": {"msg_item": [{"text": "x"}]}}', "mixed.msg_item has the wrong JSON type"),
        (
            b'{"event": {"feedback_event": {"inaccurate_reason_list": ["2"]}}}',
            "event.feedback_event.inaccurate_reason_list has the wrong JSON type",
        ),
        (
            b'{"event": {"template_card_event": {"selected_items": {"selected_item": '
            b'[{"option_ids": {"option_id": [1]}}]}}}}',
            "event.template_card_event.selected_items has the wrong JSON type",
        ),
        (b'{"msgid": 5, "text": "x"}', "msgid has the wrong JSON type"),
    ],
)
def test_wrong_types(core_impl, doc, message):
    with raises_callback_error(JSONParseError, message):
        core_impl.parse_aibot_message(doc)


def test_nulls_and_extras_are_absent(core_impl):
    msg = core_impl.parse_aibot_message(
        b'{"msgid":null,"from":null,"text":{"content":null},"create_time":-7,"extra":[1,{"a":2}],'
        b'"event":{"feedback_event":{"type":12345678901234567890}}}'
    )
    assert (msg.msgid, msg.from_userid, msg.content, msg.create_time) == ("", "", "", -7)
    assert msg.feedback_type == 12345678901234567890
    assert msg.raw["extra"] == [1, {"a": 2}]


def test_message_objects_are_immutable(core_impl):
    msg = core_impl.parse_aibot_message(dumps(AIBOT_MESSAGES["text"]))
    with pytest.raises(AttributeError):
        msg.content = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del msg.content
    assert msg == core_impl.parse_aibot_message(dumps(AIBOT_MESSAGES["text"]))
    assert msg != core_impl.parse_aibot_message(dumps(AIBOT_MESSAGES["voice"]))
    with pytest.raises(TypeError):
        hash(msg)
    with pytest.raises(TypeError):
        core_impl.parse_aibot_message(bytearray(b"{}"))


# --------------------------------------------------------------------------- threads


def test_threads_share_one_crypto(core_impl):
    """8 threads on one AIBotCrypto, 300 B to 16 KB (the GIL-free path from 2048 B)."""
    import threading

    crypto = core_impl.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    sealed = [
        (msg, *seal(msg))
        for msg in (
            dumps({"msgtype": "text", "text": {"content": "x" * size}})
            for size in (300, 2100, 5000, 16384)
        )
    ]
    failures: list[str] = []

    def work(index: int) -> None:
        for i in range(150):
            msg, body, sig, ts, nonce = sealed[(index + i) % len(sealed)]
            if crypto.decrypt_json(body, sig, ts, nonce) != msg:
                failures.append("decrypt")
            doc = json.loads(crypto.encrypt_json(msg, nonce, ts))
            back = crypto.decrypt_json(
                dumps({"encrypt": doc["encrypt"]}), doc["msgsignature"], doc["timestamp"], nonce
            )
            if back != msg or core_impl.parse_aibot_message(back).content != msg[37:-3].decode():
                failures.append("round trip")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
