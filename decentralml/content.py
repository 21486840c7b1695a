"""The content store: one small interface to a Kubo (IPFS) daemon's RPC API, used by everyone.

`put` adds and pins bytes and returns their CID with their sha256; `get` fetches by CID and
refuses bytes whose sha256 is not the one expected (from the chain), so nothing unverified is
ever used. Kubo's RPC is plain HTTP POST on 127.0.0.1:5001 by default (`DML_IPFS_API`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import httpx

DEFAULT_API = "http://127.0.0.1:5001"


class ContentError(Exception):
    """The content store failed, or returned bytes that are not what was asked for."""


class ContentUnreachableError(ContentError):
    """The content store did not answer: an outage, worth trying again later."""


class ContentRefusedError(ContentError):
    """The content store answered, but not with the content: a bad or unknown CID, for example."""


class HashMismatchError(ContentError):
    """Bytes fetched by CID do not have the expected sha256."""

    def __init__(self, cid: str, expected: str, actual: str) -> None:
        super().__init__(f"{cid}: expected sha256 {expected}, the bytes have {actual}")
        self.cid, self.expected, self.actual = cid, expected, actual


def sha256_hex(data: bytes) -> str:
    """0x and the 64 hex digits of sha256(data): the form hashes take on chain."""
    return "0x" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Stored:
    cid: str
    sha256: str
    size: int


class ContentStore:
    """add, get and pin against one Kubo daemon."""

    def __init__(self, api: str | None = None, timeout: float = 60.0) -> None:
        self.api = (api or os.environ.get("DML_IPFS_API") or DEFAULT_API).rstrip("/")
        self._http = httpx.Client(base_url=f"{self.api}/api/v0", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._http.post(path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as unreachable:
            raise ContentUnreachableError(
                f"IPFS at {self.api} is unreachable: {unreachable}"
            ) from unreachable
        if response.status_code != 200:
            raise ContentRefusedError(f"IPFS {path} failed ({response.status_code}): {response.text[:300]}")
        return response

    def put(self, data: bytes) -> Stored:
        """Add and pin `data` (CIDv1, raw leaves); its CID and sha256."""
        response = self._post(
            "/add",
            params={"pin": "true", "cid-version": "1", "quieter": "true"},
            files={"file": ("blob", data)},
        )
        cid = str(response.json()["Hash"])
        return Stored(cid=cid, sha256=sha256_hex(data), size=len(data))

    def get(self, cid: str, expected_sha256: str, max_bytes: int | None = None) -> bytes:
        """The bytes under `cid`, only if their sha256 is `expected_sha256` (and, with `max_bytes`,
        only if there are no more than that: a larger file is not read past it)."""
        params: dict[str, str | int] = {"arg": cid}
        if max_bytes is not None:
            params["length"] = max_bytes + 1
        data = self._post("/cat", params=params).content
        if max_bytes is not None and len(data) > max_bytes:
            raise ContentRefusedError(f"{cid} holds more than {max_bytes} bytes")
        actual = sha256_hex(data)
        if actual != expected_sha256.lower():
            raise HashMismatchError(cid, expected_sha256, actual)
        return data

    def fetch(self, cid: str) -> bytes:
        """The bytes under `cid`, unchecked: only for sealed content, whose integrity the CID and its
        authenticated encryption give, and whose plaintext the caller checks against the chain."""
        return self._post("/cat", params={"arg": cid}).content

    def pin(self, cid: str) -> None:
        self._post("/pin/add", params={"arg": cid})

    def pinned(self, cid: str) -> bool:
        try:
            self._post("/pin/ls", params={"arg": cid, "type": "recursive"})
        except ContentError:
            return False
        return True

    def version(self) -> str:
        return str(self._post("/version").json()["Version"])
