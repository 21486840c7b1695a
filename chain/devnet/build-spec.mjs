#!/usr/bin/env node
// Build a *raw* chain spec for the DecentralML runtime without a node binary.
//
// The runtime's own GenesisBuilder API is executed inside Chopsticks' wasm executor
// (chopsticks-core's exported `runTask`), exactly as `chain-spec-builder` does it:
//   1. GenesisBuilder_get_preset(None)        -> default RuntimeGenesisConfig (JSON)
//   2. GenesisBuilder_get_preset(Some(id))     -> the preset's JSON patch
//   3. merge the patch into the default config (RFC 7386-style, null deletes a key)
//   4. GenesisBuilder_build_state(config)      -> genesis storage (the executor's storage diff)
//   5. add `:code` (the compressed wasm, as given) and write `genesis.raw.top`.
//
// Output is deterministic: every object's keys are sorted, 2-space indent, trailing newline,
// so re-running with the same wasm and preset gives identical bytes.
//
// Usage:
//   node build-spec.mjs --wasm <runtime.compact.compressed.wasm> [--preset development] --out <spec.raw.json>
// Optional: --name, --id, --chain-type, --relay-chain, --para-id, --token-symbol,
//           --token-decimals, --ss58-format (defaults below), --print-config (dump merged JSON to stderr),
//           --allow-unresolved-imports (tolerate host functions the executor lacks, e.g. benchmarking builds).

import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { xxhashAsHex } from '@polkadot/util-crypto';

process.env.LOG_LEVEL ??= 'warn'; // keep chopsticks' logger quiet; must be set before import
const { runTask, destroyWorker, getRuntimeVersion } = await import('@acala-network/chopsticks-core');

const DEFAULTS = {
  preset: 'development',
  name: 'DecentralML Dev',
  id: 'decentralml_dev',
  'chain-type': 'Development',
  'relay-chain': 'rococo-local',
  'para-id': '1000',
  'token-symbol': 'DML',
  'token-decimals': '12',
  'ss58-format': '42',
  // Chain time at genesis (ms; 2026-01-01T00:00:00Z, a multiple of the 6 s slot). Without it,
  // Chopsticks derives block #1's Aura slot and its timestamp from two separate Date.now() calls,
  // and a start that straddles a slot boundary panics the runtime ("Timestamp slot must match
  // CurrentSlot"). Blocks then advance chain time by one slot each.
  'genesis-timestamp': '1767225600000',
};

const usage = `usage: node build-spec.mjs --wasm <file.compact.compressed.wasm> --out <spec.raw.json> [--preset ${DEFAULTS.preset}]
  [--name "${DEFAULTS.name}"] [--id ${DEFAULTS.id}] [--chain-type ${DEFAULTS['chain-type']}]
  [--relay-chain ${DEFAULTS['relay-chain']}] [--para-id ${DEFAULTS['para-id']}]
  [--token-symbol ${DEFAULTS['token-symbol']}] [--token-decimals ${DEFAULTS['token-decimals']}] [--ss58-format ${DEFAULTS['ss58-format']}]
  [--no-preset] (use the runtime's default config instead of a named preset) [--print-config]
  [--allow-unresolved-imports]`;

const die = (msg, code = 1) => {
  process.stderr.write(`build-spec: ${msg}\n`);
  process.exit(code);
};

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      wasm: { type: 'string' },
      out: { type: 'string' },
      preset: { type: 'string' },
      'no-preset': { type: 'boolean', default: false },
      name: { type: 'string' },
      id: { type: 'string' },
      'chain-type': { type: 'string' },
      'relay-chain': { type: 'string' },
      'para-id': { type: 'string' },
      'token-symbol': { type: 'string' },
      'token-decimals': { type: 'string' },
      'ss58-format': { type: 'string' },
      'genesis-timestamp': { type: 'string' },
      'print-config': { type: 'boolean', default: false },
      'allow-unresolved-imports': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (e) {
  die(`${e.message}\n${usage}`, 2);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!args.wasm || !args.out) die(`--wasm and --out are required\n${usage}`, 2);
