"""Sample documents and helpers shared by ``tests/`` and ``bench/`` (imported, not copied).

``SAMPLE_MESSAGES`` holds one inner XML document of each kind WeChat pushes; the helpers
compare the twins (``outcome``, ``canonical``), check errors (``raises_callback_error``) and
build ciphertexts by hand (``aes_cbc_encrypt``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxcorp_fast.errors import CallbackError
from wxcorp_fast.messages import FIELDS, MixedMessage


def canonical(value: Any) -> Any:
    """Return ``value`` with the type of every part spelled out, for exact comparison.

    ``1 == 1.0`` and ``ScanCodeInfo() == ("", "")`` hold in Python; two twins must agree
    on types as well, so results are compared through this.
    """
    kind = type(value).__name__
    if isinstance(value, MixedMessage):
        typed = [(name, canonical(getattr(value, name))) for name, _, _ in FIELDS]
        return (kind, canonical(value.raw), typed)
    if isinstance(value, dict):
        return (kind, [(canonical(k), canonical(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (kind, [canonical(v) for v in value])
    return (kind, value)


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Call ``fn`` and return ``("ok", canonical result)`` or ``("error", class, code, text)``.

    Only the contract's errors (``CallbackError`` subclasses, ``TypeError``,
    ``ValueError``) are captured; anything else propagates and fails the test.
    """
    try:
        result = fn(*args, **kwargs)
    except CallbackError as exc:
        return ("error", type(exc), exc.code, str(exc))
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), None, str(exc))
    return ("ok", canonical(result))


@contextmanager
def raises_callback_error(cls: type[CallbackError], message: str) -> Iterator[Any]:
    """Expect exactly ``cls`` (not a subclass) with its official code and ``message``."""
    with pytest.raises(cls) as info:
        yield info
    exc = info.value
    assert (type(exc), exc.code, str(exc)) == (cls, cls.code, message)


def aes_cbc_encrypt(plain: bytes, aes_key: bytes) -> str:
    """Encrypt already padded ``plain`` as WeChat does (IV = key[:16]) into base64.

    An independent reference (``cryptography`` directly, no project code) used to build
    known answers and ciphertexts of chosen, possibly invalid, plaintexts.
    """
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


# --------------------------------------------------------------------------- sample documents
# Decrypted messages and events as WeChat Work's callback docs show them (接收消息, 接收事件,
# 通讯录回调通知, 模板卡片事件推送), used for contract, parity, thread and leak tests.

DOCS_INNER_XML = (
    b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    b"<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
    b"<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
)


