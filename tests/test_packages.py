"""Each package's `__all__` says exactly what it exports: no stale name, no public name left out."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import llmaas

PACKAGES = sorted(
    info.name for info in pkgutil.walk_packages(llmaas.__path__, "llmaas.") if info.ispkg
)


def _exported(package: ModuleType) -> set[str]:
    """Public names the package's own `__init__` binds; submodules only where it imports them by name."""
    return {
        name for name, value in vars(package).items()
        if not name.startswith("_") and name != "annotations"
        and not (isinstance(value, ModuleType) and name not in getattr(package, "__all__", ()))
    }


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_what_the_package_exports(name: str) -> None:
    package = importlib.import_module(name)
    listed: list[str] = list(getattr(package, "__all__", []))
    assert len(listed) == len(set(listed)), f"{name}.__all__ repeats a name"
    missing = [entry for entry in listed if not hasattr(package, entry)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    unlisted = sorted(_exported(package) - set(listed))
    assert not unlisted, f"{name} exports names its __all__ does not list: {unlisted}"


def test_every_package_is_checked() -> None:
    assert {"llmaas.api", "llmaas.gateway", "llmaas.metering", "llmaas.wire"} <= set(PACKAGES)
