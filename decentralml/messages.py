"""One-line messages for people at a command line (the CLI's "one line that says what to do")."""

from __future__ import annotations

from pydantic import ValidationError


def invalid_fields(invalid: ValidationError, env_prefix: str | None = None) -> str:
    """Every problem pydantic found, on one line; with `env_prefix`, where to set each field."""
    problems = []
    for error in invalid.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        loc = error["loc"]
        if not loc:  # a check across fields: no single variable to name
            hint = f" (check the {env_prefix}* variables)" if env_prefix else ""
            problems.append(f"{invalid.title}: {message}{hint}")
            continue
        hint = f" (set {env_prefix}{str(loc[0]).upper()} or the matching option)" if env_prefix else ""
        problems.append(f"{'.'.join(str(part) for part in loc)}: {message}{hint}")
    return "; ".join(problems)
