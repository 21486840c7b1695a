"""The dashboard in a real headless Chromium (Debian's, through its chromedriver): the devnet's real
task, followed while its rounds commit, with each worker's verdict, reason, score and payout, the
metric curve, the lineage, the council's motion and the chain's health; names from the chain shown
as text, never run as HTML. Screenshots go to test-output/dashboard/ (their paths are printed)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service

from coordinator.federation.referee import RoundOutcome
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import initial_manifest
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.models import ModelSpec
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, FERDIE
from support.devnet import ROOT, Devnet
from support.factories import InProcess, create_task, enlist, publish
from tests.coordinator.conftest import serving
from worker.trainer import Behaviour

SHOTS = ROOT / "test-output" / "dashboard"
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
HOSTILE = '<img src=x onerror="document.title=1">'


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("no Chromium: make setup installs it (scripts/browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1800", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def wait_until(what: str, found: Callable[[], Any], seconds: float = 120) -> Any:
    """`found()`'s first truthy value, polled; a failure naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = found()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"the dashboard never showed {what} within {seconds} s")


def text(browser: webdriver.Chrome, selector: str) -> str:
    """The text of the first element `selector` finds ("" if none), read in one script."""
    found: str = browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector
    )
    return found


READ_TASK = """
const rounds = {};
for (const section of document.querySelectorAll('section.round')) {
  rounds[section.dataset.round] = [...section.querySelectorAll('tbody tr')].map(
    (r) => [r.dataset.worker, r.dataset.result, r.textContent]);
}
return {
  rounds,
  lineage: document.querySelectorAll('#lineage li').length,
  status: document.querySelector('#task-status')?.textContent,
};
"""


def shot(browser: webdriver.Chrome, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


@pytest.mark.devnet
def test_the_dashboard_follows_a_task_as_its_rounds_commit(
    devnet: Devnet, chain: DecentralMl, store: ContentStore, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    # Prepare: a digits task, 2 rounds, two honest workers and a poisoned one; the coordinator
    # serves the round log of the run (its federation directory), polled every second by the page.
    task = publish(chain, store, initial_manifest(store, "dashboard-digits", MODEL, data=DataSpec(parts=3)),
                   rounds=2, workers=3)  # fmt: skip
    behaviours = {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST, DAVE: Behaviour.POISON}
    trainers = enlist(chain, store, task, behaviours, tmp_path / "workers")
    hostile = create_task(chain, rounds=1, label=HOSTILE)
    environment = {
        "DML_CHAIN_URL": devnet.url,
        "DML_IPFS_API": store.api,
        "DML_DATABASE_URL": f"sqlite:///{tmp_path / 'coordinator.sqlite'}",
        "DML_INDEXER_POLL_SECONDS": "0.2",
        "DML_FEDERATION_DIR": str(tmp_path / "fed"),
    }
    outcomes: list[RoundOutcome] = []
    with serving(environment, tmp_path / "coordinator.log") as url:
        page = f"{url}/dashboard/?poll=1"
        browser.get(page)
        wait_until("the task in the list", lambda: text(browser, f'a[data-task-id="{task.task_id}"]'))
        assert "chain ok" in wait_until("the chain's health", lambda: text(browser, "#health"))
        shot(browser, "1-tasks")
        # The page re-renders every second: read and click in one script, never a stale element.
        browser.execute_script(f"document.querySelector('a[data-task-id=\"{task.task_id}\"]').click()")
        wait_until("the task page", lambda: text(browser, f'h1[data-task-id="{task.task_id}"]'))
        assert "0 / 2 committed" in wait_until("the rounds", lambda: text(browser, "#committed-rounds"))

        # Execute: the rounds run while the page polls.
        runner = threading.Thread(
            target=lambda: outcomes.extend(
                run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "fed")
            )
        )
        runner.start()
        wait_until("round 1 committed", lambda: text(browser, '[data-committed="1"]'))
        shot(browser, "2-round-1")
        runner.join(timeout=600)
        assert not runner.is_alive()
        wait_until("round 2 committed", lambda: "2 / 2 committed" in text(browser, "#committed-rounds"))
        wait_until(
            "two points on the curve",
            lambda: (
                browser.execute_script(
                    "return document.querySelector('#metric-chart')?.getAttribute('data-points')"
                )
                == "2"
            ),
        )
        chain.council_motion(calls.approve_model(outcomes[-1].model_id), ALICE, [BOB])  # type: ignore[arg-type]
        wait_until("the released model in the lineage", lambda: "Approved" in text(browser, "#lineage"))
        shot(browser, "3-task")

        # Assert: per round, each worker's row: the honest two accepted and paid, the poisoned one
        # rejected with its reason; the lineage has both models; the chart is the round log's.
        view = browser.execute_script(READ_TASK)
        for round_ in (1, 2):
            found = view["rounds"][str(round_)]
            rows = {worker: line for worker, _, line in found}
            by_result = {int(result): line for _, result, line in found}
            assert set(rows) == {BOB.ss58_address, CHARLIE.ss58_address, DAVE.ss58_address}
            assert "Accepted" in rows[BOB.ss58_address]
            assert "DML" in rows[BOB.ss58_address]
            assert "Rejected" in rows[DAVE.ss58_address]
            rejected = outcomes[round_ - 1].rejected
            assert rejected
            for result_id, reason in rejected.items():
                assert reason in by_result[result_id], (reason, by_result[result_id])
        assert view["lineage"] == 2
        assert view["status"] == "Completed"

        # The council's motion on the tasks page; a task whose CID is HTML shows it as text.
        browser.get(f"{url}/dashboard/?poll=1#/")
        wait_until("the council's motion", lambda: "approve_model" in text(browser, "#motions"))
        browser.get(f"{url}/dashboard/?poll=1#/tasks/{hostile}")
        shown = wait_until("the hostile task", lambda: text(browser, "#manifest"))
        assert shown == HOSTILE
        assert browser.execute_script("return document.querySelectorAll('main img').length") == 0
        assert browser.title == "DecentralML dashboard"
        browser.get(f"{url}/dashboard/?poll=1#/tasks/{10**9}")
        wait_until("a missing task", lambda: "No such task" in text(browser, "#main"))
        served = httpx.get(f"{url}/dashboard/", timeout=10)
        assert "script-src 'self'" in served.headers["content-security-policy"]
        assert httpx.get(f"{url}/", timeout=10, follow_redirects=False).headers["location"] == "/dashboard/"
        # No script error; the only failed loads are the 404s the page reads on purpose (a task
        # with no round log here, the missing task).
        logged = browser.get_log("browser")  # type: ignore[no-untyped-call]
        errors = [e for e in logged if e["level"] == "SEVERE" and "status of 404" not in e["message"]]
        assert errors == [], errors
