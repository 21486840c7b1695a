"""Dataset cards and model cards: what a model was trained on, under which licences.

A worker's catalogue entry may carry a **dataset card**, a DATASET.md in the style of Hugging
Face's and flatpack's: a front matter of `key: value` lines between `---` lines (`name`,
`license` (or `licence`), `source`, and optionally `size` and `description`), then free text that
describes the data. The card describes the data and never holds it; it is public: the worker pins
it in IPFS and declares its CID and sha256 on chain with its assignment (`declare_dataset`), once,
so the provenance of a model cannot be rewritten after training.

`parse` refuses a card that is not UTF-8, larger than `MAX_CARD_BYTES`, lacks a required field,
or names one twice. `DEMO_CARDS` are the cards of the bundled demo sources. `model_card` renders
a Hugging Face-style model card (Markdown with YAML front matter) from what the chain and the
bundle say of a model: `dml model card`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_CARD_BYTES = 64 * 1024
REQUIRED = ("name", "license", "source")
KNOWN = (*REQUIRED, "size", "description")
ALIASES = {"licence": "license"}


class CardError(ValueError):
    """A dataset card that cannot be used: what is wrong, in one line."""


@dataclass(frozen=True)
class DatasetCard:
    name: str
    license: str
    source: str
    size: str = ""
    description: str = ""


def parse(data: bytes, where: str = "DATASET.md") -> DatasetCard:
    """The card in `data` (a DATASET.md); CardError naming `where` and the problem otherwise."""
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"{where}: {len(data)} bytes; a dataset card holds at most {MAX_CARD_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise CardError(f"{where}: not UTF-8 text (byte {bad.start})") from bad
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise CardError(f"{where}: a dataset card starts with a '---' line, then name:, license:, source:")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise CardError(f"{where}: the front matter has no closing '---' line") from None
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key = ALIASES.get(key.strip().lower(), key.strip().lower())
        if not colon or not key:
            raise CardError(f"{where} line {number}: expected 'key: value', got {line.strip()[:60]!r}")
        if key in fields:
            raise CardError(f"{where} line {number}: {key} is given twice")
        fields[key] = value.strip().strip('"').strip("'")
    missing = [k for k in REQUIRED if not fields.get(k)]
    if missing:
        raise CardError(
            f"{where}: the card must say {', '.join(missing)} (name, license and source are required)"
        )
    body = "\n".join(lines[end + 1 :]).strip()
    return DatasetCard(
        name=fields["name"],
        license=fields["license"],
        source=fields["source"],
        size=fields.get("size", ""),
        description=fields.get("description", "") or body,
    )


def render(card: DatasetCard) -> bytes:
    """A DATASET.md for `card` (what `parse` reads back)."""
    head = [f"name: {card.name}", f"license: {card.license}", f"source: {card.source}"]
    if card.size:
        head.append(f"size: {card.size}")
    return ("---\n" + "\n".join(head) + "\n---\n" + card.description.strip() + "\n").encode()


_UCI = "https://archive.ics.uci.edu/dataset"
DEMO_CARDS: dict[str, DatasetCard] = {
    "sklearn-digits": DatasetCard(
        name="Optical Recognition of Handwritten Digits (scikit-learn load_digits)",
        license="CC-BY-4.0",
        source=f"{_UCI}/80",
        size="1797 images, 8x8",
        description="Bundled with scikit-learn; each demo worker trains on its own share.",
    ),
    "sklearn-breast-cancer": DatasetCard(
        name="Breast Cancer Wisconsin (Diagnostic) (scikit-learn load_breast_cancer)",
        license="CC-BY-4.0",
        source=f"{_UCI}/17",
        size="569 rows, 30 features",
        description="Bundled with scikit-learn; each demo worker trains on its own share.",
    ),
    "sklearn-wine": DatasetCard(
        name="Wine (scikit-learn load_wine)",
        license="CC-BY-4.0",
        source=f"{_UCI}/109",
        size="178 rows, 13 features",
        description="Bundled with scikit-learn; each demo worker trains on its own share.",
    ),
    "sklearn-diabetes": DatasetCard(
        name="Diabetes (Efron et al. 2004; scikit-learn load_diabetes)",
        license="BSD-3-Clause (as distributed with scikit-learn)",
        source="https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html",
        size="442 rows, 10 features",
        description="Bundled with scikit-learn; each worker trains on its own share.",
    ),
    "python-stdlib": DatasetCard(
        name="Python standard library source (this machine's CPython)",
        license="PSF-2.0",
        source="https://docs.python.org/3/license.html",
        size="modules named in decentralml.data.STDLIB_TRAIN",
        description="The interpreter's own modules as text; each demo worker trains on its share.",
    ),
}


@dataclass(frozen=True)
class Contributor:
    """An accepted contributor to a model: its account, results, pay and its declared card."""

    worker: str
    results: int
    paid: int
    card: DatasetCard | None = None
    card_cid: str | None = None
    card_problem: str | None = None  # why the declared card could not be used, if it could not


@dataclass(frozen=True)
class ModelFacts:
    """What `model_card` renders: gathered from the chain's mirror, the bundle and IPFS."""

    model_id: int
    task_id: int
    task_name: str
    round: int
    hash: str
    status: str
    kind: str
    architecture: str
    parameters: int
    objective: str
    rounds: Sequence[Mapping[str, Any]]  # per round: round, model, accepted, rejected, metrics
    contributors: Sequence[Contributor]
    lineage: Sequence[Mapping[str, Any]]  # model, task, round, status, hash (oldest first)
    validators: Sequence[str]
    rejections: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    decimals: int = 12  # of the chain's token, for the pay column
    token: str = "DML"