const opt = (k) => args[k] ?? DEFAULTS[k];
const toInt = (k) => {
  const v = Number(opt(k));
  if (!Number.isInteger(v) || v < 0) die(`--${k} must be a non-negative integer, got ${opt(k)}`, 2);
  return v;
};

// ---------- tiny SCALE helpers (only what the GenesisBuilder API needs) ----------
const hex = (u8) => `0x${Buffer.from(u8).toString('hex')}`;
const unhex = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'));

const encodeCompact = (n) => {
  if (n < 1 << 6) return Uint8Array.of(n << 2);
  if (n < 1 << 14) return Uint8Array.of(((n << 2) | 1) & 0xff, n >> 6);
  if (n < 1 << 30) {
    const v = (n << 2) | 2;
    return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  throw new Error('length too large for this encoder');
};
const decodeCompact = (u8, off) => {
  const mode = u8[off] & 3;
  if (mode === 0) return [u8[off] >> 2, off + 1];
  if (mode === 1) return [(u8[off] | (u8[off + 1] << 8)) >> 2, off + 2];
  if (mode === 2) return [((u8[off] | (u8[off + 1] << 8) | (u8[off + 2] << 16) | (u8[off + 3] << 24)) >>> 2), off + 4];
  throw new Error('big compact lengths are not supported');
};
const encodeBytes = (bytes) => Buffer.concat([encodeCompact(bytes.length), bytes]);
const decodeBytes = (u8, off) => {
  const [len, start] = decodeCompact(u8, off);
  if (start + len > u8.length) throw new Error('truncated SCALE Vec<u8>');
  return [u8.subarray(start, start + len), start + len];
};
const utf8 = (s) => Buffer.from(s, 'utf8');

// ---------- deterministic JSON ----------
const sortKeys = (v) => {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
    return o;
  }
  return v;
};
const stableJson = (v) => `${JSON.stringify(sortKeys(v), null, 2)}\n`;

// JSON merge as done by chain-spec-builder: objects merge recursively, null removes, else replace.
const jsonMerge = (base, patch) => {
  if (patch && typeof patch === 'object' && !Array.isArray(patch) && base && typeof base === 'object' && !Array.isArray(base)) {
    const out = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = jsonMerge(out[k], v);
    }
    return out;
  }
  return patch;
};

// ---------- runtime calls ----------
// Genesis is built on empty storage: every read outside the call's own overlay is "absent".
const emptyStorage = {
  getStorage: async () => undefined,
  getNextKey: async () => undefined,
  offchainGetStorage: async () => undefined,
  offchainTimestamp: async () => Date.now(),
  offchainRandomSeed: async () => `0x${'00'.repeat(32)}`,
  offchainSubmitTransaction: async () => false,
};

const call = async (wasm, method, argHex) => {
  const res = await runTask(
    { wasm, calls: [[method, [argHex]]], mockSignatureHost: false, allowUnresolvedImports: args['allow-unresolved-imports'], runtimeLogLevel: 0 },
    emptyStorage,
  );
  if ('Error' in res) throw new Error(`${method} failed in the runtime: ${res.Error}`);
  return res.Call;
};

const getPreset = async (wasm, id) => {
  // arg: Option<PresetId>, PresetId = Vec<u8>; result: Option<Vec<u8>> (JSON bytes)
  const arg = id == null ? Uint8Array.of(0) : Buffer.concat([Uint8Array.of(1), encodeBytes(utf8(id))]);
  const { result } = await call(wasm, 'GenesisBuilder_get_preset', hex(arg));
  const out = unhex(result);
  if (out[0] === 0) return null;
  if (out[0] !== 1) throw new Error(`unexpected Option tag ${out[0]} from GenesisBuilder_get_preset`);
  const [json] = decodeBytes(out, 1);
  return JSON.parse(Buffer.from(json).toString('utf8'));
};

