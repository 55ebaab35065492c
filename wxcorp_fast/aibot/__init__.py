"""AI bots (智能机器人): JSON callbacks and streamed replies.

``AIBotCrypto`` and ``parse_aibot_message`` are the selected crypto core's own.
"""

from __future__ import annotations

from .._core import core
from ..messages import AIBotItem, AIBotMessage, SelectedItem

AIBotCrypto = core.AIBotCrypto
parse_aibot_message = core.parse_aibot_message

__all__ = ["AIBotCrypto", "parse_aibot_message", "AIBotMessage", "AIBotItem", "SelectedItem"]
