"""AsyncCorpClient against FakeWorkServer: the same calls, rules, errors and secrecy as CorpClient.

Each test runs its coroutine with ``asyncio.run`` (no pytest plugin).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _sends import PAYLOADS, SENDS

from wxcorp_fast import APIError, CorpClient, RateLimitError
from wxcorp_fast.api import (
    DEFAULT_BASE_URL,
    AsyncAccessTokenServer,
    AsyncCorpClient,
    AsyncDefaultAccessTokenServer,
)
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import FakeWorkServer, Request
from wxcorp_fast.testing.fake_work import GETCALLBACKIP, GETTOKEN, MEDIA_UPLOAD, MESSAGE_SEND

from _clock import FakeClock


class QuickClient(AsyncCorpClient):
    busy_retry_delays = (0.01, 0.01, 0.01)


def tokens_for(
    fake: FakeWorkServer, clock: Any = None, **kwargs: Any
) -> AsyncDefaultAccessTokenServer:
    if clock is not None:
        kwargs["clock"] = clock
    return AsyncDefaultAccessTokenServer(
        fake.corp_id, fake.corp_secret, base_url=fake.base_url, **kwargs
    )


def with_client(
    fake: FakeWorkServer,
    test: Callable[[AsyncCorpClient], Awaitable[None]],
    clock: Any = None,
    cls: type[AsyncCorpClient] = QuickClient,
) -> None:
    """Run ``test(client)`` in a fresh event loop; close the client and its server after."""

    async def main() -> None:
        async with tokens_for(fake, clock) as server, cls(server, base_url=fake.base_url) as c:
            await test(c)

    asyncio.run(main())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_same_methods_and_signatures_as_corpclient() -> None:
    public = [
        name
        for name, member in vars(CorpClient).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]
    assert {
        "get_json",
        "post_json",
        "post_multipart_form",
        "get_callback_ip",
        "send_message",
        "send_text",
        "send_markdown",
        "upload_media",
    } <= set(public)
    for name in public:
        ours = getattr(AsyncCorpClient, name)
        assert inspect.iscoroutinefunction(ours), name
        assert inspect.signature(ours) == inspect.signature(getattr(CorpClient, name)), name
    init = list(inspect.signature(AsyncCorpClient).parameters.values())
    assert [(p.name, p.default, p.kind) for p in init] == [
        ("access_token_server", inspect.Parameter.empty, inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("session", None, inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("base_url", DEFAULT_BASE_URL, inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("timeout", 60.0, inspect.Parameter.KEYWORD_ONLY),
        ("media_timeout", 300.0, inspect.Parameter.KEYWORD_ONLY),
    ]
    assert AsyncCorpClient.busy_retry_delays == CorpClient.busy_retry_delays == (0.2, 0.4, 0.8)


def test_one_session_per_client_and_aclose(fake_work: FakeWorkServer) -> None:
    async def main() -> None:
        server = tokens_for(fake_work)
        client = AsyncCorpClient(server, base_url=fake_work.base_url)
        other = AsyncCorpClient(server, base_url=fake_work.base_url)
        assert (client.timeout, client.media_timeout) == (60.0, 300.0)
        assert client.session is not other.session  # one per client
        session = client.session
        for _ in range(20):
            await client.get_callback_ip()
        await client.send_text(1, "x", touser="u")
        assert fake_work.connections == 2  # the token server's session, the client's
        await client.aclose()
        assert session.closed
        await other.aclose()
        await server.aclose()

    asyncio.run(main())


def test_passed_session_is_shared_and_left_open(fake_work: FakeWorkServer) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with (
                AsyncDefaultAccessTokenServer(
                    fake_work.corp_id, fake_work.corp_secret, session, fake_work.base_url
                ) as server,
                AsyncCorpClient(server, session, fake_work.base_url) as client,
            ):
                assert client.session is session
                assert await client.get_callback_ip() == list(fake_work.callback_ips)
            assert not session.closed
            assert fake_work.connections == 1

    asyncio.run(main())


def test_get_and_post_json(fake_work: FakeWorkServer) -> None:
    payload = {"touser": "张三", "msgtype": "text", "agentid": 1, "text": {"content": "你好 😀"}}

    async def test(client: AsyncCorpClient) -> None:
        answer = await client.get_json(GETCALLBACKIP, {"lang": "zh_CN"})
        assert answer["ip_list"] == list(fake_work.callback_ips)
        assert fake_work.requests[-1].query == {
            "lang": "zh_CN",
            "access_token": fake_work.tokens[0],
        }
        assert await client.get_callback_ip() == list(fake_work.callback_ips)
        assert (await client.post_json(MESSAGE_SEND, payload))["msgid"]
        assert fake_work.messages == [payload]

    with_client(fake_work, test)


def test_42001_refreshes_once_and_retries_once(fake_work: FakeWorkServer) -> None:
    async def test(client: AsyncCorpClient) -> None:
        await client.get_callback_ip()
        fake_work.expire_tokens()  # right after the fetch: the refused token is not reused
        assert await client.get_callback_ip() == list(fake_work.callback_ips)
        assert (fake_work.gettoken_calls, fake_work.calls[GETCALLBACKIP]) == (2, 3)
        assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]

    with_client(fake_work, test)


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_token_errors_are_never_a_loop(fake_work: FakeWorkServer, errcode: int) -> None:
    async def test(client: AsyncCorpClient) -> None:
        await client.get_callback_ip()
        fake_work.fail(errcode, times=10, path=MESSAGE_SEND)
        with pytest.raises(APIError) as info:
            await client.send_text(1, "x", touser="u")
        assert info.value.errcode == errcode
        assert (fake_work.calls[MESSAGE_SEND], fake_work.gettoken_calls) == (2, 2)

    with_client(fake_work, test)


def test_system_busy_get_is_retried_with_the_documented_backoff(
    fake_work: FakeWorkServer,
) -> None:
    async def test(client: AsyncCorpClient) -> None:  # real delays: 0.2, 0.4, 0.8 s
        fake_work.fail(-1, times=3, path=GETCALLBACKIP)
        assert await client.get_callback_ip() == list(fake_work.callback_ips)
        assert fake_work.calls[GETCALLBACKIP] == 4

    with_client(fake_work, test, cls=AsyncCorpClient)


def test_system_busy_gives_up_after_3_retries_and_post_is_not_retried(
    fake_work: FakeWorkServer,
) -> None:
    async def test(client: AsyncCorpClient) -> None:
        fake_work.fail(-1, times=4, path=GETCALLBACKIP)
        with pytest.raises(APIError) as info:
            await client.get_callback_ip()
        assert info.value.errcode == -1 and fake_work.calls[GETCALLBACKIP] == 4
        fake_work.fail(-1, path=MESSAGE_SEND)
        with pytest.raises(APIError) as info:
            await client.send_text(1, "x", touser="u")
        assert (type(info.value), info.value.errcode) == (APIError, -1)
        assert fake_work.calls[MESSAGE_SEND] == 1

    with_client(fake_work, test)


@pytest.mark.parametrize("errcode", [45009, 45033])
def test_rate_limits_and_other_errcodes(fake_work: FakeWorkServer, errcode: int) -> None:
    async def test(client: AsyncCorpClient) -> None:
        fake_work.fail(errcode, path=MESSAGE_SEND)
        with pytest.raises(RateLimitError) as info:
            await client.send_text(1, "x", touser="u")
        assert str(info.value) == f"errcode: {errcode}, errmsg: {info.value.errmsg}"
        assert fake_work.calls[MESSAGE_SEND] == 1
        with pytest.raises(APIError) as other:
            await client.send_message(1, "nope", {}, touser="u")
        assert (type(other.value), str(other.value)) == (
            APIError,
            "errcode: 40008, errmsg: invalid message type",
        )

    with_client(fake_work, test)


def test_http_status_bad_answers_and_bad_paths(fake_work: FakeWorkServer) -> None:
    async def test(client: AsyncCorpClient) -> None:
        await client.get_callback_ip()
        fake_work.http_error(502, path=GETCALLBACKIP)
        with pytest.raises(TransportError) as info:
            await client.get_callback_ip()
        assert (str(info.value), info.value.status) == (
            "GET /cgi-bin/getcallbackip answered HTTP 502",
            502,
        )
        with pytest.raises(TransportError, match="HTTP 404"):
            await client.get_json("/cgi-bin/unknown")
        fake_work.route("GET", "/cgi-bin/text", lambda request: (200, "not json"))
        with pytest.raises(TransportError, match="GET /cgi-bin/text answered no JSON object"):
            await client.get_json("/cgi-bin/text")
        with pytest.raises(ValueError):
            await client.get_json("cgi-bin/getcallbackip")

    with_client(fake_work, test)


def test_timeouts_and_connection_failures(fake_work: FakeWorkServer) -> None:
    async def test(client: AsyncCorpClient) -> None:
        await client.get_callback_ip()
        fake_work.delay(5, path=GETCALLBACKIP)
        client.timeout = 0.2
        with pytest.raises(TransportError, match="GET /cgi-bin/getcallbackip failed: .*Timeout"):
            await client.get_callback_ip()
        fake_work.delay(5, path=MEDIA_UPLOAD)
        client.media_timeout = 0.2
        with pytest.raises(TransportError, match="POST /cgi-bin/media/upload failed: .*Timeout"):
            await client.upload_media("file", b"123456", "a.txt")
        with FakeWorkServer() as gone:
            url = gone.base_url
        closed = AsyncCorpClient(client.access_token_server, base_url=url)
        with pytest.raises(
            TransportError, match="GET /cgi-bin/getcallbackip failed: ClientConnectorError"
        ):
            await closed.get_callback_ip()
        await closed.aclose()

    with_client(fake_work, test)


def test_send_message_and_shortcuts(fake_work: FakeWorkServer) -> None:
    async def test(client: AsyncCorpClient) -> None:
        for name, args, kwargs in SENDS:
            answer = await getattr(client, name)(*args, **kwargs)
            assert answer["errcode"] == 0 and answer["invaliduser"] == ""
        with pytest.raises(ValueError, match="touser"):
            await client.send_text(1000002, "x")

    with_client(fake_work, test)
    assert fake_work.messages == PAYLOADS


def test_upload_media_and_resend_after_a_refresh(fake_work: FakeWorkServer, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG" + bytes(range(256)) * 1000)

    async def test(client: AsyncCorpClient) -> None:
        with path.open("rb") as file:
            assert await client.upload_media("image", file) == fake_work.uploads[0].media_id
        assert await client.upload_media("voice", b"#!AMR\n0000", "v.amr")
        assert (await client.upload_media("file", io.BytesIO(b"abcdefgh"))).startswith(
            "fake-media-"
        )
        with pytest.raises(ValueError, match="media_type"):
            await client.upload_media("gif", b"123456")
        fake_work.expire_tokens()
        data = bytes(range(256)) * 5000
        file = io.BytesIO(b"skipped" + data)
        file.seek(7)
        await client.upload_media("file", file, "x.bin")  # 42001, refresh, whole file again
        assert fake_work.calls[MEDIA_UPLOAD] == 5
        assert fake_work.uploads[3].content == data

    with_client(fake_work, test)
    first, voice, buffer = fake_work.uploads[:3]
    assert (first.media_type, first.filename, first.content) == (
        "image",
        "photo.png",
        path.read_bytes(),
    )
    assert (voice.filename, voice.content, buffer.filename) == ("v.amr", b"#!AMR\n0000", "media")


def test_post_multipart_form_and_routed_paths(fake_work: FakeWorkServer) -> None:
    from wxcorp_fast import MultipartFormField

    def upload_image(request: Request) -> dict[str, Any]:
        return {"url": f"https://p.qpic.cn/{len(request.body)}"}

    fake_work.route("POST", "/cgi-bin/media/uploadimg", upload_image)

    async def test(client: AsyncCorpClient) -> None:
        answer = await client.post_multipart_form(
            "/cgi-bin/media/uploadimg", [MultipartFormField("media", b"png!", "a.png")]
        )
        assert answer["url"].startswith("https://p.qpic.cn/")
        assert fake_work.requests[-1].query == {"access_token": fake_work.tokens[0]}

    with_client(fake_work, test)


def test_a_token_server_without_stale_keeps_working(fake_work: FakeWorkServer) -> None:
    class Mine(AsyncAccessTokenServer):
        """A user's async server written against ``token_refresh()`` with no arguments."""

        def __init__(self, session: aiohttp.ClientSession) -> None:
            self.session = session
            self.current: str | None = None
            self.refreshes = 0

        async def token(self) -> str:
            return self.current or await self.token_refresh()

        async def token_refresh(self) -> str:
            self.refreshes += 1
            query = {"corpid": fake_work.corp_id, "corpsecret": fake_work.corp_secret}
            async with self.session.get(fake_work.base_url + GETTOKEN, params=query) as answer:
                self.current = str((await answer.json())["access_token"])
            return self.current

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            mine = Mine(session)
            client = AsyncCorpClient(mine, session, fake_work.base_url)
            await client.get_callback_ip()
            fake_work.expire_tokens()
            assert await client.get_callback_ip() == list(fake_work.callback_ips)
            assert (mine.refreshes, fake_work.gettoken_calls) == (2, 2)

    asyncio.run(main())


