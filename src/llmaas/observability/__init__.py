"""Metrics and logs that carry metadata only: never a prompt, an answer, audio or an image."""
