"""Media calls beyond media/upload: the streamed download and image upload (see ``_calls``).

``download_media`` sets the call's ``stream_to``: each transport writes a file answer to it
in 64 KiB chunks and hands JSON answers (errcodes) to the retry rules as for any call, so a
refused token is refreshed and the download retried, and the file is only written by the
send that gets the file.
"""

from __future__ import annotations

import os
from typing import IO, Any, Final

from ..errors import TransportError
from ._calls import Call, MultipartFormField, check_text, form_call
from .results import Media

__all__ = ["download_media", "upload_image"]

MEDIA_GET: Final = "/cgi-bin/media/get"
MEDIA_UPLOADIMG: Final = "/cgi-bin/media/uploadimg"
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png")


def _media(data: dict[str, Any]) -> Media:
    return Media(int(data["size"]), str(data["filename"]), str(data["content_type"]))


def download_media(media_id: str, file: IO[bytes]) -> Call[Media]:
    """media/get (GET ``/cgi-bin/media/get?media_id=``): a temporary media file (3 days),
    streamed into the binary ``file``."""
    check_text("media_id", media_id)
    if not hasattr(file, "write"):
        raise ValueError("file must be a binary file open for writing")
    return Call("GET", MEDIA_GET, _media, {"media_id": media_id}, media=True, stream_to=file)


def _url(data: dict[str, Any]) -> str:
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise TransportError("media/uploadimg answered no url")
    return url


def upload_image(file: IO[bytes] | bytes, filename: str | None = None) -> Call[str]:
    """media/uploadimg (POST ``/cgi-bin/media/uploadimg``): a JPG or PNG image kept for
    good (for news messages); its URL. The filename defaults to the file's own name."""
    name = filename or os.path.basename(str(getattr(file, "name", "") or "")) or "image.png"
    if not name.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError("filename must end with .jpg, .jpeg or .png (WeChat takes those only)")
    if not isinstance(file, (bytes, bytearray)) and not hasattr(file, "read"):
        raise ValueError("file must be bytes or a binary file")
    field = MultipartFormField("media", file, filename=name)
    return form_call(MEDIA_UPLOADIMG, [field], None, _url)
