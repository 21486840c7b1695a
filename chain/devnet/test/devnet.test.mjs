// End-to-end test of the DecentralML devnet tooling (devnet.sh + Chopsticks + the resume patch).
//
//   cd chain/devnet && node --test test/
//
// Needs the raw chain spec (DML_CHAIN_SPEC, default chain/artifacts/dev-spec.raw.json); when it is
// missing but the runtime wasm exists, the spec is built into the temp dir with build-spec.mjs.
// With neither, the chain tests are skipped (set DML_TEST_REQUIRE_CHAIN=1 to fail instead).
//
// Every devnet runs on a free loopback port with its state in a fresh temp dir, and is stopped
// by the PID in its pid file (devnet.sh stop; a leftover PID is killed in the cleanup hook).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';

import { freePort, signAndWait } from './chain.mjs';

const execFileP = promisify(execFile);
const DEVNET_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = resolve(DEVNET_DIR, '../..');
const DEVNET_SH = join(DEVNET_DIR, 'devnet.sh');
const DEFAULT_SPEC = join(REPO, 'chain/artifacts/dev-spec.raw.json');
const DEFAULT_WASM = join(REPO, 'chain/artifacts/decentralml_runtime.compact.compressed.wasm');
const DML = 10n ** 12n; // tokenDecimals 12

const names = (outcome) => outcome.events.map((e) => `${e.section}.${e.method}`);

const isAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('devnet tooling', () => {
  test('the chopsticks-core resume patch is applied (cjs and esm)', () => {
    for (const flavour of ['cjs', 'esm']) {
      const src = readFileSync(
        join(DEVNET_DIR, `node_modules/@acala-network/chopsticks-core/dist/${flavour}/setup.js`),
        'utf8',
      );
      assert.match(src, /opts\.genesis && !\(opts\.db && await opts\.db\.queryHighestBlock\(\)\)/, flavour);
    }
  });
});

