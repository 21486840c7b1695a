// A council motion, driven with @polkadot/api (the library Polkadot-JS Apps is built on), releases
// a committed model with two of three votes; a motion carried by one vote cannot withdraw it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Keyring } from '@polkadot/api';

import { devnet, eventOf, signAndWait } from './chain.mjs';

const DML = 10n ** 12n;
let net;
let api;
let alice, bob, charlie;

before(async () => {
  net = await devnet();
  await net.start();
  api = await net.connect();
  const keyring = new Keyring({ type: 'sr25519' });
  [alice, bob, charlie] = ['//Alice', '//Bob', '//Charlie'].map((uri) => keyring.addFromUri(uri));
});

after(async () => {
  await api?.disconnect();
  await net?.stop();
});

async function ok(tx, signer) {
  const outcome = await signAndWait(api, tx, signer);
  assert.equal(outcome.error, null, `extrinsic failed: ${outcome.error}`);
  return outcome.events;
}

async function committedModel() {
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  const created = await ok(
    api.tx.decentralMl.createTask('ModelContributor', 1, 1, head + 1000, 'ManualAccept', [bob.address], 5n * DML,
      'bafy-council-test', '0x' + 'cd'.repeat(32), null),
    alice,
  );
  const taskId = eventOf(created, 'decentralMl', 'TaskCreated').data.taskId;
  const committed = await ok(
    api.tx.decentralMl.commitModel(taskId, 1, 'bafy-model', '0x' + 'ef'.repeat(32), []),
    bob, // the task's validator: a creator cannot commit
  );
  return eventOf(committed, 'decentralMl', 'ModelCommitted').data.modelId.toNumber();
}

async function motion(proposer, threshold, call) {
  const events = await ok(api.tx.council.propose(threshold, call, call.encodedLength), proposer);
  return events;
}

async function modelStatus(modelId) {
  return (await api.query.decentralMl.models(modelId)).unwrap().status.toString();
}

test('two of three council votes release a model; one vote cannot withdraw it', async () => {
  const modelId = await committedModel();
  assert.equal(await modelStatus(modelId), 'Committed');

  const approve = api.tx.decentralMl.approveModel(modelId);
  const proposed = eventOf(await motion(alice, 2, approve), 'council', 'Proposed').data;
  const [hash, index] = [proposed.proposalHash, proposed.proposalIndex];
  await ok(api.tx.council.vote(hash, index, true), alice);
  assert.equal(await modelStatus(modelId), 'Committed', 'one vote does not release');
  await ok(api.tx.council.vote(hash, index, true), bob);
  const closed = await ok(
    api.tx.council.close(hash, index, { refTime: 10_000_000_000n, proofSize: 1_000_000n }, approve.encodedLength),
    charlie,
  );

  const executed = eventOf(closed, 'council', 'Executed').data;
  assert.ok(executed.result.isOk, `motion dispatch failed: ${executed.result}`);
  eventOf(closed, 'decentralMl', 'ModelApproved');
  assert.equal(await modelStatus(modelId), 'Approved');

  // A threshold-1 motion executes at once with one member's voice: not a majority, refused.
  const revoke = api.tx.decentralMl.revokeModel(modelId);
  const lone = eventOf(await motion(charlie, 1, revoke), 'council', 'Executed').data;
  assert.ok(lone.result.isErr);
  assert.equal(lone.result.asErr.toString(), 'BadOrigin');
  assert.equal(await modelStatus(modelId), 'Approved');
});
