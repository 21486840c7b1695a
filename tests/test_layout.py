"""Which way imports run, and a worker that stands alone.

`decentralml/` uses only the bindings; `worker/` uses `decentralml/` and the bindings; nothing but
the tests themselves imports `tests/`. And the worker runs from a virtualenv that holds only the
worker's dependencies (the package's core requirements and its `worker` extra, resolved from the
installed metadata): no coordinator package, no PostgreSQL driver, no uvicorn-free coordinator
extras.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from support.devnet import ROOT

# package -> packages of this repository it must never import
FORBIDDEN = {
    "decentralml": {"coordinator", "worker", "tests", "support", "bench", "scripts"},
    "worker": {"coordinator", "tests", "support", "bench", "scripts"},
    "coordinator": {"tests", "support", "bench", "scripts"},
    "pallet-bindings/decentralml_bindings": {
        "decentralml",
        "coordinator",
        "worker",
        "tests",
        "support",
        "bench",
        "scripts",
    },
    "scripts": {"tests"},
    "bench": {"tests"},
    "support": {"tests"},
}


def imported_roots(path: Path) -> set[str]:
    """The top-level names every import in the file names (`a.b` -> `a`), wherever it sits."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imported_roots(path) & FORBIDDEN[package]
        if wrong:
            offences.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(wrong))}")
    assert not offences, "\n".join(offences)


def test_the_layout_check_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f() -> None:\n    from coordinator.federation import referee\n")
    assert "coordinator" in imported_roots(bad)


def _closure(requirements: list[str]) -> set[str]:
    """Installed distributions needed by `requirements`, transitively (markers evaluated here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        distribution = importlib.metadata.distribution(name)
        for extra in requirement.extras:
            for text in distribution.requires or []:
                nested = Requirement(text)
                if nested.marker is not None and nested.marker.evaluate({"extra": extra}):
                    nested.marker = None
                    todo.append(nested)
        todo += [Requirement(text) for text in distribution.requires or []]
    return seen


def _worker_venv(directory: Path) -> Path:
    """A virtualenv whose site-packages links only the worker's dependency closure and the three
    packages an edge install has (decentralml, worker, the bindings); its python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _closure([*project["dependencies"], *project["optional-dependencies"]["worker"]])
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    site = next(directory.glob("lib/python*/site-packages"))
    source = Path(str(importlib.metadata.distribution("flwr").locate_file("")))
    linked: set[str] = set()
    for name in sorted(wanted):
        for file in importlib.metadata.distribution(name).files or []:
            top = file.parts[0]
            if top in linked or top == ".." or top.endswith(".pth") or top == "__pycache__":
                continue
            target = source / top
            if target.exists():
                (site / top).symlink_to(target)
                linked.add(top)
    for package in (ROOT / "decentralml", ROOT / "worker", ROOT / "pallet-bindings" / "decentralml_bindings"):
        (site / package.name).symlink_to(package)
    return directory / "bin" / "python"


def test_the_worker_imports_in_a_venv_with_only_its_dependencies(tmp_path: Path) -> None:
    python = _worker_venv(tmp_path / "venv")
    script = (
        "import importlib.util, worker, worker.daemon, worker.client_app, worker.cli, worker.service\n"
        "import decentralml.admission, decentralml.flower\n"
        "missing = [m for m in ('coordinator', 'psycopg', 'tests', 'support')"
        " if importlib.util.find_spec(m) is not None]\n"
        "assert not missing, missing\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
    # The same venv cannot import the coordinator: the check above is not vacuous.
    refused = subprocess.run(
        [str(python), "-c", "import coordinator.api"], cwd=tmp_path, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "No module named 'coordinator'" in refused.stderr


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_command_line_and_the_settings_start_without_torch_or_the_app() -> None:
    # `dml --help` builds the whole command tree; every verb imports what it needs when it runs.
    cli = loaded_after("from coordinator.cli import parser\nparser()")
    settings = loaded_after("from coordinator.settings import Settings\nSettings()")

    for heavy in ("torch", "sklearn", "pyarrow", "flwr"):
        assert heavy not in cli, f"`dml --help` imports {heavy}"
        assert heavy not in settings, f"the settings import {heavy}"
    assert "coordinator.settings" in settings
    assert "coordinator.api.app" not in settings, "the settings load the whole REST app"
    assert "uvicorn" not in settings


def test_the_rest_process_and_a_worker_load_only_what_they_need() -> None:
    # The REST process serves the mirror and signs: no PyTorch, no data-kind libraries, no Flower.
    rest = loaded_after("from coordinator.api import create_app\ncreate_app")
    # `dml coordinator serve` (the REST app, the indexer, the launcher and the committee member)
    # loads the referee, and so PyTorch, only when it judges a round.
    serving = loaded_after("import coordinator.serve")
    # A worker daemon trains (torch) but is no coordinator, and a digits task needs no kind's
    # library until it reads data of that kind; DP's accountant (scipy) only when a task uses DP.
    worker = loaded_after("import worker.daemon, worker.trainer, worker.cli")
    tabular = loaded_after("from decentralml import kinds\nkinds.KINDS['tabular']")

    for heavy in ("torch", "sklearn", "scipy", "pyarrow", "PIL", "tokenizers", "flwr"):
        assert heavy not in rest, f"the REST app imports {heavy}"
        assert heavy not in serving, f"the coordinator's serving process imports {heavy}"
    assert "coordinator.committee.member" in serving
    assert "coordinator.api.app" in rest
    assert "torch" in worker, "the probe did not load the worker"
    for heavy in ("sklearn", "scipy", "pyarrow", "PIL", "tokenizers"):
        assert heavy not in worker, f"a worker daemon imports {heavy} before it needs it"
    assert not {m for m in worker if m.split(".")[0] == "coordinator"}, "a worker imports the coordinator"
    assert "pyarrow" in tabular, "asking for a kind loads its module"
    assert "PIL" not in tabular
