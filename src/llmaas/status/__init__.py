"""The public status page's figures: each model's health and speed per minute, and the report."""

from llmaas.status.board import StatusBoard
from llmaas.status.minutes import MinuteRecorder, prune
from llmaas.status.schema import StatusReport

__all__ = ["MinuteRecorder", "StatusBoard", "StatusReport", "prune"]
