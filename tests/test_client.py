"""CorpClient against FakeWorkServer: calls, retry rules, errors, secrecy, streaming uploads."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import logging
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
import urllib3
from _sends import PAYLOADS, SENDS

import wxcorp_fast
from wxcorp_fast import (
    DEFAULT_BASE_URL,
    ERR_CODE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_OK,
    ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED,
    AccessTokenServer,
    APIError,
    CorpClient,
    DefaultAccessTokenServer,
    MultipartFormField,
    RateLimitError,
)
from wxcorp_fast.api._http import MultipartBody, redact
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import FakeWorkServer
from wxcorp_fast.testing.fake_work import GETCALLBACKIP, GETTOKEN, MEDIA_UPLOAD, MESSAGE_SEND

from _clock import FakeClock

ROOT = Path(__file__).resolve().parents[1]
RSS_SCRIPT = Path(__file__).with_name("_upload_rss.py")


class QuickClient(CorpClient):
    busy_retry_delays = (0.01, 0.01, 0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(fake_work: FakeWorkServer, clock: FakeClock) -> CorpClient:
    server = DefaultAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, base_url=fake_work.base_url, clock=clock
    )
    return QuickClient(server, base_url=fake_work.base_url)


def test_constants() -> None:
    assert (ERR_CODE_OK, ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED) == (
        0,
        42001,
        42009,
    )
    assert DEFAULT_BASE_URL == "https://qyapi.weixin.qq.com"
    assert CorpClient.busy_retry_delays == (0.2, 0.4, 0.8)
    for name in (
        "CorpClient",
        "MultipartFormField",
        "AccessTokenServer",
        "DefaultAccessTokenServer",
        "RedisAccessTokenServer",
        "DEFAULT_BASE_URL",
    ):
        assert name in wxcorp_fast.__all__


def test_defaults_and_settable_timeouts(fake_work: FakeWorkServer) -> None:
    server = DefaultAccessTokenServer(fake_work.corp_id, fake_work.corp_secret)
    client = CorpClient(server)
    assert (client.base_url, client.timeout, client.media_timeout) == (
        DEFAULT_BASE_URL,
        60.0,
        300.0,
    )
    assert isinstance(client.http, urllib3.PoolManager)
    assert CorpClient(server).http is not client.http  # one pool per client
    client.timeout, client.media_timeout = 5.0, 7.0
    assert (client.timeout, client.media_timeout) == (5.0, 7.0)


def test_get_json_adds_the_token_and_params(fake_work: FakeWorkServer, client: CorpClient) -> None:
    answer = client.get_json(GETCALLBACKIP, {"lang": "zh_CN"})
    assert answer["errcode"] == 0 and answer["ip_list"] == list(fake_work.callback_ips)
    request = fake_work.requests[-1]
    assert request.query == {"lang": "zh_CN", "access_token": fake_work.tokens[0]}
    assert client.get_callback_ip() == list(fake_work.callback_ips)


def test_connections_are_reused(fake_work: FakeWorkServer, client: CorpClient) -> None:
    for _ in range(20):
        client.get_callback_ip()
    client.send_text(1, "x", touser="u")
    assert fake_work.connections == 2  # one for the token server's pool, one for the client's


def test_passed_pool_manager_is_shared(fake_work: FakeWorkServer) -> None:
    http = urllib3.PoolManager()
    server = DefaultAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, http, fake_work.base_url
    )
    client = CorpClient(server, http, fake_work.base_url)
    client.get_callback_ip()
    assert client.http is http
    assert fake_work.connections == 1


def test_post_json_sends_utf8_json(fake_work: FakeWorkServer, client: CorpClient) -> None:
    payload = {"touser": "张三", "msgtype": "text", "agentid": 1, "text": {"content": "你好 😀"}}
    answer = client.post_json(MESSAGE_SEND, payload)
    assert answer["errcode"] == 0 and answer["msgid"]
    assert fake_work.messages == [payload]


def test_42001_refreshes_once_and_retries_once(
    fake_work: FakeWorkServer, client: CorpClient, clock: FakeClock
) -> None:
    client.get_callback_ip()
    fake_work.expire_tokens()
    clock.now += 3  # out of the refresh window
    assert client.get_callback_ip() == list(fake_work.callback_ips)
    assert fake_work.gettoken_calls == 2
    assert fake_work.calls[GETCALLBACKIP] == 3
    assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]


def test_a_token_refused_right_after_its_fetch_is_refreshed(
    fake_work: FakeWorkServer, client: CorpClient
) -> None:
    client.get_callback_ip()
    fake_work.expire_tokens()  # inside the first fetch's 2 s window
    assert client.get_callback_ip() == list(fake_work.callback_ips)
    assert fake_work.gettoken_calls == 2
    assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]


def test_a_token_server_without_stale_keeps_working(fake_work: FakeWorkServer) -> None:
    class Mine(AccessTokenServer):
        """A user's server written against ``token_refresh()`` with no arguments."""

        def __init__(self) -> None:
            self.http = urllib3.PoolManager()
            self.current: str | None = None
            self.refreshes = 0

        def token(self) -> str:
            return self.current or self.token_refresh()

        def token_refresh(self) -> str:
            self.refreshes += 1
            answer = self.http.request(
                "GET",
                fake_work.base_url + GETTOKEN,
                fields={"corpid": fake_work.corp_id, "corpsecret": fake_work.corp_secret},
            )
            self.current = str(json.loads(answer.data)["access_token"])
            return self.current

    mine = Mine()
    client = CorpClient(mine, base_url=fake_work.base_url)
    client.get_callback_ip()
    fake_work.expire_tokens()
    assert client.get_callback_ip() == list(fake_work.callback_ips)
    assert (mine.refreshes, fake_work.gettoken_calls) == (2, 2)
    assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]


