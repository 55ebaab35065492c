"""Late replies through a response_url: ``response_request``, ``CorpClient.respond`` against
``FakeWorkServer`` (which issues and serves response URLs), redaction of the response_code."""

from __future__ import annotations

import json
import logging

import pytest

from wxcorp_fast import APIError, CorpClient, DefaultAccessTokenServer
from wxcorp_fast.aibot import MarkdownReply, StreamReply, TemplateCardReply, response_request
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import AIBotSimulator, FakeWorkServer
from wxcorp_fast.testing import vectors as v

CARD = {
    "card_type": "text_notice",
    "main_title": {"title": "报告"},
    "card_action": {"type": 1, "url": "https://work.weixin.qq.com"},
}


def client_for(fake: FakeWorkServer) -> CorpClient:
    tokens = DefaultAccessTokenServer(fake.corp_id, fake.corp_secret, base_url=fake.base_url)
    return CorpClient(tokens, base_url=fake.base_url)


def test_response_request():
    url = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=X"
    assert response_request(url, "**hi**") == (
        url,
        b'{"msgtype":"markdown","markdown":{"content":"**hi**"}}',
    )
    _, body = response_request(url, MarkdownReply("x", feedback_id="f"))
    assert json.loads(body) == {
        "msgtype": "markdown",
        "markdown": {"content": "x", "feedback": {"id": "f"}},
    }
    _, body = response_request(url, TemplateCardReply(CARD))
    assert json.loads(body) == {"msgtype": "template_card", "template_card": CARD}
    for bad_url in ("ftp://x/y", "/relative", "https://", "https://h/x y"):
        with pytest.raises(ValueError):
            response_request(bad_url, "x")
    with pytest.raises(TypeError):
        response_request(url, StreamReply("x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        response_request(url, "")


def test_respond_through_the_fake(fake_work, caplog):
    client = client_for(fake_work)
    sim = AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY, response_urls=fake_work.response_url)
    from wxcorp_fast.aibot import parse_aibot_message

    msg = parse_aibot_message(sim.message_json("text"))
    code = msg.response_url.split("response_code=")[1]
    caplog.set_level(logging.DEBUG)
    assert client.respond(msg.response_url, "**报告已生成**") == {"errcode": 0, "errmsg": "ok"}
    assert fake_work.responses == [
        {"msgtype": "markdown", "markdown": {"content": "**报告已生成**"}}
    ]
    with pytest.raises(APIError) as info:
        client.respond(msg.response_url, "again")  # each response_url is good for one push
    assert info.value.errcode == 40035
    card_url = parse_aibot_message(sim.event_json("template_card_event")).response_url
    client.respond(card_url, TemplateCardReply(CARD))
    assert fake_work.responses[-1]["template_card"] == CARD
    assert fake_work.gettoken_calls == 0  # no access_token: the URL is its own credential
    assert all("access_token" not in r.query for r in fake_work.requests)
    assert code not in caplog.text and "response_code=***" in caplog.text


def test_fake_checks_what_is_pushed(fake_work):
    import urllib3

    http = urllib3.PoolManager()

    def push(body: bytes, url: str | None = None) -> dict:
        response = http.request("POST", url or fake_work.response_url(), body=body)
        return json.loads(response.data)

    assert push(b"not json")["errcode"] == 47001
    assert push(b'{"msgtype":"text","text":{"content":"x"}}')["errcode"] == 40008
    assert push(b'{"msgtype":"markdown","markdown":{"content":""}}')["errcode"] == 44004
    big = json.dumps({"msgtype": "markdown", "markdown": {"content": "x" * 20481}}).encode()
    assert push(big)["errcode"] == 40035
    unknown = f"{fake_work.base_url}/cgi-bin/aibot/response?response_code=nope"
    assert push(b'{"msgtype":"markdown","markdown":{"content":"x"}}', unknown)["errcode"] == 40035
    assert fake_work.responses == []
    fake_work.reset()
    assert fake_work.calls == {}


def test_transport_errors_name_no_code():
    with FakeWorkServer() as fake:
        client = client_for(fake)
        url = fake.response_url().replace("/cgi-bin/aibot/response", "/nowhere")
        with pytest.raises(TransportError) as info:
            client.respond(url, "x")
    assert "response_code" not in str(info.value) and "404" in str(info.value)
