"""The bindings and the runtime metadata agree: every call and argument, event and field, error and
doc line, and every storage item the client reads. A pallet change without a bindings change (or
the reverse) fails here."""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Any

import pytest

import decentralml_bindings
from decentralml_bindings import DecentralMl, calls, errors, events


def pallet(chain: DecentralMl) -> Any:
    chain.substrate.init_runtime()
    return chain.substrate.metadata.get_metadata_pallet(calls.PALLET)


@pytest.mark.devnet
def test_one_builder_per_call_with_the_pallets_arguments_in_order(chain: DecentralMl) -> None:
    on_chain = {c.name: [a.name for a in c.args] for c in pallet(chain).calls}

    in_bindings = {name: list(inspect.signature(fn).parameters) for name, fn in calls.CALLS.items()}

    assert in_bindings == on_chain


@pytest.mark.devnet
def test_one_dataclass_per_event_with_the_pallets_fields_in_order(chain: DecentralMl) -> None:
    on_chain = {e.value["name"]: [f["name"] for f in e.value["fields"]] for e in pallet(chain).events}

    in_bindings = {name: [f.name for f in fields(cls)] for name, cls in events.EVENTS.items()}

    assert in_bindings == on_chain


@pytest.mark.devnet
def test_one_exception_per_error_carrying_its_doc_line(chain: DecentralMl) -> None:
    on_chain = {
        e.value["name"]: " ".join(d.strip() for d in e.value["docs"]).strip() for e in pallet(chain).errors
    }

    in_bindings = {name: errors.doc_line(cls) for name, cls in errors.PALLET_ERRORS.items()}

    assert in_bindings == on_chain


@pytest.mark.devnet
def test_the_storage_items_the_client_reads_exist(chain: DecentralMl) -> None:
    on_chain = {item.name for item in pallet(chain).storage}
    read_by_client = set()
    for _, method in inspect.getmembers(DecentralMl, inspect.isfunction):
        source = inspect.getsource(method)
        read_by_client |= {part.split('"')[1] for part in source.split("self._query(")[1:]}

    assert read_by_client
    assert read_by_client <= on_chain


def test_the_package_exports_are_sorted_and_complete() -> None:
    exported = decentralml_bindings.__all__
    public = {
        name
        for name, value in vars(decentralml_bindings).items()
        if not name.startswith("_") and (inspect.ismodule(value) or inspect.isclass(value))
    }

    assert exported == sorted(exported)
    assert set(exported) == public - {"client", "dev", "blocks", "event_spans"}  # the client's own parts
