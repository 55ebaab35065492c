"""FakeWorkServer answers like WeChat Work, over real HTTP, checked with bare urllib3."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from wxcorp_fast.testing import FakeWorkServer, RecordedRequest
from wxcorp_fast.testing.fake_work import (
    FAKE_CORP_SECRET,
    GETCALLBACKIP,
    GETTOKEN,
    MEDIA_UPLOAD,
    MESSAGE_SEND,
)
from wxcorp_fast.testing.vectors import CORP_ID


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False)


def get(http: urllib3.PoolManager, fake: FakeWorkServer, path: str, **query: str) -> Any:
    response = http.request("GET", fake.base_url + path, fields=query, timeout=5)
    assert response.status == 200
    return json.loads(response.data)


def post(
    http: urllib3.PoolManager,
    fake: FakeWorkServer,
    path: str,
    body: bytes,
    content_type: str,
    **query: str,
) -> Any:
    url = fake.base_url + path + "?" + urlencode(query)
    response = http.request(
        "POST", url, body=body, headers={"Content-Type": content_type}, timeout=5
    )
    assert response.status == 200
    return json.loads(response.data)


def token_of(http: urllib3.PoolManager, fake: FakeWorkServer) -> str:
    answer = get(http, fake, GETTOKEN, corpid=fake.corp_id, corpsecret=fake.corp_secret)
    token: str = answer["access_token"]
    return token


def test_context_manager_serves_on_loopback_and_stops() -> None:
    with FakeWorkServer() as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.port > 0
        port = fake.port
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with pytest.raises(RuntimeError):
        fake.base_url  # noqa: B018 - stopped


def test_fixture_gives_a_started_server(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    assert (fake_work.corp_id, fake_work.corp_secret) == (CORP_ID, FAKE_CORP_SECRET)
    response = http.request("GET", fake_work.base_url + "/nowhere", timeout=5)
    assert response.status == 404
    assert fake_work.calls["/nowhere"] == 1


def test_gettoken_checks_corpid_and_secret(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    ok = get(http, fake_work, GETTOKEN, corpid=CORP_ID, corpsecret=FAKE_CORP_SECRET)
    assert ok["errcode"] == 0 and ok["expires_in"] == 7200
    assert ok["access_token"] == fake_work.tokens[-1] and len(ok["access_token"]) >= 32
    cases = [
        ({"corpsecret": FAKE_CORP_SECRET}, 41002),
        ({"corpid": CORP_ID}, 41004),
        ({"corpid": "wrong", "corpsecret": FAKE_CORP_SECRET}, 40013),
        ({"corpid": CORP_ID, "corpsecret": FAKE_CORP_SECRET + "x"}, 40001),
    ]
    for query, errcode in cases:
        answer = get(http, fake_work, GETTOKEN, **query)
        assert answer["errcode"] == errcode and "access_token" not in answer
    assert fake_work.gettoken_calls == 5
    assert len(fake_work.tokens) == 1


def test_expires_in_is_settable(fake_work: FakeWorkServer, http: urllib3.PoolManager) -> None:
    fake_work.expires_in = 300
    assert (
        get(http, fake_work, GETTOKEN, corpid=CORP_ID, corpsecret=FAKE_CORP_SECRET)["expires_in"]
        == 300
    )


def test_token_is_required_valid_and_expirable(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    assert get(http, fake_work, GETCALLBACKIP)["errcode"] == 41001
    assert get(http, fake_work, GETCALLBACKIP, access_token="bogus")["errcode"] == 40014
    token = token_of(http, fake_work)
    answer = get(http, fake_work, GETCALLBACKIP, access_token=token)
    assert answer == {"errcode": 0, "errmsg": "ok", "ip_list": list(fake_work.callback_ips)}
    fake_work.expire_tokens()
    assert get(http, fake_work, GETCALLBACKIP, access_token=token)["errcode"] == 42001
    fresh = token_of(http, fake_work)
    assert fresh != token
    assert get(http, fake_work, GETCALLBACKIP, access_token=fresh)["errcode"] == 0


def test_message_send_validates_and_records(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    token = token_of(http, fake_work)
    good = {"touser": "a|b", "msgtype": "text", "agentid": 1000002, "text": {"content": "你好 <&>"}}
    cases: list[tuple[Any, int]] = [
        ({**good, "agentid": "1"}, 40056),
        ({k: v for k, v in good.items() if k != "agentid"}, 41011),
        ({**good, "msgtype": "nope"}, 40008),
        ({k: v for k, v in good.items() if k != "touser"}, 40035),
        ({**good, "text": "x"}, 40035),
        ({**good, "text": {"content": ""}}, 44004),
        ([good], 47001),
    ]
    for payload, errcode in cases:
        answer = post(
            http,
            fake_work,
            MESSAGE_SEND,
            json.dumps(payload).encode(),
            "application/json",
            access_token=token,
        )
        assert answer["errcode"] == errcode, payload
    assert (
        post(http, fake_work, MESSAGE_SEND, b"{not json", "application/json", access_token=token)[
            "errcode"
        ]
        == 47001
    )
    assert fake_work.messages == []
    answer = post(
        http,
        fake_work,
        MESSAGE_SEND,
        json.dumps(good, ensure_ascii=False).encode(),
        "application/json",
        access_token=token,
    )
    assert answer["errcode"] == 0 and answer["msgid"] and answer["invaliduser"] == ""
    assert fake_work.messages == [good]


def test_media_upload_parses_multipart(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    token = token_of(http, fake_work)
    content = bytes(range(256)) * 40 + b"\r\n--tail"
    body, content_type = urllib3.encode_multipart_formdata(
        {"media": ("report 1.pdf", content, "application/pdf")}
    )
    answer = post(
        http, fake_work, MEDIA_UPLOAD, body, content_type, access_token=token, type="file"
    )
    assert answer["errcode"] == 0 and answer["type"] == "file"
    assert answer["media_id"].startswith("fake-media-") and answer["created_at"].isdigit()
    (upload,) = fake_work.uploads
    assert (upload.media_type, upload.media_id, upload.filename, upload.content_type) == (
        "file",
        answer["media_id"],
        "report 1.pdf",
        "application/pdf",
    )
    assert upload.content == content


@pytest.mark.parametrize(
    ("media_type", "fields", "errcode"),
    [
        ("sticker", {"media": ("a.bin", b"123456")}, 40004),
        ("image", {"other": ("a.bin", b"123456")}, 40035),
        ("image", {"media": "123456"}, 40035),
        ("image", {"media": ("a.png", b"12345")}, 40006),
        ("voice", {"media": ("a.amr", b"x" * (2 * 1024 * 1024 + 1))}, 40006),
    ],
)
def test_media_upload_refusals(
    fake_work: FakeWorkServer, http: urllib3.PoolManager, media_type: str, fields: Any, errcode: int
) -> None:
    token = token_of(http, fake_work)
    body, content_type = urllib3.encode_multipart_formdata(fields)
    answer = post(
        http, fake_work, MEDIA_UPLOAD, body, content_type, access_token=token, type=media_type
    )
    assert answer["errcode"] == errcode
    assert fake_work.uploads == []


def test_media_upload_needs_multipart(fake_work: FakeWorkServer, http: urllib3.PoolManager) -> None:
    token = token_of(http, fake_work)
    answer = post(
        http,
        fake_work,
        MEDIA_UPLOAD,
        b"raw",
        "application/octet-stream",
        access_token=token,
        type="file",
    )
    assert answer["errcode"] == 47001


def test_injected_errcodes_count_down_per_path(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    token = token_of(http, fake_work)
    fake_work.fail(-1, times=2, path=GETCALLBACKIP)
    fake_work.fail(45009)
    first = get(http, fake_work, GETCALLBACKIP, access_token=token)
    assert first == {"errcode": -1, "errmsg": "system busy"}
    assert get(http, fake_work, GETTOKEN)["errcode"] == 45009  # the any-path injection
    assert get(http, fake_work, GETCALLBACKIP, access_token=token)["errcode"] == -1
    assert get(http, fake_work, GETCALLBACKIP, access_token=token)["errcode"] == 0
    fake_work.fail(40014, errmsg="custom")
    assert get(http, fake_work, GETCALLBACKIP) == {"errcode": 40014, "errmsg": "custom"}
    with pytest.raises(ValueError):
        fake_work.fail(1, times=0)


def test_http_errors_and_delays(fake_work: FakeWorkServer, http: urllib3.PoolManager) -> None:
    fake_work.http_error(502, times=2, path=GETTOKEN)
    for _ in range(2):
        assert http.request("GET", fake_work.base_url + GETTOKEN, timeout=5).status == 502
    assert http.request("GET", fake_work.base_url + GETTOKEN, timeout=5).status == 200
    fake_work.delay(3.0, path=GETCALLBACKIP)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        http.request(
            "GET", fake_work.base_url + GETCALLBACKIP, timeout=urllib3.Timeout(connect=5, read=0.2)
        )
    assert http.request("GET", fake_work.base_url + GETTOKEN, timeout=5).status == 200
    fake_work.delay(0, path=GETCALLBACKIP)
    assert http.request("GET", fake_work.base_url + GETCALLBACKIP, timeout=5).status == 200


def test_counters_requests_connections_and_reset(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    token = token_of(http, fake_work)
    for _ in range(3):
        get(http, fake_work, GETCALLBACKIP, access_token=token)
    assert fake_work.calls == {GETTOKEN: 1, GETCALLBACKIP: 3}
    assert fake_work.requests[-1] == RecordedRequest("GET", GETCALLBACKIP, {"access_token": token})
    assert fake_work.connections == 1  # keep-alive: one connection for four calls
    fake_work.fail(-1)
    fake_work.reset()
    assert (fake_work.calls, fake_work.requests, fake_work.tokens) == ({}, [], [])
    assert get(http, fake_work, GETCALLBACKIP, access_token=token)["errcode"] == 40014


def test_post_without_length_and_repr(fake_work: FakeWorkServer) -> None:
    with socket.create_connection(("127.0.0.1", fake_work.port), timeout=5) as sock:
        sock.sendall(b"POST /cgi-bin/message/send HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 411")
    assert repr(fake_work) == f"FakeWorkServer({fake_work.base_url}, corp_id={CORP_ID!r})"
    assert FAKE_CORP_SECRET not in repr(fake_work)


def test_route_stubs_any_path_with_the_knobs(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    seen: list[RecordedRequest] = []

    def user_get(request: RecordedRequest) -> dict[str, Any]:
        seen.append(request)
        return {"userid": request.query["userid"], "name": "张三"}

    fake_work.route("GET", "/cgi-bin/user/get", user_get)
    fake_work.route("POST", "/cgi-bin/menu/create", lambda request: {"got": request.json()})
    token = token_of(http, fake_work)
    assert get(http, fake_work, "/cgi-bin/user/get", access_token=token, userid="zs") == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "zs",
        "name": "张三",
    }
    assert seen[0].query == {"access_token": token, "userid": "zs"} and seen[0].body == b""
    menu = {"button": [{"type": "click", "name": "今日", "key": "V1"}]}
    answer = post(
        http,
        fake_work,
        "/cgi-bin/menu/create",
        json.dumps(menu).encode(),
        "application/json",
        access_token=token,
    )
    assert answer == {"errcode": 0, "errmsg": "ok", "got": menu}
    assert fake_work.requests[-1].json() == menu
    assert fake_work.calls["/cgi-bin/user/get"] == 1
    # the token is checked first, and the knobs apply as to any path
    assert get(http, fake_work, "/cgi-bin/user/get", userid="zs")["errcode"] == 41001
    fake_work.fail(60111, path="/cgi-bin/user/get", errmsg="userid not found")
    assert get(http, fake_work, "/cgi-bin/user/get", access_token=token, userid="x") == {
        "errcode": 60111,
        "errmsg": "userid not found",
    }
    fake_work.expire_tokens()
    assert (
        get(http, fake_work, "/cgi-bin/user/get", access_token=token, userid="zs")["errcode"]
        == 42001
    )
    fake_work.http_error(503, path="/cgi-bin/user/get")
    assert http.request("GET", fake_work.base_url + "/cgi-bin/user/get", timeout=5).status == 503
    assert len(seen) == 1  # refused before the handler each time
    fake_work.route("GET", "/cgi-bin/user/get", None)  # the built-in answer again
    assert get(http, fake_work, "/cgi-bin/user/get", userid="zs")["errcode"] == 41001
    assert http.request("GET", fake_work.base_url + "/cgi-bin/nope", timeout=5).status == 404


def test_route_answers_status_and_raw_bodies_and_overrides(
    fake_work: FakeWorkServer, http: urllib3.PoolManager
) -> None:
    fake_work.route("GET", "/raw", lambda request: (502, "bad gateway"))
    fake_work.route("GET", "/teapot", lambda request: (418, {"errcode": 1}))
    fake_work.route("GET", "/broken", lambda request: 1 / 0)
    fake_work.route("GET", GETCALLBACKIP, lambda request: {"ip_list": ["10.0.0.0/8"]})
    token = token_of(http, fake_work)
    raw = http.request("GET", fake_work.base_url + "/raw?access_token=" + token, timeout=5)
    assert (raw.status, raw.data, raw.headers["Content-Type"]) == (
        502,
        b"bad gateway",
        "text/plain",
    )
    teapot = http.request("GET", fake_work.base_url + "/teapot?access_token=" + token, timeout=5)
    assert (teapot.status, json.loads(teapot.data)) == (418, {"errcode": 1})
    broken = http.request("GET", fake_work.base_url + "/broken?access_token=" + token, timeout=5)
    assert broken.status == 500
    assert get(http, fake_work, GETCALLBACKIP, access_token=token)["ip_list"] == ["10.0.0.0/8"]
    fake_work.reset()  # routes go with the rest
    assert get(http, fake_work, GETCALLBACKIP, access_token="x")["errcode"] == 40014


def test_a_chosen_port_and_a_bad_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FakeWorkServer(port=port) as fake:
        assert (fake.port, fake.base_url) == (port, f"http://127.0.0.1:{port}")
    for bad in (-1, 65536, True, "80"):
        with pytest.raises(ValueError, match="port"):
            FakeWorkServer(port=bad)  # type: ignore[arg-type]
