"""Subprocess side of the download-memory test: download a media file, report the peak-RSS
increase.

python _download_rss.py BASE_URL CORP_ID SECRET MEDIA_ID PATH [sync|async]
    prints {"size": bytes written, "rss_increase": bytes} as JSON.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys

from wxcorp_fast import CorpClient, DefaultAccessTokenServer
from wxcorp_fast.api import AsyncCorpClient, AsyncDefaultAccessTokenServer

from _upload_rss import peak_rss


def download_sync(
    base_url: str, corp_id: str, secret: str, media_id: str, path: str
) -> tuple[int, int]:
    client = CorpClient(
        DefaultAccessTokenServer(corp_id, secret, base_url=base_url), base_url=base_url
    )
    client.upload_media("file", b"warm-up file")  # every code path imported and used once
    warm = client.upload_media("file", b"warm-up file")
    client.download_media(warm, io.BytesIO())
    before = peak_rss()
    with open(path, "wb") as file:
        size = client.download_media(media_id, file).size
    return size, peak_rss() - before


async def download_async(
    base_url: str, corp_id: str, secret: str, media_id: str, path: str
) -> tuple[int, int]:
    async with (
        AsyncDefaultAccessTokenServer(corp_id, secret, base_url=base_url) as tokens,
        AsyncCorpClient(tokens, base_url=base_url) as client,
    ):
        warm = await client.upload_media("file", b"warm-up file")
        await client.download_media(warm, io.BytesIO())  # the executor's thread starts here
        before = peak_rss()
        with open(path, "wb") as file:
            size = (await client.download_media(media_id, file)).size
        return size, peak_rss() - before


def main(base_url: str, corp_id: str, secret: str, media_id: str, path: str, mode: str) -> None:
    if mode == "async":
        size, increase = asyncio.run(download_async(base_url, corp_id, secret, media_id, path))
    else:
        size, increase = download_sync(base_url, corp_id, secret, media_id, path)
    print(json.dumps({"size": size, "rss_increase": increase}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
