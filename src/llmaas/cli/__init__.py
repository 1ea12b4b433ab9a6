"""The `llmaas` command: run the platform and manage it (`llmaas --help`)."""

from llmaas.cli.main import app

__all__ = ["app"]
