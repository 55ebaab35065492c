"""The reply types a message handler returns (they live in ``wxcorp_fast.callback.replies``)."""

from __future__ import annotations

from .callback.replies import Article, ImageReply, NewsReply, TextReply, VideoReply, VoiceReply

__all__ = ["TextReply", "ImageReply", "VoiceReply", "VideoReply", "NewsReply", "Article"]