def amount(planck: int, facts: ModelFacts) -> str:
    """`planck` in the chain's token, to 4 decimals."""
    return f"{planck / 10**facts.decimals:.4f} {facts.token}"


def model_card(facts: ModelFacts) -> str:
    """A Hugging Face-style model card: YAML front matter (its datasets and their licences), then
    the task, architecture, metrics per round, contributors with their datasets, verdicts, lineage
    and release status."""
    licences = sorted({c.card.license for c in facts.contributors if c.card is not None})
    datasets = sorted({c.card.name for c in facts.contributors if c.card is not None})
    front = ["---", "library_name: pytorch", "tags:", "- federated-learning", "- decentralml"]
    for key, values in (("datasets", datasets), ("dataset_licenses", licences)):
        front += [f"{key}:", *(f"- {json.dumps(v)}" for v in values)] if values else [f"{key}: []"]
    front.append(f"decentralml_model: {facts.model_id}")
    front.append(f"decentralml_hash: {json.dumps(facts.hash)}")
    front.append("---")
    out = [*front, "", f"# {facts.task_name}: model {facts.model_id}", ""]
    out.append(
        f"Committed on the DecentralML chain for task {facts.task_id}, round {facts.round}: "
        f"sha256 `{facts.hash}`. Release status: **{facts.status}**."
    )
    out += ["", "## Model", ""]
    out.append(f"- Kind: {facts.kind}; objective: {facts.objective}")
    out.append(f"- Architecture: {facts.architecture}, {facts.parameters:,} parameters")
    if facts.validators:
        out.append(f"- Judged by: {', '.join(facts.validators)}")
    out += ["", "## Training data", ""]
    undeclared = [c for c in facts.contributors if c.card is None]
    out.append("| contributor | results | paid | dataset | licence | source |")
    out.append("|---|---|---|---|---|---|")
    for c in facts.contributors:
        if c.card is not None:
            data = f"{c.card.name} | {c.card.license} | {c.card.source}"
            out.append(f"| {c.worker} | {c.results} | {amount(c.paid, facts)} | {data} |")
        else:
            why = c.card_problem or "no dataset card declared"
            out.append(
                f"| {c.worker} | {c.results} | {amount(c.paid, facts)} | ({why}) | unknown | unknown |"
            )
    if undeclared:
        out += ["", f"{len(undeclared)} of {len(facts.contributors)} contributors declared no usable card:"]
        out.append("the licences of their data are unknown.")
    out += ["", "## Rounds", ""]
    metric_names = sorted({k for r in facts.rounds for k in (r.get("metrics") or {})})
    out.append("| round | model | accepted | rejected |" + "".join(f" {m} |" for m in metric_names))
    out.append("|---|---|---|---|" + "---|" * len(metric_names))
    for r in facts.rounds:
        metrics = r.get("metrics") or {}
        shown = [f"{metrics[m]:.4f}" if isinstance(metrics.get(m), float) else "" for m in metric_names]
        counts = f"| {r['round']} | {r.get('model', '')} | {r['accepted']} | {r['rejected']} |"
        out.append(counts + "".join(f" {v} |" for v in shown))
    if not metric_names:
        out += ["", "No metrics: the test-set metrics are in the round log of the coordinator that carried"]
        out.append("the rounds; ask that one for this card.")
    if facts.rejections:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(facts.rejections.items()))
        out += ["", f"Rejected updates by reason: {reasons}."]
    out += ["", "## Lineage", ""]
    for node in facts.lineage:
        where = f"task {node['task']} round {node['round']}"
        out.append(f"- model {node['model']}: {where}, {node['status']}, `{node['hash']}`")
    out += ["", "Verify it: `dml model verify " + str(facts.model_id) + "` (a committee member's key).", ""]
    return "\n".join(out)
