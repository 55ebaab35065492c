"""Subprocess side of the upload-memory tests: upload a file, report the peak-RSS increase.

python _upload_rss.py BASE_URL CORP_ID SECRET PATH [sync|async]
    prints {"media_id": ..., "rss_increase": bytes, "size": bytes} as JSON;
    ``async`` uploads with AsyncCorpClient (aiohttp) instead of CorpClient.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from wxcorp_fast import CorpClient, DefaultAccessTokenServer
from wxcorp_fast.api import AsyncCorpClient, AsyncDefaultAccessTokenServer

WARM_UP = b"warm-up: every code path imported and used once"


def peak_rss() -> int:
    """The process's peak RSS so far, in bytes: Linux's VmHWM.

    Not ``getrusage``'s ``ru_maxrss``: it survives ``exec`` and so starts at the size of
    the (large) pytest process this one was forked from.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def upload_sync(base_url: str, corp_id: str, secret: str, path: str) -> tuple[str, int]:
    server = DefaultAccessTokenServer(corp_id, secret, base_url=base_url)
    client = CorpClient(server, base_url=base_url)
    client.upload_media("file", WARM_UP)
    before = peak_rss()
    with open(path, "rb") as file:
        media_id = client.upload_media("file", file)
    return media_id, peak_rss() - before


async def upload_async(base_url: str, corp_id: str, secret: str, path: str) -> tuple[str, int]:
    async with (
        AsyncDefaultAccessTokenServer(corp_id, secret, base_url=base_url) as server,
        AsyncCorpClient(server, base_url=base_url) as client,
    ):
        await client.upload_media("file", WARM_UP)  # the executor's thread starts here
        before = peak_rss()
        with open(path, "rb") as file:
            media_id = await client.upload_media("file", file)
        return media_id, peak_rss() - before


def main(base_url: str, corp_id: str, secret: str, path: str, mode: str = "sync") -> None:
    if mode == "async":
        media_id, increase = asyncio.run(upload_async(base_url, corp_id, secret, path))
    else:
        media_id, increase = upload_sync(base_url, corp_id, secret, path)
    print(
        json.dumps({"media_id": media_id, "rss_increase": increase, "size": os.path.getsize(path)})
    )


if __name__ == "__main__":
    main(*sys.argv[1:6])
