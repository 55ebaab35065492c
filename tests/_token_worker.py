"""Subprocess side of the Redis token-server tests (run as a script, spawned fresh).

python _token_worker.py race REDIS_URL BASE_URL CORP_ID SECRET THREADS
    print "ready", wait for "go" on stdin, then THREADS threads call token() at once;
    print the tokens they got as a JSON list.
python _token_worker.py hold REDIS_URL BASE_URL CORP_ID SECRET LOCK_TTL
    print "fetching" and call token() (the test delays gettoken and kills us meanwhile).
"""

from __future__ import annotations

import json
import sys
import threading

import redis

from wxcorp_fast import RedisAccessTokenServer


def main(mode: str, redis_url: str, base_url: str, corp_id: str, secret: str, arg: str) -> None:
    client = redis.Redis.from_url(redis_url)
    if mode == "race":
        server = RedisAccessTokenServer(corp_id, secret, client, base_url=base_url)
        count = int(arg)
        barrier = threading.Barrier(count + 1, timeout=30)
        tokens: list[str] = []

        def work() -> None:
            barrier.wait()
            tokens.append(server.token())

        threads = [threading.Thread(target=work) for _ in range(count)]
        for thread in threads:
            thread.start()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("expected go")
        barrier.wait()
        for thread in threads:
            thread.join(30)
        print(json.dumps(tokens), flush=True)
    elif mode == "hold":
        server = RedisAccessTokenServer(
            corp_id, secret, client, base_url=base_url, lock_ttl=float(arg), timeout=60
        )
        print("fetching", flush=True)
        server.token()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(*sys.argv[1:7])