TEXT_MSG = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>"
    "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId>"
    "<AgentID>1</AgentID></xml>"
)
SCANCODE_EVENT = """<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408090502</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[scancode_push]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
<ScanResult><![CDATA[1]]></ScanResult>
</ScanCodeInfo>
<AgentID>1</AgentID>
</xml>"""
PICS_EVENT = """<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408090651</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[pic_photo_or_album]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>2</Count>
<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>
</item>
<item><PicMd5Sum><![CDATA[2c6e8d34c6cf86793b64f8c7e274f296]]></PicMd5Sum>
</item>
</PicList>
</SendPicsInfo>
<AgentID>1</AgentID>
</xml>"""
ONE_PIC_EVENT = PICS_EVENT.replace("<Count>2</Count>", "<Count> 1 </Count>").replace(
    "<item><PicMd5Sum><![CDATA[2c6e8d34c6cf86793b64f8c7e274f296]]></PicMd5Sum>\n</item>\n", ""
)
LOCATION_SELECT_EVENT = """<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408091189</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[location_select]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>
<Location_Y><![CDATA[113.5]]></Location_Y>
<Scale><![CDATA[15]]></Scale>
<Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>
<Poiname><![CDATA[]]></Poiname>
</SendLocationInfo>
<AgentID>1</AgentID>
</xml>"""
CHANGE_CONTACT_EVENT = """<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[sys]]></FromUserName>
    <CreateTime>1403610513</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[change_contact]]></Event>
    <ChangeType>update_user</ChangeType>
    <UserID><![CDATA[zhangsan]]></UserID>
    <NewUserID><![CDATA[zhangsan001]]></NewUserID>
    <Name><![CDATA[张三]]></Name>
    <Department><![CDATA[1,2,3]]></Department>
    <MainDepartment>1</MainDepartment>
    <Mobile>13800000000</Mobile>
    <ExtAttr>
        <Item>
        <Name><![CDATA[爱好]]></Name>
        <Type>0</Type>
        <Text>
            <Value><![CDATA[旅游]]></Value>
        </Text>
        </Item>
        <Item>
        <Name><![CDATA[卡号]]></Name>
        <Type>1</Type>
        <Web>
            <Title><![CDATA[企业微信]]></Title>
            <Url><![CDATA[https://work.weixin.qq.com]]></Url>
        </Web>
        </Item>
    </ExtAttr>
</xml>"""
LOCATION_EVENT = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>"
    "<CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event>"
    "<Latitude>23.104105</Latitude><Longitude>113.320107</Longitude><Precision>65.000000</Precision>"
    "<AgentID>1</AgentID><AppType><![CDATA[wxwork]]></AppType></xml>"
)
TEMPLATE_CARD_EVENT = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>"
    "<CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[key111]]></EventKey>"
    "<TaskId><![CDATA[taskid111]]></TaskId><CardType><![CDATA[vote_interaction]]></CardType>"
    "<ResponseCode><![CDATA[ResponseCode]]></ResponseCode><AgentID>1</AgentID>"
    "<SelectedItems><SelectedItem><QuestionKey><![CDATA[Q1]]></QuestionKey>"
    "<OptionIds><OptionId><![CDATA[O1]]></OptionId><OptionId><![CDATA[O2]]></OptionId></OptionIds>"
    "</SelectedItem><SelectedItem><QuestionKey><![CDATA[Q2]]></QuestionKey>"
    "<OptionIds><OptionId><![CDATA[O3]]></OptionId></OptionIds></SelectedItem></SelectedItems></xml>"
)
LOCATION_MSG = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>"
    "<CreateTime>1351776360</CreateTime><MsgType><![CDATA[location]]></MsgType>"
    "<Location_X>23.134521</Location_X><Location_Y>-113.358803</Location_Y><Scale>20</Scale>"
    "<Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId><AgentID>1</AgentID></xml>"
)
LINK_MSG = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>"
    "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[link]]></MsgType>"
    "<Title><![CDATA[this is a title!]]></Title>"
    "<Description><![CDATA[this is a description!]]></Description>"
    "<Url><![CDATA[URL]]></Url><PicUrl><![CDATA[this is a url]]></PicUrl>"
    "<MsgId>1234567890123456</MsgId><AgentID>1</AgentID></xml>"
)
MEDIA_MSGS = (
    "<xml><MsgType>image</MsgType><PicUrl>http://p/1.jpg</PicUrl><MediaId>m1</MediaId></xml>",
    "<xml><MsgType>voice</MsgType><MediaId>m2</MediaId><Format>amr</Format></xml>",
    "<xml><MsgType>video</MsgType><MediaId>m3</MediaId><ThumbMediaId>t3</ThumbMediaId></xml>",
    "<xml><MsgType>event</MsgType><Event>change_external_contact</Event>"
    "<ChangeType>add_external_contact</ChangeType><UserID>u</UserID>"
    "<ExternalUserID>woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA</ExternalUserID></xml>",
)


SAMPLE_MESSAGES: dict[str, str] = {
    "docs-text": DOCS_INNER_XML.decode(),
    "text": TEXT_MSG,
    "scancode": SCANCODE_EVENT,
    "pics": PICS_EVENT,
    "location-select": LOCATION_SELECT_EVENT,
    "change-contact": CHANGE_CONTACT_EVENT,
    "LOCATION": LOCATION_EVENT,
    "template-card": TEMPLATE_CARD_EVENT,
    "location-msg": LOCATION_MSG,
    "link": LINK_MSG,
    "image": MEDIA_MSGS[0],
    "voice": MEDIA_MSGS[1],
    "video": MEDIA_MSGS[2],
    "external-contact": MEDIA_MSGS[3],
}
