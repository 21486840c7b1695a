#!/usr/bin/env node
// A council motion from the command line, the way a member does it in Polkadot-JS Apps
// (Governance > Council > Motions: propose, vote, close), with @polkadot/api:
//
//   node council.mjs --url ws://127.0.0.1:9944 approve|revoke <modelId> --proposer //Alice --ayes //Bob[,//Charlie]
//
// The proposer and every `--ayes` member vote aye; the threshold is their number; anyone closes.
// Prints one JSON line: the motion's index and hash, its tally and whether its call succeeded.

import { parseArgs } from 'node:util';

import { Keyring } from '@polkadot/api';

import { devnetAt, eventOf, signAndWait } from './test/chain.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:9944' },
    proposer: { type: 'string', default: '//Alice' },
    ayes: { type: 'string', default: '//Bob' },
  },
});
const [action, modelId] = positionals;
if (!['approve', 'revoke'].includes(action) || modelId === undefined) {
  console.error('usage: council.mjs [--url URL] approve|revoke <modelId> [--proposer URI] [--ayes URI,URI]');
  process.exit(2);
}

const api = await devnetAt(values.url);
const keyring = new Keyring({ type: 'sr25519' });
const proposer = keyring.addFromUri(values.proposer);
const ayes = values.ayes.split(',').filter(Boolean).map((uri) => keyring.addFromUri(uri));
const call = action === 'approve' ? api.tx.decentralMl.approveModel(modelId) : api.tx.decentralMl.revokeModel(modelId);

async function ok(tx, signer) {
  const outcome = await signAndWait(api, tx, signer);
  if (outcome.error) throw new Error(`${tx.method.section}.${tx.method.method} failed: ${outcome.error}`);
  return outcome.events;
}

try {
  const proposeEvents = await ok(api.tx.council.propose(1 + ayes.length, call, call.encodedLength), proposer);
  if (ayes.length === 0) {
    // A threshold-1 motion is executed at once by its proposer, without a vote.
    const executed = eventOf(proposeEvents, 'council', 'Executed').data;
    console.log(JSON.stringify({
      action, modelId: Number(modelId), yes: 1, no: 0,
      executed: executed.result.isOk ? 'ok' : executed.result.asErr.toString(),
    }));
    process.exit(0);
  }
  const proposed = eventOf(proposeEvents, 'council', 'Proposed').data;
  const [hash, index] = [proposed.proposalHash, proposed.proposalIndex];
  for (const member of [proposer, ...ayes]) await ok(api.tx.council.vote(hash, index, true), member);
  const closedEvents = await ok(
    api.tx.council.close(hash, index, { refTime: 50_000_000_000n, proofSize: 1_000_000n }, call.encodedLength),
    proposer,
  );
  const closed = eventOf(closedEvents, 'council', 'Closed').data;
  const executed = eventOf(closedEvents, 'council', 'Executed').data;
  console.log(JSON.stringify({
    action,
    modelId: Number(modelId),
    index: index.toNumber(),
    hash: hash.toHex(),
    yes: closed.yes.toNumber(),
    no: closed.no.toNumber(),
    executed: executed.result.isOk ? 'ok' : executed.result.asErr.toString(),
  }));
} finally {
  await api.disconnect();
}
