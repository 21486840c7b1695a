"""Who may make the coordinator sign: operator API tokens bound to named keystore accounts.

Keystore signing is an operator feature. The operator issues a token per client
(`dml coordinator token --client NAME --account ADDR ...`), and configures only its sha256 with
the accounts it may use (`DML_API_TOKENS`); the token itself is shown once and never stored. A
keystore-signed write needs `Authorization: Bearer TOKEN` for a token bound to the signing account:
without one it is refused with 401, with a token not bound to that account with 403, and nothing
reaches the chain. Every use is logged: which client, which account, which call. Writes the caller
signed itself (`signed_extrinsic`) need no token. With no token configured nobody can make the
coordinator sign (deny by default).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coordinator.api.errors import ForbiddenError, NotAuthenticatedError
from coordinator.api.schemas import Address

log = logging.getLogger(__name__)
TOKEN_PREFIX = "dml_"


class ApiToken(BaseModel):
    """One client's token, as the operator configures it (only the token's hash is kept)."""

    model_config = ConfigDict(extra="forbid")

    client: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="logged")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the token, hex")
    accounts: list[Address] = Field(min_length=1, description="keystore accounts (SS58) it may sign with")

    @field_validator("accounts")
    @classmethod
    def each_once(cls, accounts: list[str]) -> list[str]:
        twice = sorted({a for a in accounts if accounts.count(a) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} is named more than once")
        return accounts


def new_token() -> tuple[str, str]:
    """(a new token to hand to a client, its sha256 for the settings)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self.tokens = {t.token_sha256: t for t in tokens}

    def _token(self, authorization: str | None) -> ApiToken | None:
        # RFC 9110: the scheme is case-insensitive ("bearer" is as good as "Bearer").
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None
        digest = hashlib.sha256(credentials.strip().encode()).hexdigest()
        for known, token in self.tokens.items():
            if hmac.compare_digest(known, digest):
                return token
        return None

    def client_name(self, authorization: str | None) -> str | None:
        """The client a valid token names (for rate limits and logs), or None."""
        token = self._token(authorization)
        return None if token is None else f"client:{token.client}"

    def authorize(self, authorization: str | None, account: str, call: str) -> str:
        """The client allowed to make the coordinator sign `call` as `account`; else 401 or 403."""
        token = self._token(authorization)
        if token is None:
            log.warning("keystore signing refused: no valid token", extra={"account": account, "call": call})
            raise NotAuthenticatedError(
                "NotAuthenticated",
                "keystore signing needs Authorization: Bearer TOKEN from the coordinator's operator; "
                "or sign the extrinsic yourself and send it as signed_extrinsic",
            )
        if account not in token.accounts:
            log.warning(
                "keystore signing refused: account not bound to the token",
                extra={"client": token.client, "account": account, "call": call},
            )
            raise ForbiddenError(
                "NotAuthorized",
                f"this token may not make the coordinator sign as {account}: it is bound to other "
                "keystore accounts",
            )
        log.info("keystore signing", extra={"client": token.client, "account": account, "call": call})
        return token.client
