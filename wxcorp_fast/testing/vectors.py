"""Known-answer vectors: the example of WeChat Work's callback-encryption doc page.

The same values appear in Tencent's official WXBizMsgCrypt samples (token ``QDG6eK``).
"""

from __future__ import annotations

from typing import Final

TOKEN: Final = "QDG6eK"
ENCODING_AES_KEY: Final = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID: Final = "wx5823bf96d3bd56c7"
AGENT_ID: Final = 218

# GET /cgi-bin/wxpush?msg_signature=...&timestamp=...&nonce=...&echostr=... (URL-decoded)
ECHO_MSG_SIGNATURE: Final = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
ECHO_TIMESTAMP: Final = "1409659589"
ECHO_NONCE: Final = "263014780"
ECHOSTR: Final = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)

# POST /cgi-bin/wxpush?msg_signature=...&timestamp=...&nonce=...
POST_MSG_SIGNATURE: Final = "477715d11cdb4164915debcba66cb864d751f3e6"
POST_TIMESTAMP: Final = "1409659813"
POST_NONCE: Final = "1372623149"
POST_ENCRYPT: Final = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
    "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
    "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
    "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
    "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
POST_BODY: Final = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
).encode()