@pytest.mark.parametrize("errcode", [42001, 40014])
def test_token_errors_are_never_a_loop(
    fake_work: FakeWorkServer, client: CorpClient, clock: FakeClock, errcode: int
) -> None:
    client.get_callback_ip()
    clock.now += 3
    fake_work.fail(errcode, times=10, path=MESSAGE_SEND)
    with pytest.raises(APIError) as info:
        client.send_text(1, "x", touser="u")
    assert info.value.errcode == errcode
    assert fake_work.calls[MESSAGE_SEND] == 2
    assert fake_work.gettoken_calls == 2
    assert fake_work.messages == []


def test_system_busy_get_is_retried_with_the_documented_backoff(
    fake_work: FakeWorkServer, clock: FakeClock
) -> None:
    server = DefaultAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, base_url=fake_work.base_url, clock=clock
    )
    client = CorpClient(server, base_url=fake_work.base_url)  # real delays: 0.2, 0.4, 0.8 s
    fake_work.fail(-1, times=3, path=GETCALLBACKIP)
    assert client.get_callback_ip() == list(fake_work.callback_ips)
    assert fake_work.calls[GETCALLBACKIP] == 4


def test_system_busy_get_gives_up_after_3_retries(
    fake_work: FakeWorkServer, client: CorpClient
) -> None:
    fake_work.fail(-1, times=4, path=GETCALLBACKIP)
    with pytest.raises(APIError) as info:
        client.get_callback_ip()
    assert info.value.errcode == -1
    assert fake_work.calls[GETCALLBACKIP] == 4


def test_system_busy_post_is_not_retried(fake_work: FakeWorkServer, client: CorpClient) -> None:
    fake_work.fail(-1, path=MESSAGE_SEND)
    with pytest.raises(APIError) as info:
        client.send_text(1, "x", touser="u")
    assert (type(info.value), info.value.errcode) == (APIError, -1)
    assert fake_work.calls[MESSAGE_SEND] == 1


@pytest.mark.parametrize("errcode", [45009, 45033])
@pytest.mark.parametrize("path", [GETCALLBACKIP, MESSAGE_SEND])
def test_rate_limits_raise_and_are_not_retried(
    fake_work: FakeWorkServer, client: CorpClient, errcode: int, path: str
) -> None:
    fake_work.fail(errcode, path=path)
    with pytest.raises(RateLimitError) as info:
        if path == GETCALLBACKIP:
            client.get_callback_ip()
        else:
            client.send_text(1, "x", touser="u")
    assert info.value.errcode == errcode
    assert str(info.value) == f"errcode: {errcode}, errmsg: {info.value.errmsg}"
    assert fake_work.calls[path] == 1