describe('devnet on chopsticks: transfer, restart with the same db, transfer again', { timeout: 15 * 60_000 }, () => {
  let skipReason = null;
  let spec;
  let specPath;
  let stateDir;
  let port;
  let env;
  let api;

  const sh = async (cmd) => {
    try {
      const { stdout, stderr } = await execFileP(DEVNET_SH, [cmd], { env, timeout: 5 * 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(e) };
    }
  };
  const pidFile = () => join(stateDir, 'chopsticks.pid');
  const readPid = () => (existsSync(pidFile()) ? Number(readFileSync(pidFile(), 'utf8').trim()) : null);

  const start = async () => {
    const t0 = Date.now();
    const r = await sh('start');
    assert.equal(r.code, 0, `devnet.sh start failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(
      r.stdout.includes(`devnet ready at ws://127.0.0.1:${port}`),
      `no ready line in:\n${r.stdout}\n${r.stderr}`,
    );
    const pid = readPid();
    assert.ok(pid && isAlive(pid), 'pid file names a live process');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    assert.match(cmdline, /chopsticks/, 'the pid is chopsticks itself');
    console.log(`# devnet started in ${Date.now() - t0} ms (pid ${pid})`);
    api = await ApiPromise.create({ provider: new WsProvider(`ws://127.0.0.1:${port}`), noInitWarn: true });
    await api.isReady;
    return pid;
  };
  const stop = async (pid) => {
    await api?.disconnect();
    api = undefined;
    const r = await sh('stop');
    assert.equal(r.code, 0, `devnet.sh stop failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /devnet stopped/);
    assert.equal(isAlive(pid), false, `pid ${pid} still alive after stop`);
    assert.equal(existsSync(pidFile()), false, 'pid file removed');
  };
  const free = async (who) => (await api.query.system.account(who)).data.free.toBigInt();
  const bestNumber = async () => (await api.rpc.chain.getHeader()).number.toNumber();

  before(async () => {
    specPath = process.env.DML_CHAIN_SPEC ?? DEFAULT_SPEC;
    stateDir = mkdtempSync(join(tmpdir(), 'dml-devnet-test-'));
    if (!existsSync(specPath)) {
      const wasm = process.env.DML_CHAIN_WASM ?? DEFAULT_WASM;
      if (!existsSync(wasm)) {
        skipReason = `no chain spec at ${specPath} and no runtime wasm at ${wasm}`;
        if (process.env.DML_TEST_REQUIRE_CHAIN === '1') throw new Error(skipReason);
        return;
      }
      specPath = join(stateDir, 'spec.raw.json');
      await execFileP(process.execPath, [join(DEVNET_DIR, 'build-spec.mjs'), '--wasm', wasm, '--out', specPath]);
    }
    spec = JSON.parse(readFileSync(specPath, 'utf8'));
    port = await freePort();
    env = {
      ...process.env,
      DML_CHAIN_SPEC: specPath,
      DML_CHAIN_PORT: String(port),
      DML_DEVNET_DIR: stateDir,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    };
    delete env.PORT;
  });

  after(async () => {
    await api?.disconnect().catch(() => {});
    if (stateDir) {
      const pid = readPid();
      if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL'); // only our own devnet, by PID
      if (process.env.DML_TEST_KEEP_DIR === '1') console.log(`# state kept in ${stateDir}`);
      else rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('start, system_chain, signed transfer, restart with the same db, signed transfer again, reset', async (t) => {
    if (skipReason) return t.skip(skipReason);

    // ---------- first start: fresh db ----------
    let pid = await start();
    const chain = (await api.rpc.system.chain()).toString();
    // Chopsticks answers system_chain with the spec's `id` (a real node answers with `name`).
    assert.ok([spec.id, spec.name].includes(chain), `system_chain = ${chain}`);
    const props = await api.rpc.system.properties();
    assert.equal(props.ss58Format.unwrap().toNumber(), 42);
    assert.equal(props.tokenSymbol.unwrap()[0].toString(), 'DML');
    assert.equal(props.tokenDecimals.unwrap()[0].toNumber(), 12);

    const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
    const alice = keyring.addFromUri('//Alice');
    const bob = keyring.addFromUri('//Bob');
    assert.equal(alice.address, '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY');

    // Built on the *current* api: each start below opens a new connection.
    const transfer = (dest, amount) => api.tx.balances.transferKeepAlive(dest, amount);
    const bob0 = await free(bob.address);
    const n0 = await bestNumber();
    const r1 = await signAndWait(api, transfer(bob.address, DML), alice);
    assert.equal(r1.error, null, `first transfer failed: ${r1.error}`);
    assert.ok(names(r1).includes('system.ExtrinsicSuccess'), names(r1).join(','));
    assert.ok(names(r1).includes('balances.Transfer'), names(r1).join(','));
    const bob1 = await free(bob.address);
    assert.equal(bob1 - bob0, DML);
    const n1 = await bestNumber();
    assert.ok(n1 > n0, `block advanced ${n0} -> ${n1}`);
    const aliceNonce1 = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    console.log(`# first run: system_chain=${chain}, transfer in block #${n1}, bob +1 DML`);

        await stop(pid);

    // ---------- second start: same db, resume ----------
    pid = await start();
    const n2 = await bestNumber();
    assert.equal(n2, n1, 'best block number persisted across restart');
    assert.equal(await free(bob.address), bob1, "bob's balance persisted");
    assert.equal((await api.rpc.system.accountNextIndex(alice.address)).toNumber(), aliceNonce1, 'nonce persisted');

    // Without the resume patch this is rejected with `1010: ... bad signature` (BadProof).
    const r2 = await signAndWait(api, transfer(bob.address, 2n * DML), alice);
    assert.equal(r2.error, null, `second transfer failed: ${r2.error}`);
    assert.ok(names(r2).includes('system.ExtrinsicSuccess'), names(r2).join(','));
    assert.equal((await free(bob.address)) - bob1, 2n * DML);
    const n3 = await bestNumber();
    assert.equal(n3, n2 + 1);
    console.log(`# after restart: resumed at #${n2}, second transfer in block #${n3}`);

    const st = await sh('status');
    assert.equal(st.code, 0);
    assert.match(st.stdout, new RegExp(`devnet running: pid ${pid}, ws://127\\.0\\.0\\.1:${port}, best block #${n3}`));

    await stop(pid);

    // ---------- reset: db gone ----------
    assert.ok(existsSync(join(stateDir, 'chain.sqlite')));
    const rr = await sh('reset');
    assert.equal(rr.code, 0, rr.stderr);
    assert.equal(existsSync(join(stateDir, 'chain.sqlite')), false, 'reset deletes the db');
    const st2 = await sh('status');
    assert.equal(st2.code, 1);
    assert.match(st2.stdout, /devnet not running/);
  });
});
