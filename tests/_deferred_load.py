"""200 slow handlers at once against ``max_deferred=50``, WSGI and ASGI, in one process.

Run by ``test_deferred_servers.py`` in a subprocess; prints one JSON line. Each round builds
a frontend (``reply_deadline=0.2``, ``max_deferred=50``; a ``CorpClient`` under WSGI, an
``AsyncCorpClient`` under ASGI, both to a ``FakeWorkServer``), sends 200 messages at once
(WSGI: 200 threads calling the app; ASGI: 200 concurrent calls of ``.asgi``) whose handlers
hold on a gate until every request has its answer, opens the gate, and drains (``close`` /
``aclose``). It counts the empty answers, the handlers run, the refusals and deliveries
logged, and the messages the fake API got; the resident set size is read after two warm-up
rounds and after the measured rounds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import threading
from typing import Any

from wxcorp_fast import (
    AgentServerFrontend,
    CorpClient,
    DefaultAccessTokenServer,
    DefaultAgentServer,
    Request,
)
from wxcorp_fast.api import AsyncCorpClient, AsyncDefaultAccessTokenServer
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator, FakeWorkServer
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.fake_work import FAKE_CORP_SECRET

from _http import ASGICall, body_messages, call_wsgi, environ, http_scope

CONCURRENT = 200
MAX_DEFERRED = 50
DEADLINE = 0.2
WARMUP = 2
ROUNDS = 5
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class Tally(logging.Handler):
    """Count the refusals and deliveries the deferred replies log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.refused = 0
        self.delivered = 0
        self.unexpected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record (``Handler.handle`` holds the handler's lock around this)."""
        text = record.getMessage()
        if record.levelno == logging.WARNING and "(max_deferred); answered empty" in text:
            self.refused += 1
        elif "reply delivered" in text:
            self.delivered += 1
        elif record.levelno >= logging.WARNING:
            self.unexpected.append(text)  # reported, not raised: the caller would get it


def agent(handler: Any) -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, handler)


def messages(first_id: int) -> list[tuple[dict[str, str], bytes]]:
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
    return [wechat.message("text", content=f"m{i}", msg_id=first_id + i) for i in range(CONCURRENT)]


def wsgi_round(client: CorpClient, first_id: int) -> tuple[int, int]:
    gate = threading.Event()
    runs: list[int] = []

    def slow(request: Request) -> TextReply:
        runs.append(1)
        assert gate.wait(60)
        return TextReply(request.msg.content)

    app = AgentServerFrontend(
        agent(slow), reply_deadline=DEADLINE, client=client, max_deferred=MAX_DEFERRED
    )
    answers: list[Any] = []

    def post(query: dict[str, str], body: bytes) -> None:
        status, _, out = call_wsgi(app, environ("POST", query, body), validate=False)
        answers.append((status, out))

    threads = [threading.Thread(target=post, args=m) for m in messages(first_id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    gate.set()
    app.close(60)
    return sum(a == (200, b"") for a in answers), len(runs)


def asgi_round(client: CorpClient, first_id: int) -> tuple[int, int]:
    tokens = client.access_token_server

    async def scenario() -> tuple[int, int]:
        gate = asyncio.Event()
        runs: list[int] = []

        async def slow(request: Request) -> TextReply:
            runs.append(1)
            await gate.wait()
            return TextReply(request.msg.content)

        async_client = AsyncCorpClient(
            AsyncDefaultAccessTokenServer(
                tokens.corp_id, FAKE_CORP_SECRET, base_url=client.base_url
            ),
            base_url=client.base_url,
        )
        frontend = AgentServerFrontend(
            agent(slow),
            reply_deadline=DEADLINE,
            client=async_client,
            max_deferred=MAX_DEFERRED,
        )

        async def post(query: dict[str, str], body: bytes) -> tuple[int, bytes]:
            call = ASGICall(body_messages(body))
            await frontend.asgi(http_scope("POST", query), call.receive, call.send)
            return call.status, call.body

        answers = await asyncio.gather(*(post(q, b) for q, b in messages(first_id)))
        gate.set()
        await frontend.aclose(60)
        await async_client.aclose()
        await async_client.access_token_server.aclose()
        return sum(a == (200, b"") for a in answers), len(runs)

    return asyncio.run(scenario())


def main() -> None:
    tally = Tally()
    log = logging.getLogger("wxcorp_fast")
    log.addHandler(tally)
    log.setLevel(logging.INFO)
    log.propagate = False
    report: dict[str, Any] = {"rounds": ROUNDS}
    with FakeWorkServer() as fake:
        tokens = DefaultAccessTokenServer(fake.corp_id, fake.corp_secret, base_url=fake.base_url)
        client = CorpClient(tokens, base_url=fake.base_url)
        next_id = 1
        for mode, play in (("wsgi", wsgi_round), ("asgi", asgi_round)):
            rounds = []
            for n in range(WARMUP + ROUNDS):
                if n == WARMUP:
                    gc.collect()
                    report.setdefault(mode, {})["rss_before"] = rss()
                tally.refused = tally.delivered = 0
                tally.unexpected.clear()
                fake.messages.clear()
                fake.requests.clear()
                empty, runs = play(client, next_id)
                next_id += CONCURRENT
                rounds.append(
                    {
                        "answered_empty": empty,
                        "handlers_run": runs,
                        "refused_logged": tally.refused,
                        "delivered": tally.delivered,
                        "unexpected_logs": tally.unexpected[:],
                        "sent": len(fake.messages),
                    }
                )
            gc.collect()
            report[mode]["rss_after"] = rss()
            report[mode]["rounds"] = rounds[WARMUP:]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
