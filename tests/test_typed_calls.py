"""The typed calls on both clients against FakeWorkServer: answers, errors, argument checks.

Each test body is one coroutine run against CorpClient (through an adapter that awaits
nothing) and against AsyncCorpClient (closed at the end), each in ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wxcorp_fast import APIError, CorpClient, DefaultAccessTokenServer, RateLimitError
from wxcorp_fast.api import (
    AgentJsapiTicketServer,
    AsyncAgentJsapiTicketServer,
    AsyncCorpClient,
    AsyncDefaultAccessTokenServer,
    AsyncJsapiTicketServer,
    Department,
    JsapiTicketServer,
    Media,
    RedisAgentJsapiTicketServer,
    RedisJsapiTicketServer,
    SendResult,
    User,
    UserInfo,
    jsapi_signature,
)
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import FakeWorkServer
from wxcorp_fast.testing import fake_work as fw

RSS_SCRIPT = Path(__file__).with_name("_download_rss.py")
CARD = {
    "card_type": "button_interaction",
    "main_title": {"title": "发布审批"},
    "task_id": "task-1",
    "button_list": [{"text": "同意", "key": "yes"}],
}


class Blocking:
    """CorpClient with its methods awaitable, so one test body serves both clients."""

    def __init__(self, client: CorpClient) -> None:
        self.client = client

    def oauth2_authorize_url(self, *args: Any, **kwargs: Any) -> str:
        return self.client.oauth2_authorize_url(*args, **kwargs)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


Body = Callable[[Any, FakeWorkServer], Awaitable[None]]


@pytest.fixture(params=["sync", "async"])
def both(request: pytest.FixtureRequest, fake_work: FakeWorkServer) -> Callable[[Body], None]:
    def run(body: Body) -> None:
        async def main() -> None:
            url = fake_work.base_url
            if request.param == "sync":
                tokens = DefaultAccessTokenServer(
                    fake_work.corp_id, fake_work.corp_secret, base_url=url
                )
                await body(Blocking(CorpClient(tokens, base_url=url)), fake_work)
                return
            async with (
                AsyncDefaultAccessTokenServer(
                    fake_work.corp_id, fake_work.corp_secret, base_url=url
                ) as atokens,
                AsyncCorpClient(atokens, base_url=url) as client,
            ):
                await body(client, fake_work)

        asyncio.run(main())

    return run


async def _raises(errcode: int, awaitable: Awaitable[Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        await awaitable
    assert caught.value.errcode == errcode, caught.value
    return caught.value


# --------------------------------------------------------------------------- directory


def test_directory(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        user = await client.get_user("zhangsan")
        assert user == User(
            "zhangsan", "张三", (1, 2), "产品经理", "13800000000", "zhangsan@example.com", 1
        )
        assert user.raw["userid"] == "zhangsan" and "raw" not in repr(user)
        fake.add_department(3, "测试组", parentid=2)
        fake.add_user("wangwu", "王五", (3,), alias="ww", status=4)
        assert (await client.get_user("wangwu")).raw["alias"] == "ww"
        assert [u.userid for u in await client.list_users(2)] == ["zhangsan", "lisi"]
        below = await client.list_users(2, fetch_child=True)
        assert [(u.userid, u.status) for u in below] == [
            ("zhangsan", 1),
            ("lisi", 1),
            ("wangwu", 4),
        ]
        assert await client.list_departments(2) == [
            Department(2, "研发部", 1, 100000000),
            Department(3, "测试组", 2, 0),
        ]
        assert [d.id for d in await client.list_departments()] == [1, 2, 3]
        assert fake.requests[-1].query.keys() == {"access_token"}
        await _raises(60111, client.get_user("nobody"))
        await _raises(60123, client.list_users(99))
        await _raises(60123, client.list_departments(99))

    both(body)


def test_openid_conversion(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        openid = await client.userid_to_openid("zhangsan")
        assert openid == fake.openid("zhangsan") and openid != fake.openid("lisi")
        assert await client.convert_to_userid(openid) == "zhangsan"
        assert fake.requests[-1].json() == {"openid": openid}
        await _raises(60111, client.userid_to_openid("nobody"))
        await _raises(40003, client.convert_to_userid("o-of-nobody"))
        with pytest.raises(ValueError, match="userid"):
            await client.userid_to_openid("")
        with pytest.raises(ValueError, match="openid"):
            await client.convert_to_userid(None)

    both(body)


def test_menu(both: Callable[[Body], None]) -> None:
    menu = {
        "button": [
            {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
            {"name": "菜单", "sub_button": [{"type": "view", "name": "搜索", "url": "https://x"}]},
        ]
    }

    async def body(client: Any, fake: FakeWorkServer) -> None:
        await _raises(46003, client.get_menu(1000002))
        assert await client.create_menu(1000002, menu) is None
        assert fake.requests[-1].query["agentid"] == "1000002"
        assert await client.get_menu(1000002) == menu
        assert fake.menus == {1000002: menu}
        assert await client.delete_menu(1000002) is None
        await _raises(46003, client.get_menu(1000002))

    both(body)


def test_oauth2(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        url = client.oauth2_authorize_url("https://app.example.com/cb?x=1", "s1", 1000002)
        assert url == (
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid="
            + fake.corp_id
            + "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1&response_type=code"
            "&scope=snsapi_base&state=s1&agentid=1000002#wechat_redirect"
        )
        assert "agentid" not in client.oauth2_authorize_url("https://a.example/")
        code = fake.oauth_code("lisi")
        info = await client.get_user_info_by_code(code)
        assert isinstance(info, UserInfo) and info.userid == "lisi" and info.openid is None
        assert info.user_ticket and info.user_ticket not in repr(info)
        await _raises(40029, client.get_user_info_by_code(code))  # one use

    both(body)


# --------------------------------------------------------------------------- media


def test_download_media(both: Callable[[Body], None]) -> None:
    content = bytes(range(256)) * 1000

    async def body(client: Any, fake: FakeWorkServer) -> None:
        media_id = fake.add_media(content, "周报 1.pdf", "application/pdf")
        out = io.BytesIO()
        assert await client.download_media(media_id, out) == Media(
            len(content), "周报 1.pdf", "application/pdf"
        )
        assert out.getvalue() == content
        # a refused token: refreshed, the download sent again, the file written once
        fake.expire_tokens()
        out = io.BytesIO()
        assert (await client.download_media(media_id, out)).size == len(content)
        assert out.getvalue() == content and fake.gettoken_calls == 2
        # an uploaded file comes back
        uploaded = await client.upload_media("voice", b"#!AMR\n" * 10, "v.amr")
        out = io.BytesIO()
        assert (await client.download_media(uploaded, out)).filename == "v.amr"
        assert out.getvalue() == b"#!AMR\n" * 10
        # an errcode: raised, nothing written
        out = io.BytesIO()
        await _raises(40007, client.download_media("nope", out))
        assert out.getvalue() == b""
        fake.http_error(502, path=fw.MEDIA_GET)
        with pytest.raises(TransportError):
            await client.download_media(media_id, out)
        assert out.getvalue() == b""

    both(body)


def test_upload_image(both: Callable[[Body], None], tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(b"\x89PNG\r\n" + b"x" * 100)

    async def body(client: Any, fake: FakeWorkServer) -> None:
        with path.open("rb") as file:
            url = await client.upload_image(file)
        assert url.startswith("https://") and fake.images[url] == path.read_bytes()
        assert await client.upload_image(b"\xff\xd8\xff" * 10, "a.JPG") in fake.images
        await _raises(40006, client.upload_image(b"tiny", "a.png"))

    both(body)


# --------------------------------------------------------------------------- chats, messages


def test_appchat(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        chatid = await client.create_appchat(["zhangsan", "lisi"], "值班群", "lisi")
        assert fake.chats[chatid] == {
            "chatid": chatid,
            "name": "值班群",
            "owner": "lisi",
            "userlist": ["zhangsan", "lisi"],
        }
        assert await client.create_appchat(("zhangsan", "lisi"), chatid="ops1") == "ops1"
        await _raises(86215, client.create_appchat(["zhangsan", "lisi"], chatid="ops1"))
        await _raises(60111, client.create_appchat(["zhangsan", "ghost"]))
        assert await client.send_appchat(chatid, "text", {"content": "上线了"}) is None
        assert fake.chat_messages == [
            {"chatid": chatid, "msgtype": "text", "text": {"content": "上线了"}, "safe": 0}
        ]
        await _raises(86003, client.send_appchat("nochat", "text", {"content": "x"}))

    both(body)


def test_send_and_recall(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        sent = await client.send_text(1000002, "hello", touser=["zhangsan", "lisi"])
        assert isinstance(sent, SendResult) and sent.msgid and sent.invaliduser == ()
        # still the answer's mapping, as before the typed result
        assert sent["msgid"] == sent.msgid and sent["errcode"] == 0 and sent == sent.raw
        assert await client.recall_message(sent.msgid) is None
        assert fake.recalled == [sent.msgid]
        await _raises(40058, client.recall_message(sent.msgid))
        fake.route(
            "POST",
            fw.MESSAGE_SEND,
            lambda req: {"invaliduser": "ghost|x", "invalidparty": "9", "msgid": "m1"},
        )
        partial = await client.send_markdown(
            1000002, "**x**", touser="ghost|x|zhangsan", toparty="9"
        )
        assert (partial.invaliduser, partial.invalidparty, partial.msgid) == (
            ("ghost", "x"),
            ("9",),
            "m1",
        )

    both(body)


def test_template_cards(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        sent = await client.send_template_card(1000002, CARD, touser="zhangsan")
        assert sent.response_code and sent.response_code not in repr(sent)
        assert fake.messages[-1]["template_card"] == CARD
        updated = await client.update_template_card(
            1000002, sent.response_code, replace_name="已同意", userids=["zhangsan"]
        )
        assert updated.invaliduser == ()
        assert fake.card_updates[-1] == {
            "agentid": 1000002,
            "response_code": sent.response_code,
            "button": {"replace_name": "已同意"},
            "userids": ["zhangsan"],
        }
        await _raises(40058, client.update_template_card(1000002, sent.response_code, CARD))
        notice = await client.send_template_card(
            1000002, {"card_type": "text_notice", "main_title": {"title": "t"}}, toparty=["2"]
        )
        assert notice.response_code is None
        await _raises(40058, client.send_template_card(1000002, {"card_type": "nope"}, touser="u"))

    both(body)


# --------------------------------------------------------------------------- checks and knobs


CALLS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("get_user", fw.USER_GET, ("zhangsan",)),
    ("list_users", fw.USER_LIST, (1,)),
    ("list_departments", fw.DEPARTMENT_LIST, ()),
    ("userid_to_openid", fw.CONVERT_TO_OPENID, ("zhangsan",)),
    ("convert_to_userid", fw.CONVERT_TO_USERID, ("o-x",)),
    ("create_menu", fw.MENU_CREATE, (1, {"button": [{"name": "a", "type": "click", "key": "k"}]})),
    ("get_menu", fw.MENU_GET, (1,)),
    ("delete_menu", fw.MENU_DELETE, (1,)),
    ("get_user_info_by_code", fw.GETUSERINFO, ("code",)),
    ("download_media", fw.MEDIA_GET, ("m", io.BytesIO())),
    ("upload_image", fw.MEDIA_UPLOADIMG, (b"\x89PNG" * 4, "a.png")),
    ("create_appchat", fw.APPCHAT_CREATE, (["zhangsan", "lisi"],)),
    ("send_appchat", fw.APPCHAT_SEND, ("c", "text", {"content": "x"})),
    ("recall_message", fw.MESSAGE_RECALL, ("m",)),
    ("send_template_card", fw.MESSAGE_SEND, (1, CARD, "zhangsan")),
    ("update_template_card", fw.UPDATE_TEMPLATE_CARD, (1, "code", None, "ok")),
]


def test_knobs_apply_to_every_call(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        for name, path, args in CALLS:
            fake.fail(45009, path=path)
            with pytest.raises(RateLimitError):
                await getattr(client, name)(*args)
            fake.http_error(503, path=path)
            with pytest.raises(TransportError):
                await getattr(client, name)(*args)
        assert fake.gettoken_calls == 1
        fake.delay(0.2, path=fw.DEPARTMENT_LIST)
        started = time.monotonic()
        await client.list_departments()
        assert time.monotonic() - started >= 0.2

    both(body)


BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("get_user", ("",), {}, "userid"),
    ("list_users", (0,), {}, "department_id"),
    ("list_users", ("1",), {}, "department_id"),
    ("list_users", (1,), {"fetch_child": "yes"}, "fetch_child"),
    ("list_departments", (-1,), {}, "id"),
    ("create_menu", (True, {"button": [{"name": "a"}]}), {}, "agent_id"),
    ("create_menu", (1, {"button": []}), {}, "button"),
    ("create_menu", (1, {"button": [{"name": "a"}] * 4}), {}, "button"),
    ("create_menu", (1, {"button": [{"type": "click"}]}), {}, "name"),
    ("create_menu", (1, {"button": [{"name": "a", "sub_button": [{}] * 6}]}), {}, "sub_button"),
    ("get_menu", (None,), {}, "agent_id"),
    ("delete_menu", (0,), {}, "agent_id"),
    ("get_user_info_by_code", ("",), {}, "code"),
    ("download_media", ("", io.BytesIO()), {}, "media_id"),
    ("download_media", ("m", "out.bin"), {}, "file"),
    ("upload_image", (b"x" * 10, "a.gif"), {}, "filename"),
    ("create_appchat", (["zhangsan"],), {}, "userlist"),
    ("create_appchat", ("zhangsan|lisi",), {}, "userlist"),
    ("create_appchat", (["zhangsan", "lisi"],), {"chatid": "bad id!"}, "chatid"),
    ("create_appchat", (["zhangsan", "lisi"],), {"owner": ""}, "owner"),
    ("send_appchat", ("", "text", {}), {}, "chatid"),
    ("send_appchat", ("c", "text", "x"), {}, "content"),
    ("recall_message", ("",), {}, "msgid"),
    ("send_template_card", (1, {}), {"touser": "u"}, "card_type"),
    ("send_template_card", (1, CARD), {}, "touser"),
    ("update_template_card", (1, ""), {"replace_name": "x"}, "response_code"),
    ("update_template_card", (1, "c"), {}, "template_card"),
    ("update_template_card", (1, "c", CARD), {"replace_name": "x"}, "template_card"),
    ("update_template_card", (1, "c"), {"replace_name": "x", "partyids": [0]}, "partyids"),
    ("send_message", ("1", "text", {"content": "x"}), {"touser": "u"}, "agent_id"),
    ("send_text", (1, "x"), {}, "touser"),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "named"), BAD, ids=lambda x: str(x)[:20])
def test_arguments_are_checked_before_any_io(
    both: Callable[[Body], None],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    named: str,
) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        with pytest.raises(ValueError, match=named):
            await getattr(client, name)(*args, **kwargs)
        assert fake.calls == {}

    both(body)


def test_oauth2_url_checks(both: Callable[[Body], None]) -> None:
    async def body(client: Any, fake: FakeWorkServer) -> None:
        for args, named in [
            (("/cb",), "redirect_uri"),
            (("https://a", "s", None, "snsapi_other"), "scope"),
            (("https://a", "s", None, "snsapi_privateinfo"), "agent_id"),
            (("https://a", "s" * 129), "state"),
        ]:
            with pytest.raises(ValueError, match=named):
                client.oauth2_authorize_url(*args)
        assert "scope=snsapi_privateinfo" in client.oauth2_authorize_url(
            "https://a", "", 7, "snsapi_privateinfo"
        )

    both(body)


def test_jsapi_signature_is_wechats() -> None:
    # the example of WeChat's JS-SDK documentation (附录1)
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    args = (ticket, "Wm3WZYTPz0wzccnW", 1414587457)
    expected = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    assert jsapi_signature(*args, "http://mp.weixin.qq.com?params=value") == expected
    assert jsapi_signature(*args, "http://mp.weixin.qq.com?params=value#frag") == expected
    assert (
        jsapi_signature(
            ticket, "Wm3WZYTPz0wzccnW", "1414587457", "http://mp.weixin.qq.com?params=value"
        )
        == expected
    )
    for bad in [
        ("", "n", 1, "u"),
        (ticket, "n", -1, "u"),
        (ticket, "n", True, "u"),
        (ticket, "n", 1, ""),
    ]:
        with pytest.raises(ValueError):
            jsapi_signature(*bad)


def test_download_rss_stays_small(fake_work: FakeWorkServer, tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    media_id = fake_work.add_media(bytes(range(256)) * (size // 256), "big.bin")
    out = tmp_path / "out.bin"
    for mode in ("sync", "async"):
        proc = subprocess.run(
            [
                sys.executable,
                str(RSS_SCRIPT),
                fake_work.base_url,
                fake_work.corp_id,
                fake_work.corp_secret,
                media_id,
                str(out),
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["size"] == size == out.stat().st_size
        print(f"{mode} download of {size} bytes raised peak RSS by {report['rss_increase']} bytes")
        assert report["rss_increase"] < 2 * 1024 * 1024


# --------------------------------------------------------------------------- JS-SDK tickets


def test_ticket_servers(fake_work: FakeWorkServer, redis_client: Any) -> None:
    url = fake_work.base_url
    tokens = DefaultAccessTokenServer(fake_work.corp_id, fake_work.corp_secret, base_url=url)
    corp = JsapiTicketServer(tokens)
    agent = AgentJsapiTicketServer(tokens)
    first = corp.ticket()
    assert first == fake_work.jsapi_tickets[0] and corp.ticket() == first  # cached
    assert agent.ticket() != first and fake_work.calls[fw.TICKET_GET] == 1
    assert fake_work.requests[-1].query["type"] == "agent_config"
    assert first not in repr(corp) and fake_work.corp_secret not in repr(corp)
    assert corp.signature("n", 1, "https://a/#x") == jsapi_signature(first, "n", 1, "https://a/")
    # a refused access_token: refreshed, the fetch sent again
    assert corp.ticket_refresh() == first  # within 2 s of the fetch: shared, as tokens are
    fake_work.expire_tokens()
    second = JsapiTicketServer(tokens).ticket()
    assert second != first and fake_work.gettoken_calls == 2
    # a failed fetch raises and backs off
    fake_work.fail(40001, path=fw.GET_JSAPI_TICKET)
    with pytest.raises(APIError):
        JsapiTicketServer(tokens).ticket()
    # Redis: two servers (two processes) share one ticket, keyed by the token's identity
    shared = [RedisJsapiTicketServer(tokens, redis_client) for _ in range(2)]
    calls = fake_work.calls[fw.GET_JSAPI_TICKET]
    assert shared[0].ticket() == shared[1].ticket()
    assert fake_work.calls[fw.GET_JSAPI_TICKET] == calls + 1
    assert shared[0].key == f"wxcorp_fast:jsapi_ticket:{tokens.key_id}"
    assert RedisAgentJsapiTicketServer(tokens, redis_client).key.startswith(
        "wxcorp_fast:agent_jsapi_ticket:"
    )
    with pytest.raises(ValueError, match="corp_id"):
        JsapiTicketServer(object())  # type: ignore[arg-type]


def test_async_ticket_servers(fake_work: FakeWorkServer) -> None:
    async def main() -> None:
        async with (
            AsyncDefaultAccessTokenServer(
                fake_work.corp_id, fake_work.corp_secret, base_url=fake_work.base_url
            ) as tokens,
            AsyncJsapiTicketServer(tokens) as corp,
            AsyncAgentJsapiTicketServer(tokens) as agent,
        ):
            tickets = await asyncio.gather(*(corp.ticket() for _ in range(10)))
            assert set(tickets) == {fake_work.jsapi_tickets[0]}  # single-flight
            assert await agent.ticket() not in tickets
            fake_work.expire_tokens()
            async with AsyncJsapiTicketServer(tokens) as other:
                assert await other.ticket() not in tickets
            assert await corp.signature("n", 1, "https://a/") == jsapi_signature(
                await corp.ticket(), "n", 1, "https://a/"
            )

    asyncio.run(main())
    assert fake_work.gettoken_calls == 2


def test_readme_typed_calls_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## API client", 1)[1].split("Typed calls", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})  # noqa: S102 - our own README