def test_other_errcodes_raise_api_error(fake_work: FakeWorkServer, client: CorpClient) -> None:
    with pytest.raises(APIError) as info:
        client.send_message(1, "nope", {}, touser="u")
    assert (type(info.value), info.value.errcode, str(info.value)) == (
        APIError,
        40008,
        "errcode: 40008, errmsg: invalid message type",
    )


def test_http_status_and_bad_answers_raise_transport_error(
    fake_work: FakeWorkServer, client: CorpClient
) -> None:
    client.get_callback_ip()
    fake_work.http_error(502, path=GETCALLBACKIP)
    with pytest.raises(TransportError) as info:
        client.get_callback_ip()
    assert (str(info.value), info.value.status) == (
        "GET /cgi-bin/getcallbackip answered HTTP 502",
        502,
    )
    with pytest.raises(TransportError, match="HTTP 404"):
        client.get_json("/cgi-bin/unknown")
    with pytest.raises(ValueError):
        client.get_json("cgi-bin/getcallbackip")


def test_connection_failure_and_timeouts(fake_work: FakeWorkServer, client: CorpClient) -> None:
    client.get_callback_ip()
    fake_work.delay(5, path=GETCALLBACKIP)
    client.timeout = 0.2
    with pytest.raises(TransportError, match="GET /cgi-bin/getcallbackip failed: ReadTimeout"):
        client.get_callback_ip()
    fake_work.delay(5, path=MEDIA_UPLOAD)
    client.media_timeout = 0.2
    with pytest.raises(TransportError, match="POST /cgi-bin/media/upload failed: ReadTimeout"):
        client.upload_media("file", b"123456", "a.txt")
    with FakeWorkServer() as gone:
        url = gone.base_url
    closed = CorpClient(client.access_token_server, base_url=url)
    with pytest.raises(TransportError, match="GET /cgi-bin/getcallbackip failed"):
        closed.get_callback_ip()


def test_send_message_and_shortcuts(fake_work: FakeWorkServer, client: CorpClient) -> None:
    for name, args, kwargs in SENDS:
        answer = getattr(client, name)(*args, **kwargs)
        assert answer["errcode"] == 0 and answer["invaliduser"] == ""
    assert fake_work.messages == PAYLOADS
    with pytest.raises(ValueError, match="touser"):
        client.send_text(1000002, "x")
    with pytest.raises(ValueError):
        client.send_text(1000002, "x", touser=[])
    assert fake_work.calls[MESSAGE_SEND] == 3


def test_upload_media_returns_the_media_id(
    fake_work: FakeWorkServer, client: CorpClient, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG" + bytes(range(256)) * 1000)
    with path.open("rb") as file:
        media_id = client.upload_media("image", file)
    assert media_id == fake_work.uploads[0].media_id
    upload = fake_work.uploads[0]
    assert (upload.media_type, upload.filename, upload.content) == (
        "image",
        "photo.png",
        path.read_bytes(),
    )
    assert client.upload_media("voice", b"#!AMR\n0000", "v.amr") == fake_work.uploads[1].media_id
    assert fake_work.uploads[1].content == b"#!AMR\n0000"
    assert client.upload_media("file", io.BytesIO(b"abcdefgh")).startswith("fake-media-")
    assert fake_work.uploads[2].filename == "media"
    with pytest.raises(ValueError, match="media_type"):
        client.upload_media("gif", b"123456")


def test_upload_resends_the_whole_file_after_a_token_refresh(
    fake_work: FakeWorkServer, client: CorpClient, clock: FakeClock
) -> None:
    client.get_callback_ip()
    fake_work.expire_tokens()
    clock.now += 3
    data = bytes(range(256)) * 5000
    file = io.BytesIO(b"skipped" + data)
    file.seek(7)
    client.upload_media("file", file, "x.bin")
    assert fake_work.calls[MEDIA_UPLOAD] == 2
    assert fake_work.uploads[0].content == data


def test_multipart_body_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"\x00\r\n--x" * 5000)
    with path.open("rb") as file:
        fields = [
            MultipartFormField("description", b'{"title":"\xe6\xa0\x87\xe9\xa2\x98"}'),
            MultipartFormField("media", file, filename='a "b".bin', content_type="video/mp4"),
            MultipartFormField("extra", io.BytesIO(b"xyz"), filename="x.txt"),
        ]
        body = MultipartBody([(f.name, f.content, f.filename, f.content_type) for f in fields])
        raw = b"".join(body)
        assert len(raw) == body.content_length
        assert b"".join(body) == raw  # iterable again, from each file's start
    head = f"Content-Type: {body.content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "description",
        "media",
        "extra",
    ]
    assert parts[0].get_payload(decode=True) == fields[0].content
    assert parts[1].get_content_type() == "video/mp4"
    assert parts[1].get_payload(decode=True) == path.read_bytes()
    assert parts[2].get_content_type() == "application/octet-stream"
    assert parts[2].get_filename() == "x.txt"
    assert 'filename="a %22b%22.bin"; filelength=30000' in raw.decode("latin-1")
    with pytest.raises(TypeError):
        MultipartBody([("x", "text", None, None)])  # type: ignore[list-item]


