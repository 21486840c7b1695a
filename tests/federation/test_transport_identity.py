"""TLS and node identity with Flower's real SuperLink and SuperNodes.

- A worker trusts only the CA its task's signed manifest carries: pointed at an impostor
  SuperLink (another CA), its SuperNode never connects, so the impostor gets no update.
- With node authentication on, a SuperNode whose key was not registered (not bound to an
  assigned account) never joins the real SuperLink, and so receives nothing; a bound one does.
- Bindings: signed by the account, for this SuperLink, an EC key on a NIST curve; anything else
  is refused with a reason. The registry binds only assigned accounts (on the devnet).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from substrateinterface import Keypair

from coordinator.federation.flower import FEDERATION, SuperLink
from coordinator.federation.nodes import NodeRegistry, NotAssignedError, read_nodes
from decentralml.flower import BIN
from decentralml.identity import Binding, BindingError, NodeKey
from decentralml.manifest import FederationSpec
from decentralml.tls import SuperLinkCertificates, check_certificate, fingerprint
from decentralml_bindings import DecentralMl, calls, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, UNIT
from decentralml_bindings.types import TaskType, ValidationStrategy
from support.devnet import free_port
from support.factories import create_task
from worker.supernode import SuperNode


def test_a_binding_is_checked_against_its_account_and_superlink(tmp_path: Path) -> None:
    key = NodeKey.ensure(tmp_path / "node")
    assert (key.private.stat().st_mode & 0o777) == 0o600
    binding = Binding.sign(BOB, "10.0.0.1:9092", key.public_text())
    binding.verify("10.0.0.1:9092")  # good

    with pytest.raises(BindingError, match=r"for SuperLink 10\.0\.0\.1:9092"):
        binding.verify("10.0.0.2:9092")  # replayed to another coordinator
    forged = Binding(CHARLIE.ss58_address, binding.superlink, binding.public_key, binding.signature)
    with pytest.raises(BindingError, match="not signed by"):
        forged.verify("10.0.0.1:9092")  # Bob's signature, Charlie's name
    other = NodeKey.ensure(tmp_path / "other").public_text()
    swapped = Binding(BOB.ss58_address, binding.superlink, other, binding.signature)
    with pytest.raises(BindingError, match="not signed by"):
        swapped.verify("10.0.0.1:9092")  # Bob's signature over another key
    for bad in ("ssh-rsa AAAA", "x" * 2000, "ecdsa-sha2-nistp384 AAAA\nsecond line"):
        with pytest.raises(BindingError):
            Binding.sign(BOB, "10.0.0.1:9092", bad).verify("10.0.0.1:9092")


def test_the_certificates_name_the_hosts_and_the_manifest_takes_only_a_ca(tmp_path: Path) -> None:
    found = SuperLinkCertificates.ensure(tmp_path / "tls", ["10.0.0.1", "coordinator.example"])
    again = SuperLinkCertificates.ensure(tmp_path / "tls", ["other"])
    assert found == again
    assert found.ca_certificate.read_bytes() == again.ca_certificate.read_bytes()
    assert (found.private_key.stat().st_mode & 0o777) == 0o600
    ca = found.ca_certificate.read_text()
    check_certificate(ca)
    assert fingerprint(ca).startswith("sha256:")
    assert len(fingerprint(ca)) == 71
    with pytest.raises(ValueError, match="not a CA"):
        check_certificate(found.certificate.read_text())  # the server's own certificate
    with pytest.raises(ValueError, match="CA"):
        FederationSpec(ca_certificate=found.certificate.read_text())
    with pytest.raises(ValueError, match="not a PEM"):
        FederationSpec(ca_certificate="-----BEGIN CERTIFICATE-----\n" + "A" * 80 + "\n")
    assert FederationSpec(ca_certificate=ca, superlink="10.0.0.1:9092").node_auth


def _online(superlink: SuperLink) -> list[int]:
    done = subprocess.run(
        [str(BIN / "flwr"), "supernode", "list", FEDERATION, "--format", "json"],
        env=superlink.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    nodes = json.loads(done.stdout).get("nodes", [])
    return [int(n["node-id"]) for n in nodes if n.get("status") == "online"]


def _node(tmp_path: Path, name: str, superlink: SuperLink, ca: Path, key: NodeKey | None) -> SuperNode:
    return SuperNode(
        superlink=superlink.address,
        home=tmp_path / name / "home",
        log=tmp_path / f"{name}.log",
        config={"trainer-url": "http://127.0.0.1:9"},
        port=free_port(),
        root_certificates=ca,
        auth_key=None if key is None else key.private,
    )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SuperLink]:
    """A real SuperLink with the coordinator's own TLS certificates and node authentication."""
    certificates = SuperLinkCertificates.ensure(tmp_path / "tls", ["127.0.0.1", "localhost"])
    link = SuperLink(tmp_path / "link", free_port(), certificates=certificates, node_auth=True)
    (tmp_path / "link").mkdir()
    link.start()
    yield link
    link.stop()


def _wait_online(superlink: SuperLink, wanted: set[int], seconds: float = 40) -> list[int]:
    deadline = time.monotonic() + seconds
    online: list[int] = []
    while time.monotonic() < deadline:
        online = _online(superlink)
        if wanted <= set(online):
            break
        time.sleep(1)
    return online


