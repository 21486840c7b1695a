"""Dataset cards (DATASET.md) as workers keep them beside their data, and the model card they go
into: refused with one line when they cannot be used, found by the catalogue, rendered with
every contributor's licence (or that it is unknown)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from decentralml import cards, samples
from worker.catalogue import Catalogue, DataRefusedError

GOOD = b"""---
name: Clinic A admissions 2024
licence: CC-BY-4.0
source: https://example.org/clinic-a
size: 1200 rows
---
Admissions of clinic A, de-identified.
"""


def test_a_card_parses_with_its_body_as_description() -> None:
    card = cards.parse(GOOD)
    assert card == cards.DatasetCard(
        name="Clinic A admissions 2024",
        license="CC-BY-4.0",
        source="https://example.org/clinic-a",
        size="1200 rows",
        description="Admissions of clinic A, de-identified.",
    )
    assert cards.parse(cards.render(card)) == card
    for known in cards.DEMO_CARDS.values():
        assert cards.parse(cards.render(known)) == known


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"name: x\nlicense: y\nsource: z\n", "starts with a '---' line"),
        (b"---\nname: x\nlicense: y\nsource: z\n", "no closing '---'"),
        (b"---\nname: x\nsource: z\n---\n", "must say license"),
        (b"---\nname: x\nlicense: \nsource: z\n---\n", "must say license"),
        (b"---\nlicense: y\n---\n", "must say name, source"),
        (b"---\nname: x\nname: y\nlicense: y\nsource: z\n---\n", "name is given twice"),
        (b"---\nname: x\nlicence: y\nlicense: y\nsource: z\n---\n", "license is given twice"),
        (b"---\nname x\n---\n", "expected 'key: value'"),
        (b"---\nname: \xff\xfe\n---\n", "not UTF-8"),
        (b"---\n" + b"a" * cards.MAX_CARD_BYTES, "at most"),
        (b"", "starts with a '---' line"),
    ],
)
def test_a_bad_card_is_refused_in_one_line(data: bytes, says: str) -> None:
    with pytest.raises(cards.CardError) as refused:
        cards.parse(data, "share.DATASET.md")
    assert says in str(refused.value)
    assert str(refused.value).startswith("share.DATASET.md")
    assert "\n" not in str(refused.value)


def test_the_catalogue_finds_each_shares_card_and_refuses_a_bad_one(tmp_path: Path) -> None:
    files = samples.tabular_files(tmp_path / "data", ["csv", "parquet"], seed=0)
    samples.write_cards(files, "sklearn-breast-cancer")
    first, second = files.shares
    catalogue = Catalogue.parse([f"a={first}", f"b={second}"])
    assert catalogue.entries["a"].card is not None
    assert catalogue.entries["b"].card is not None
    assert cards.parse(catalogue.entries["a"].card).name.endswith("share 1")
    assert cards.parse(catalogue.entries["b"].card).name.endswith("share 2")

    # A folder's DATASET.md serves a file in it that has no card of its own.
    (tmp_path / "lone").mkdir()
    lone = tmp_path / "lone" / "rows.csv"
    lone.write_bytes(first.read_bytes())
    (tmp_path / "lone" / "DATASET.md").write_bytes(GOOD)
    assert Catalogue.parse([f"c={lone}"]).entries["c"].card == GOOD
    # No card: the entry still serves, with no card to declare.
    (tmp_path / "bare").mkdir()
    bare = tmp_path / "bare" / "rows.csv"
    bare.write_bytes(first.read_bytes())
    assert Catalogue.parse([f"d={bare}"]).entries["d"].card is None

    # A card that does not parse refuses the entry at start, naming the file.
    first.with_name(f"{first.stem}.DATASET.md").write_bytes(b"---\nname: x\n---\n")
    with pytest.raises(DataRefusedError) as refused:
        Catalogue.parse([f"a={first}"])
    assert "share-0.DATASET.md" in str(refused.value)
    assert "license, source" in str(refused.value)


def test_the_model_card_lists_every_contributor_with_its_licence_or_says_it_is_unknown() -> None:
    known = cards.parse(GOOD)
    facts = cards.ModelFacts(
        model_id=7,
        task_id=3,
        task_name="admissions",
        round=2,
        hash="0x" + "ab" * 32,
        status="Approved",
        kind="tabular",
        architecture="mlp",
        parameters=1234,
        objective="classification",
        rounds=[
            {"round": 1, "model": 6, "accepted": 2, "rejected": 1, "metrics": {"accuracy": 0.91}},
            {"round": 2, "model": 7, "accepted": 2, "rejected": 0, "metrics": {}},
        ],
        contributors=[
            cards.Contributor("5Alpha", 2, 2 * 10**12, known, "bafy1"),
            cards.Contributor("5Beta", 2, 180, cards.DEMO_CARDS["sklearn-wine"], "bafy2"),
            cards.Contributor(
                "5Gamma", 1, 9 * 10**11, None, "bafy3", "declared card unusable: hash mismatch"
            ),
            cards.Contributor("5Delta", 1, 0),
        ],
        lineage=[{"model": 6, "task": 3, "round": 1, "status": "Committed", "hash": "0x01"}],
        validators=["5Val"],
        rejections={"Outlier": 1},
    )
    text = cards.model_card(facts)
    head = text.split("---")[1]
    assert '- "CC-BY-4.0"' in head
    assert "decentralml_model: 7" in head
    assert (
        "| 5Alpha | 2 | 2.0000 DML | Clinic A admissions 2024 | CC-BY-4.0 | https://example.org/clinic-a |"
        in text
    )
    assert "| 5Gamma | 1 | 0.9000 DML | (declared card unusable: hash mismatch) | unknown | unknown |" in text
    assert "| 5Delta | 1 | 0.0000 DML | (no dataset card declared) | unknown | unknown |" in text
    assert "2 of 4 contributors declared no usable card" in text
    assert "| round | model | accepted | rejected | accuracy |" in text
    assert "| 1 | 6 | 2 | 1 | 0.9100 |" in text
    assert "| 2 | 7 | 2 | 0 |  |" in text
    assert "No metrics" not in text
    assert "Outlier 1" in text
    assert "Release status: **Approved**" in text
    assert "1,234 parameters" in text
    front = yaml.safe_load(text.split("---")[1])
    assert front["datasets"] == ["Clinic A admissions 2024", "Wine (scikit-learn load_wine)"]
    assert front["dataset_licenses"] == ["CC-BY-4.0"]
    assert front["decentralml_model"] == 7

    # Nobody declared a card: the front matter is still valid YAML, with empty lists.
    bare = cards.model_card(replace(facts, contributors=[cards.Contributor("5Delta", 1, 0)]))
    empty = yaml.safe_load(bare.split("---")[1])
    assert (empty["datasets"], empty["dataset_licenses"]) == ([], [])
    assert "1 of 1 contributors declared no usable card" in bare