def test_1000_concurrent_sends_on_a_cold_token_cache(fake_work: FakeWorkServer) -> None:
    fake_work.delay(0.2, path=GETTOKEN)

    async def test(client: AsyncCorpClient) -> None:
        answers = await asyncio.gather(
            *(client.send_text(1000002, f"m{i}", touser="u") for i in range(1000))
        )
        assert all(answer["errcode"] == 0 for answer in answers)

    with_client(fake_work, test)
    assert fake_work.gettoken_calls == 1
    assert sorted(m["text"]["content"] for m in fake_work.messages) == sorted(
        f"m{i}" for i in range(1000)
    )


def test_secrets_never_in_logs_errors_or_reprs(
    fake_work: FakeWorkServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp", "aiohttp.client", "aiohttp.internal", "asyncio", "wxcorp_fast"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []

    async def expect_error(call: Coroutine[Any, Any, Any]) -> None:
        try:
            await call
        except Exception as exc:  # noqa: BLE001 - every text of the error is checked
            texts.extend([str(exc), repr(exc), *traceback.format_exception(exc)])
        else:
            raise AssertionError("expected an error")

    async def test(client: AsyncCorpClient) -> None:
        texts.extend(
            [
                repr(client),
                str(client),
                repr(client.access_token_server),
                str(client.access_token_server),
            ]
        )
        await client.get_callback_ip()
        fake_work.expire_tokens()
        await client.send_text(1, "x", touser="u")  # 42001 -> refresh -> retry
        fake_work.fail(40014, times=2, path=GETCALLBACKIP)
        await expect_error(client.get_callback_ip())
        fake_work.fail(45009, path=MESSAGE_SEND)
        await expect_error(client.send_text(1, "x", touser="u"))
        fake_work.http_error(500, path=GETCALLBACKIP)
        await expect_error(client.get_callback_ip())
        fake_work.delay(3, path=GETCALLBACKIP)
        client.timeout = 0.2
        await expect_error(client.get_callback_ip())
        fake_work.delay(0, path=GETCALLBACKIP)
        fake_work.fail(40001, path=GETTOKEN)
        clock.advance(10)
        await expect_error(client.access_token_server.token_refresh())
        with FakeWorkServer(fake_work.corp_id, fake_work.corp_secret) as gone:
            url = gone.base_url
        async with AsyncDefaultAccessTokenServer(
            fake_work.corp_id, fake_work.corp_secret, base_url=url
        ) as dead_tokens:
            await expect_error(AsyncCorpClient(dead_tokens, client.session, url).get_callback_ip())
        texts.append(repr(client.session))

    with_client(fake_work, test, clock)
    texts.extend(record.getMessage() for record in caplog.records)
    texts.append(caplog.text)
    assert len(fake_work.tokens) >= 2
    secrets = [fake_work.corp_secret, *fake_work.tokens]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_readme_async_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The async API client", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})  # noqa: S102 - our own README


def test_aiohttp_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp.client", "aiohttp.internal", "aiohttp.access"):
        logging.getLogger(name).debug(
            "GET /cgi-bin/x?access_token=%s&corpsecret=%s 200", "T0ken-value", "S3cret-value"
        )
    assert [r.getMessage() for r in caplog.records] == [
        "GET /cgi-bin/x?access_token=***&corpsecret=*** 200"
    ] * 3