def test_only_a_bound_node_joins_and_an_impostor_superlink_gets_nobody(
    secured: SuperLink, tmp_path: Path
) -> None:
    # Prepare: Bob's node key registered with the real SuperLink; Mallory's not. An impostor
    # SuperLink with its own CA (no node authentication: it would take anyone who connects).
    assert secured.certificates is not None
    task_ca = secured.certificates.ca_certificate
    bob, mallory = NodeKey.ensure(tmp_path / "bob"), NodeKey.ensure(tmp_path / "mallory")
    bob_id = secured.register_node(bob.public)
    impostor_tls = SuperLinkCertificates.ensure(tmp_path / "impostor-tls", ["127.0.0.1"])
    (tmp_path / "impostor").mkdir()
    impostor = SuperLink(tmp_path / "impostor", free_port(), certificates=impostor_tls)
    impostor.start()
    nodes = [
        _node(tmp_path, "bob", secured, task_ca, bob),
        _node(tmp_path, "mallory", secured, task_ca, mallory),
        # An honest worker whose task names the real CA, pointed at the impostor.
        _node(tmp_path, "fooled", impostor, task_ca, None),
    ]
    try:
        # Execute
        for node in nodes:
            node.start()
        online = _wait_online(secured, {bob_id})
        time.sleep(5)  # give the refused ones every chance to get in
        online, impostors = _online(secured), _online(impostor)

        # Assert: only Bob's node is online at the real SuperLink; the impostor has no one.
        assert online == [bob_id]
        assert impostors == []
        assert all(node.alive() or node.returncode is not None for node in nodes)
        assert "SuperNode ID" not in (tmp_path / "fooled.log").read_text()
    finally:
        for node in nodes:
            node.stop()
        impostor.stop()


@pytest.mark.devnet
def test_the_registry_binds_only_accounts_assigned_to_its_tasks(
    secured: SuperLink, chain: DecentralMl, tmp_path: Path
) -> None:
    # Prepare: a task Ferdie judges, Bob assigned to it; a stranger no test assigns anywhere (not
    # Charlie: a task an earlier test left open may hold him, and Ferdie judges it too).
    call = calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=1,
        max_assignments=2,
        expires_at=chain.block_number() + 5_000,
        validation=ValidationStrategy.auto_accept(),
        validators=[FERDIE.ss58_address],
        reward_per_result=UNIT,
        manifest_cid="bafy-identity",
        manifest_hash=bytes([7]) * 32,
    )
    task_id = chain.submit(call, ALICE).one(events.TaskCreated).task_id
    chain.submit(calls.assign_task(task_id), BOB)
    registry = NodeRegistry(
        tmp_path / "fed", secured.address, chain, FERDIE.ss58_address, secured.register_node
    )
    bob_key = NodeKey.ensure(tmp_path / "bob").public_text()
    stranger = Keypair.create_from_uri("//IdentityStranger")
    stranger_key = NodeKey.ensure(tmp_path / "stranger").public_text()

    # Execute
    bound = registry.bind(Binding.sign(BOB, secured.address, bob_key))
    again = registry.bind(Binding.sign(BOB, secured.address, bob_key))

    # Assert: Bob bound once (idempotent), the stranger and a stolen key refused, the record on disk.
    assert bound == again
    assert bound.account == BOB.ss58_address
    with pytest.raises(NotAssignedError, match="claim a slot first"):
        registry.bind(Binding.sign(stranger, secured.address, stranger_key))
    chain.submit(calls.assign_task(task_id), CHARLIE)
    with pytest.raises(BindingError, match="another account"):
        registry.bind(Binding.sign(CHARLIE, secured.address, bob_key))
    assert {n.account for n in read_nodes(registry.path).values()} == {BOB.ss58_address}


@pytest.mark.devnet
def test_node_keys_bind_concurrently_and_one_key_sent_twice_registers_once(
    secured: SuperLink, chain: DecentralMl, tmp_path: Path
) -> None:
    # Prepare: a task Ferdie judges with Bob, Charlie, Dave and Eve assigned; the SuperLink's real
    # registration, counted (how many run at once, and how many in all).
    task_id = create_task(
        chain,
        rounds=1,
        slots=4,
        label="bafy-concurrent",
        validation=ValidationStrategy.auto_accept(),
        validators=[FERDIE.ss58_address],
    )
    workers = [BOB, CHARLIE, DAVE, EVE]
    for worker in workers:
        chain.submit(calls.assign_task(task_id), worker)
    lock = threading.Lock()
    running, most, registered = 0, 0, []

    def register(path: Path) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            registered.append(path.name)
        try:
            return secured.register_node(path)
        finally:
            with lock:
                running -= 1

    registry = NodeRegistry(tmp_path / "fed", secured.address, chain, FERDIE.ss58_address, register)
    bindings = [
        Binding.sign(w, secured.address, NodeKey.ensure(tmp_path / w.ss58_address).public_text())
        for w in workers
    ]

    # Execute: the four bindings at once, Bob's sent twice.
    with ThreadPoolExecutor(max_workers=5) as pool:
        bound = list(pool.map(registry.bind, [*bindings, bindings[0]]))

    # Assert: registrations overlapped; Bob's key registered once and both of his answers agree;
    # four distinct nodes on record, one per account.
    assert most >= 2, "the registrations ran one at a time"
    assert len(registered) == 4, registered
    assert bound[0] == bound[4]
    assert len({node.node_id for node in bound}) == 4
    on_record = read_nodes(registry.path)
    assert {n.account for n in on_record.values()} == {w.ss58_address for w in workers}
    assert {n.node_id for n in on_record.values()} == {n.node_id for n in bound}
