"""The REST API: one endpoint per pallet call (relayed or keystore-signed) and reads from the mirror."""

from coordinator.api.app import create_app

__all__ = ["create_app"]
