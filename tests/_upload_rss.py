"""Subprocess side of the upload-memory test: upload a file, report the peak-RSS increase.

python _upload_rss.py BASE_URL CORP_ID SECRET PATH
    prints {"media_id": ..., "rss_increase": bytes, "size": bytes} as JSON.
"""

from __future__ import annotations

import json
import os
import sys

from wxcorp_fast import CorpClient, DefaultAccessTokenServer


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


def main(base_url: str, corp_id: str, secret: str, path: str) -> None:
    server = DefaultAccessTokenServer(corp_id, secret, base_url=base_url)
    client = CorpClient(server, base_url=base_url)
    client.upload_media("file", b"warm-up: every code path imported and used once")
    before = peak_rss()
    with open(path, "rb") as file:
        media_id = client.upload_media("file", file)
    increase = peak_rss() - before
    print(
        json.dumps({"media_id": media_id, "rss_increase": increase, "size": os.path.getsize(path)})
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
