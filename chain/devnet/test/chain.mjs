// Helpers for node tests that run a real devnet: a free loopback port, a temp state dir,
// devnet.sh start/stop (stopped by the PID in its pid file), and signed extrinsics awaited in a block.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ApiPromise, WsProvider } from '@polkadot/api';

const execFileP = promisify(execFile);
const DEVNET_SH = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'devnet.sh');

export const freePort = () =>
  new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });

/** A devnet of its own: start() it, connect() to it, stop() it (and delete its state). */
export async function devnet() {
  const dir = mkdtempSync(join(tmpdir(), 'dml-devnet-'));
  const port = await freePort();
  const env = { ...process.env, DML_DEVNET_DIR: dir, DML_CHAIN_PORT: String(port) };
  const run = (cmd) => execFileP(DEVNET_SH, [cmd], { env, timeout: 300_000 });
  return {
    url: `ws://127.0.0.1:${port}`,
    start: () => run('start'),
    async stop() {
      await run('stop');
      rmSync(dir, { recursive: true, force: true });
    },
    connect() {
      return ApiPromise.create({ provider: new WsProvider(`ws://127.0.0.1:${port}`), noInitWarn: true });
    },
  };
}

/** An API connected to a running devnet (or any node) at `url`. */
export const devnetAt = (url) => ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });

/**
 * Sign, send and wait for the block; resolves with { error, events }, rejects on pool errors.
 * The nonce is read from the best block's state: Chopsticks' `system_accountNextIndex` can lag
 * right after an Instant-mode block, which makes @polkadot/api sign with a stale nonce.
 */
export const signAndWait = async (api, tx, signer) => {
  const { nonce } = await api.query.system.account(signer.address);
  return new Promise((ok, fail) => {
    let unsub = () => {};
    tx.signAndSend(signer, { nonce }, (result) => {
      const { status, dispatchError, events } = result;
      if (status.isInBlock || status.isFinalized) {
        unsub();
        let error = null;
        if (dispatchError) {
          error = dispatchError.isModule
            ? (({ section, name }) => `${section}.${name}`)(api.registry.findMetaError(dispatchError.asModule))
            : dispatchError.toString();
        }
        ok({ error, events: events.map(({ event }) => event) });
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        unsub();
        fail(new Error(`extrinsic ${status.type}`));
      }
    })
      .then((u) => {
        unsub = u;
      })
      .catch(fail);
  });
};

/** The one event `section.method` among `events`. */
export function eventOf(events, section, method) {
  const found = events.filter((e) => e.section === section && e.method === method);
  if (found.length !== 1) {
    throw new Error(`expected one ${section}.${method}, got ${found.length}: ${events.map((e) => `${e.section}.${e.method}`)}`);
  }
  return found[0];
}
