"""Pytest fixtures and helpers shared by ``tests/`` and ``bench/``.

Import it from a ``conftest.py``::

    from wxcorp_fast.testing.fixtures import *  # noqa: F403

(or list ``"wxcorp_fast.testing.fixtures"`` in ``pytest_plugins``). That brings the
``fake_work`` fixture (a started ``FakeWorkServer``, stopped after the test), the
``core_impl`` fixture (a session fixture parametrized over the two twins
of the crypto core, ids ``compiled`` and ``python``, the compiled one marked
``compiled``), the ``--no-compiled`` option and the hooks that honour it, and the
helpers the test files share. The facade follows multidict's and propcache's
``tests/conftest.py``: a frozen dataclass that imports its module lazily, so a broken
build is an *error* of every compiled test, never a skip. ``--no-compiled`` or a truthy
``WXCORP_FAST_NO_EXTENSIONS`` *deselects* the compiled params instead.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxcorp_fast.errors import CallbackError
from wxcorp_fast.messages import FIELDS, MixedMessage
from wxcorp_fast.testing.fake_work import FakeWorkServer

__all__ = [
    "CoreImplementation",
    "CORE_IMPLEMENTATIONS",
    "core_impl",
    "fake_work",
    "compiled_disabled",
    "pytest_addoption",
    "pytest_configure",
    "pytest_collection_modifyitems",
    "outcome",
    "canonical",
    "raises_callback_error",
    "aes_cbc_encrypt",
    "DOCS_INNER_XML",
    "TEXT_MSG",
    "SCANCODE_EVENT",
    "PICS_EVENT",
    "ONE_PIC_EVENT",
    "LOCATION_SELECT_EVENT",
    "CHANGE_CONTACT_EVENT",
    "LOCATION_EVENT",
    "TEMPLATE_CARD_EVENT",
    "LOCATION_MSG",
    "LINK_MSG",
    "MEDIA_MSGS",
    "SAMPLE_MESSAGES",
]

NO_COMPILED_OPTION = "--no-compiled"
COMPILED_MARKER = "compiled: runs against the compiled core (deselected by --no-compiled)"


def _truthy(name: str) -> bool:
    """Read an environment flag the way ``wxcorp_fast._core`` does."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@dataclasses.dataclass(frozen=True)
class CoreImplementation:
    """One twin of the crypto core; attribute access reaches into its module.

    ``core_impl.decrypt_msg`` is the twin's own function object, so the tests call
    exactly what ``wxcorp_fast`` re-exports.
    """

    is_pure_python: bool

    @property
    def tag(self) -> str:
        """Return the test id: ``"python"`` or ``"compiled"``."""
        return "python" if self.is_pure_python else "compiled"

    @property
    def module_name(self) -> str:
        """Return the dotted name of the twin."""
        return "wxcorp_fast._core_py" if self.is_pure_python else "wxcorp_fast._core_c"

    @property
    def imported_module(self) -> ModuleType:
        """Import the twin (an ``ImportError`` here fails the test)."""
        return importlib.import_module(self.module_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.imported_module, name)


CORE_IMPLEMENTATIONS = [
    pytest.param(
        CoreImplementation(is_pure_python=False), id="compiled", marks=pytest.mark.compiled
    ),
    pytest.param(CoreImplementation(is_pure_python=True), id="python"),
]


@pytest.fixture(scope="session", params=CORE_IMPLEMENTATIONS)
def core_impl(request: pytest.FixtureRequest) -> CoreImplementation:
    """Return each twin of the crypto core in turn (compiled first)."""
    impl: CoreImplementation = request.param
    impl.imported_module  # noqa: B018 - a compiled core that fails to import is an error
    return impl


@pytest.fixture
def fake_work() -> Iterator[FakeWorkServer]:
    """Return a started ``FakeWorkServer`` (docs' corp_id, ``FAKE_CORP_SECRET``), stopped after."""
    with FakeWorkServer() as server:
        yield server


def compiled_disabled(config: pytest.Config) -> bool:
    """Tell whether the compiled params are deselected in this run."""
    return bool(config.getoption(NO_COMPILED_OPTION)) or _truthy("WXCORP_FAST_NO_EXTENSIONS")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--no-compiled``."""
    parser.addoption(
        NO_COMPILED_OPTION,
        action="store_true",
        default=False,
        help="deselect the tests of the compiled core (also: WXCORP_FAST_NO_EXTENSIONS=1)",
    )


INSTALLED_MARKER = "installed: needs wxcorp_fast imported from an installed distribution"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers (also declared in pyproject for --strict-markers)."""
    config.addinivalue_line("markers", COMPILED_MARKER)
    config.addinivalue_line("markers", INSTALLED_MARKER)


def _from_installed_distribution() -> bool:
    import sysconfig

    import wxcorp_fast

    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    return os.path.realpath(wxcorp_fast.__file__).startswith(site + os.sep)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the tests marked ``compiled`` when the compiled core is off,
    and those marked ``installed`` in a run from a source tree."""
    drop_compiled = compiled_disabled(config)
    drop_installed = not _from_installed_distribution()
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        drop = (drop_compiled and item.get_closest_marker("compiled")) or (
            drop_installed and item.get_closest_marker("installed")
        )
        (dropped if drop else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --------------------------------------------------------------------------- helpers


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
