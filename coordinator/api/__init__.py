"""The REST API: one endpoint per pallet call (relayed or keystore-signed) and reads from the mirror.

`create_app` is imported when first used, so importing a light module of this package
(`coordinator.api.auth` for the settings, say) does not load the whole app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordinator.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from coordinator.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
