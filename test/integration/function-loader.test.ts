/**
 * loadFunction with a real sandbox and real bundles: one load per function unless its manifest asks
 * for limits or environment values other than the defaults, and the isolate that stays loaded always
 * runs with the manifest's; a deployed version loads lazily, once, with its stored manifest.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bundleFunction, type FunctionBundle } from '../../runtime/loading/bundler.ts';
import { EnvAccess } from '../../runtime/loading/env-policy.ts';
import { loadFunction } from '../../runtime/loading/function-loader.ts';
import { SandboxHost, type LoadSpec } from '../../runtime/sandbox/host/host.ts';

const dir = mkdtempSync(join(tmpdir(), 'fnrun-loader-'));
const sandbox = new SandboxHost();
/** What the loader asked the (real) sandbox to load, in order. */
const loads: LoadSpec[] = [];
const load = sandbox.load.bind(sandbox);
sandbox.load = (spec) => {
  loads.push(spec);
  return load(spec);
};

before(() => sandbox.start());
after(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function bundleOf(name: string, config: string): Promise<FunctionBundle> {
  const entry = join(dir, `${name}.ts`);
  writeFileSync(entry, `export const config = ${config};\nexport default async function handler() {}\n`);
  return bundleFunction({ name, entry, root: dir });
}

async function loadedIds(): Promise<string[]> {
  return (await sandbox.status()).loaded;
}

test('a function with the default limits and no env is loaded once', async () => {
  loads.length = 0;
  const handle = await loadFunction(sandbox, await bundleOf('plain', "{ events: ['a.b'] }"), 'v1', new EnvAccess({ env: {}, allowEnv: ['*'] }));
  assert.equal(loads.length, 1);
  assert.deepEqual(loads[0]!.limits, { timeoutMs: handle.manifest.timeoutMs, memoryMb: handle.manifest.memoryMb, instances: 1 });
  assert.ok((await loadedIds()).includes(handle.sandboxId));
});

test('a function asking for other limits or env values is loaded again with them; only that isolate stays', async () => {
  loads.length = 0;
  const handle = await loadFunction(sandbox, await bundleOf('tuned', "{ events: ['a.b'], timeoutMs: 1234, memoryMb: 48, env: ['REGION', 'ABSENT'] }"), 'v1', new EnvAccess({ env: { REGION: 'eu', OTHER: 'x' }, allowEnv: ['*'] }));
  assert.equal(loads.length, 2);
  assert.deepEqual(loads[1]!.limits, { timeoutMs: 1234, memoryMb: 48, instances: 1 });
  assert.deepEqual(loads[1]!.env, { REGION: 'eu' }, 'only declared names, only those set');
  const ids = await loadedIds();
  assert.ok(ids.includes(handle.sandboxId));
  assert.ok(!ids.includes(loads[0]!.id), 'the first isolate was unloaded');
});

test('a deployed version loads once, lazily, with its stored manifest: its limits and env, no isolate before its first event', async () => {
  const bundle = await bundleOf('deployed', "{ events: ['a.b'], timeoutMs: 2000, env: ['REGION'] }");
  loads.length = 0;
  const probe = await loadFunction(sandbox, bundle, 'v0', new EnvAccess({ env: { REGION: 'eu' }, allowEnv: ['*'] }));
  loads.length = 0;
  const handle = await loadFunction(sandbox, { ...bundle, manifest: probe.manifest }, 'v1', new EnvAccess({ env: { REGION: 'eu' }, allowEnv: ['*'] }));
  assert.equal(loads.length, 1, 'the stored manifest gave the right limits and env at once');
  assert.equal(loads[0]!.lazy, true);
  assert.deepEqual(loads[0]!.limits.timeoutMs, 2000);
  assert.deepEqual(loads[0]!.env, { REGION: 'eu' });
  assert.equal(handle.manifest.timeoutMs, 2000);
  assert.ok((await loadedIds()).includes(handle.sandboxId));
  assert.equal((await sandbox.status()).heapUsedBytes[handle.sandboxId], undefined, 'no isolate booted');

  // The stored manifest is what runs: it is what the deploy validated and recorded.
  const stored = { ...probe.manifest, timeoutMs: 9000 };
  assert.equal((await loadFunction(sandbox, { ...bundle, manifest: stored }, 'v2', new EnvAccess({ env: {}, allowEnv: ['*'] }))).manifest.timeoutMs, 9000);
});

test('a bad manifest leaves nothing loaded', async () => {
  loads.length = 0;
  await assert.rejects(loadFunction(sandbox, await bundleOf('bad', "{ events: ['a.b'], timeoutMs: -1 }"), 'v1', new EnvAccess({ env: {}, allowEnv: ['*'] })), /timeoutMs/);
  assert.equal(loads.length, 1);
  assert.ok(!(await loadedIds()).includes(loads[0]!.id));
});
