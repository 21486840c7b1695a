"""`dml result`: validators' verdicts, and the creator's accept or reject."""

from __future__ import annotations

import argparse

from coordinator.cli.common import CliError, Subparsers, events_line, post, show
from decentralml_bindings import calls
from decentralml_bindings.types import FAILED_VALIDATION, HASH_MISMATCH, MALFORMED, OUTLIER, RejectionReason

# `Other` needs a numeric code as well, which no option here gives.
REASONS = {r.kind: r for r in (FAILED_VALIDATION, HASH_MISMATCH, OUTLIER, MALFORMED)}


def cmd_result_validate(args: argparse.Namespace) -> None:
    if args.approve and args.reason:
        raise CliError("--reason goes with --disapprove: an approving verdict has no reason")
    reason = REASONS[args.reason] if args.reason else None
    body = {"approved": args.approve, "score": args.score, "reason": args.reason}
    call = calls.validate_task_result(args.result_id, args.approve, args.score, reason)
    submitted = post(args, f"/results/{args.result_id}/validate", body, call)
    show(args, submitted, events_line(submitted))


def cmd_result_accept(args: argparse.Namespace) -> None:
    submitted = post(args, f"/results/{args.result_id}/accept", {}, calls.accept_task_result(args.result_id))
    show(args, submitted, events_line(submitted))


def cmd_result_reject(args: argparse.Namespace) -> None:
    reason: RejectionReason = REASONS[args.reason]
    call = calls.reject_task_result(args.result_id, reason)
    submitted = post(args, f"/results/{args.result_id}/reject", {"reason": reason.kind}, call)
    show(args, submitted, events_line(submitted))


def register(groups: Subparsers) -> None:
    result = groups.add_parser("result", help="validate, accept, reject results").add_subparsers(
        dest="cmd", required=True
    )
    validate = result.add_parser("validate", help="record a verdict")
    validate.add_argument("result_id", type=int)
    verdict = validate.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true")
    verdict.add_argument("--disapprove", dest="approve", action="store_false")
    validate.add_argument(
        "--score", type=int, default=0, help="parts per million: an accepted result is paid this share"
    )
    validate.add_argument(
        "--reason", choices=list(REASONS), help="with --disapprove: why (default FailedValidation)"
    )
    validate.set_defaults(run=cmd_result_validate)
    accept = result.add_parser("accept", help="accept a result and pay its worker")
    accept.add_argument("result_id", type=int)
    accept.set_defaults(run=cmd_result_accept)
    reject = result.add_parser("reject", help="reject a result")
    reject.add_argument("result_id", type=int)
    reject.add_argument("--reason", default=FAILED_VALIDATION.kind, choices=list(REASONS))
    reject.set_defaults(run=cmd_result_reject)