def test_unseekable_file_is_read_once(fake_work: FakeWorkServer, client: CorpClient) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(b"streamed-data")

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert client.upload_media("file", Pipe(), "p.txt")
    assert fake_work.uploads[0].content == b"streamed-data"


def test_redact_masks_token_and_secret() -> None:
    text = "GET /x?corpid=c&corpsecret=S3cr3t&access_token=T0k-en_1 x ACCESS_TOKEN=Z&a=1"
    assert redact(text) == "GET /x?corpid=c&corpsecret=***&access_token=*** x ACCESS_TOKEN=***&a=1"


def test_secrets_never_in_logs_errors_or_reprs(
    fake_work: FakeWorkServer,
    client: CorpClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "wxcorp_fast"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = [repr(client), repr(client.access_token_server)]

    def expect_error(call: Any) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every text of the error is checked
            texts.append(str(exc))
            texts.append(repr(exc))
            texts.extend(traceback.format_exception(exc))
        else:
            raise AssertionError("expected an error")

    client.get_callback_ip()
    fake_work.expire_tokens()
    clock.now += 3
    client.send_text(1, "x", touser="u")  # 42001 -> refresh -> retry
    fake_work.fail(40014, times=2, path=GETCALLBACKIP)
    expect_error(client.get_callback_ip)
    fake_work.fail(45009, path=MESSAGE_SEND)
    expect_error(lambda: client.send_text(1, "x", touser="u"))
    fake_work.http_error(500, path=GETCALLBACKIP)
    expect_error(client.get_callback_ip)
    fake_work.delay(3, path=GETCALLBACKIP)
    client.timeout = 0.2
    expect_error(client.get_callback_ip)
    fake_work.delay(0, path=GETCALLBACKIP)
    fake_work.fail(40001, path=GETTOKEN)
    clock.now += 10
    expect_error(client.access_token_server.token_refresh)
    with FakeWorkServer(fake_work.corp_id, fake_work.corp_secret) as gone:
        url = gone.base_url
    dead = CorpClient(
        DefaultAccessTokenServer(fake_work.corp_id, fake_work.corp_secret, base_url=url),
        base_url=url,
    )
    expect_error(dead.get_callback_ip)  # connection refused, retried by urllib3 (WARNINGs)
    texts.extend(record.getMessage() for record in caplog.records)
    texts.append(caplog.text)
    assert any(
        "urllib3" in record.name and record.levelno == logging.DEBUG for record in caplog.records
    )
    assert any("access_token=***" in record.getMessage() for record in caplog.records)
    assert any("corpsecret=***" in record.getMessage() for record in caplog.records)
    assert len(fake_work.tokens) >= 2
    secrets = [fake_work.corp_secret, *fake_work.tokens]
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize("mode", ["sync", "async"])  # CorpClient, AsyncCorpClient
def test_upload_rss_stays_below_1_5x_the_file(
    fake_work: FakeWorkServer, tmp_path: Path, mode: str
) -> None:
    size = 20 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as file:
        for i in range(size // (1024 * 1024)):
            file.write(bytes([i]) * (1024 * 1024))
    proc = subprocess.run(
        [
            sys.executable,
            str(RSS_SCRIPT),
            fake_work.base_url,
            fake_work.corp_id,
            fake_work.corp_secret,
            str(path),
            mode,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert fake_work.uploads[-1].media_id == report["media_id"]
    assert len(fake_work.uploads[-1].content) == size
    print(f"{mode} upload of {size} bytes raised peak RSS by {report['rss_increase']} bytes")
    assert report["rss_increase"] < 1.5 * size


def test_readme_api_client_example_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## API client", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})  # noqa: S102 - our own README
