"""Both ways to authorise a write: relay what the caller signed (after checking it is the very
call the endpoint is for), or sign with an account the operator put in the keystore, for a caller
whose token is bound to that account (`auth`), within the account's rate limit.

Submissions never hold a lock while the chain includes them, and give up after the deadline
(`InclusionTimeout`, 504 with the pool's reason), so no one else's transaction can wedge the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from fastapi.responses import JSONResponse
from substrateinterface import Keypair

from coordinator.api.auth import Authenticator
from coordinator.api.errors import ForbiddenError, InvalidRequestError, TooManyRequestsError
from coordinator.api.limits import RateLimiter
from coordinator.api.schemas import Signing, Submitted
from coordinator.api.submissions import Submissions
from decentralml_bindings import Call, DecentralMl, Receipt
from decentralml_bindings.events import PalletEvent


class Signer:
    def __init__(
        self,
        chain: DecentralMl,
        keystore_uris: list[str],
        queue: Submissions,
        auth: Authenticator,
        accounts: RateLimiter,
        deadline: float = 60.0,
    ) -> None:
        self.chain = chain
        self.keys = {k.ss58_address: k for k in (Keypair.create_from_uri(uri) for uri in keystore_uris)}
        self.queue, self.auth, self.accounts, self.deadline = queue, auth, accounts, deadline

    def execute(self, call: Call, how: Signing, authorization: str | None = None) -> Submitted | JSONResponse:
        """Check the request, then submit and wait, or (with `wait: false`) queue it and answer 202."""
        write = (
            self._relay(call, how.signed_extrinsic)
            if how.signed_extrinsic
            else self._sign(call, how, authorization)
        )
        if how.wait:
            return submitted(write())
        queued = self.queue.enqueue(f"{call.module}.{call.function}", lambda: submitted(write()))
        return JSONResponse(
            status_code=202,
            content=queued.model_dump(mode="json"),
            headers={"Location": queued.status_url},
        )

    def key_for(self, account: str, authorization: str | None, what: str, instead: str) -> Keypair:
        """`account`'s keypair for a caller whose token is bound to it, within the account's rate
        limit; else 401, 403 (`instead` says what to do without this coordinator) or 429."""
        self.auth.authorize(authorization, account, what)
        keypair = self.keys.get(account)
        if keypair is None:
            raise ForbiddenError(
                "NotInKeystore", f"{account} is not in this coordinator's keystore: {instead}"
            )
        if (wait := self.accounts.take(account)) is not None:
            times = "once" if self.accounts.per_minute == 1 else f"{self.accounts.per_minute} times"
            raise TooManyRequestsError(
                f"{account}'s key is used at most {times} a minute here (signing and verifying alike)",
                wait,
            )
        return keypair

    def _sign(self, call: Call, how: Signing, authorization: str | None) -> Callable[[], Receipt]:
        keypair = self.key_for(
            how.signer or "",
            authorization,
            f"{call.module}.{call.function}",
            "sign the extrinsic yourself and send it as signed_extrinsic",
        )
        return lambda: self.chain.submit(call, keypair, deadline=self.deadline)

    def _relay(self, call: Call, signed_hex: str) -> Callable[[], Receipt]:
        try:
            call_hash, name, _ = self.chain.inspect_signed(signed_hex)
        except ValueError as malformed:
            raise InvalidRequestError("MalformedExtrinsic", str(malformed)) from malformed
        expected = f"{call.module}.{call.function}"
        if name != expected or call_hash != self.chain.call_hash(call):
            raise InvalidRequestError(
                "ExtrinsicMismatch",
                f"the signed extrinsic is {name}, not the {expected} this request describes "
                "(every argument must match)",
            )
        return lambda: self.chain.relay(signed_hex, deadline=self.deadline)


def submitted(receipt: Receipt) -> Submitted:
    return Submitted(
        extrinsic_hash=receipt.extrinsic_hash,
        block_hash=receipt.block_hash,
        block_number=receipt.block_number,
        fee=str(receipt.fee),
        events=[{"event": type(e).__name__, **_plain(e)} for e in receipt.events],
    )


def _plain(event: PalletEvent) -> dict[str, object]:
    """Event fields as JSON values; amounts past 2^53 become strings so no client loses precision."""
    values = asdict(event)
    return {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 2**53 else v
        for k, v in values.items()
    }