const presetNames = async (wasm) => {
  // result: Vec<PresetId>; informational only, the API may be absent on old runtimes
  try {
    const { result } = await call(wasm, 'GenesisBuilder_preset_names', '0x');
    const u8 = unhex(result);
    let [n, off] = decodeCompact(u8, 0);
    const names = [];
    while (n-- > 0) {
      let b;
      [b, off] = decodeBytes(u8, off);
      names.push(Buffer.from(b).toString('utf8'));
    }
    return names;
  } catch {
    return null;
  }
};

const buildState = async (wasm, config) => {
  // arg: Vec<u8> (JSON); result: Result<(), String>
  const { result, storageDiff } = await call(wasm, 'GenesisBuilder_build_state', hex(encodeBytes(utf8(JSON.stringify(config)))));
  const out = unhex(result);
  if (out[0] === 1) {
    const [msg] = decodeBytes(out, 1);
    throw new Error(`GenesisBuilder_build_state returned Err: ${Buffer.from(msg).toString('utf8')}`);
  }
  if (out[0] !== 0) throw new Error(`unexpected Result tag ${out[0]} from GenesisBuilder_build_state`);
  return storageDiff;
};

// ---------- main ----------
const main = async () => {
  const wasmPath = resolve(args.wasm);
  let wasmBytes;
  try {
    wasmBytes = readFileSync(wasmPath);
  } catch (e) {
    die(`cannot read wasm ${wasmPath}: ${e.message}`);
  }
  const wasm = hex(wasmBytes);

  const version = await getRuntimeVersion(wasm);
  const presetId = args['no-preset'] ? null : opt('preset');

  const defaults = await getPreset(wasm, null);
  if (defaults == null) throw new Error('GenesisBuilder_get_preset(None) returned None (no default config)');
  let config = defaults;
  if (presetId != null) {
    const patch = await getPreset(wasm, presetId);
    if (patch == null) {
      const names = await presetNames(wasm);
      throw new Error(`the runtime has no genesis preset "${presetId}"${names ? ` (it has: ${names.join(', ') || 'none'})` : ''}`);
    }
    config = jsonMerge(defaults, patch);
  }
  if (args['print-config']) process.stderr.write(stableJson(config));

  const diff = await buildState(wasm, config);
  const top = {};
  for (const [key, value] of diff) {
    if (value == null) continue;
    if (key.startsWith('0x3a6368696c645f73746f726167653a')) {
      // ":child_storage:" — chopsticks' genesis loader does not support child tries
      throw new Error(`genesis writes child storage (${key}); not supported by this tool`);
    }
    top[key] = value;
  }
  top['0x3a636f6465'] = wasm; // ":code"
  const timestampNow = xxhashAsHex('Timestamp', 128) + xxhashAsHex('Now', 128).slice(2);
  const genesisMs = BigInt(opt('genesis-timestamp'));
  const le = Buffer.alloc(8);
  le.writeBigUInt64LE(genesisMs);
  top[timestampNow] ??= hex(le);

  const spec = {
    name: opt('name'),
    id: opt('id'),
    chainType: opt('chain-type'),
    bootNodes: [],
    telemetryEndpoints: null,
    protocolId: null,
    properties: {
      tokenSymbol: opt('token-symbol'),
      tokenDecimals: toInt('token-decimals'),
      ss58Format: toInt('ss58-format'),
    },
    relay_chain: opt('relay-chain'),
    para_id: toInt('para-id'),
    codeSubstitutes: {},
    genesis: { raw: { top, childrenDefault: {} } },
  };

  const out = resolve(args.out);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, stableJson(spec));
  renameSync(tmp, out);

  process.stderr.write(
    `build-spec: ${version.specName} spec_version ${version.specVersion} (state_version ${version.stateVersion}), ` +
      `preset ${presetId ?? '<default>'}: ${Object.keys(top).length} genesis keys, wasm ${wasmBytes.length} bytes -> ${out}\n`,
  );
};

try {
  await main();
} catch (e) {
  process.stderr.write(`build-spec: ERROR: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  await destroyWorker();
}
