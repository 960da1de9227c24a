import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { FunctionBundle } from '../../runtime/loading/bundler.ts';
import { NotFoundError } from '../../runtime/errors.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import { KEPT_VERSIONS, Registry } from '../../runtime/deploy/registry.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('registry');

/** A unique namespace per test, like BullMQ's unique queue names. */
let namespaces = 0;
const registryIn = (client = env.redis.client()) => {
  const keys = new Keys(`reg${++namespaces}`);
  return { registry: new Registry(client, keys), keys };
};

/** The registry stores bundles as data: a synthetic one per code text is enough here. */
function bundle(name: string, code: string): FunctionBundle {
  const sourceMap = JSON.stringify({ version: 3, sources: [`functions/${name}.ts`], mappings: '' });
  const hash = createHash('sha256').update(code).update(sourceMap).digest('hex');
  return { name, entry: `functions/${name}.ts`, code, sourceMap, filename: `fnrun:///functions/${name}.js`, hash, warnings: [] };
}
const manifest = parseManifest('test.ts', { events: ['post.created'] });

test('deploy gives version 1, an identical bundle is unchanged, changed code gives version 2', async () => {
  const { registry } = registryIn();
  assert.deepEqual(await registry.deploy(bundle('hello', 'v1'), manifest), { name: 'hello', status: 'changed', from: null, to: 1 });
  assert.deepEqual(await registry.deploy(bundle('hello', 'v1'), manifest), { name: 'hello', status: 'unchanged', from: 1, to: 1 });
  assert.deepEqual(await registry.deploy(bundle('hello', 'v2'), manifest), { name: 'hello', status: 'changed', from: 1, to: 2 });

  const [summary] = await registry.list();
  assert.equal(summary!.name, 'hello');
  assert.equal(summary!.active, 2);
  assert.deepEqual(summary!.versions, [2, 1]);
  assert.equal(summary!.hash, bundle('hello', 'v2').hash);
  assert.deepEqual(summary!.manifest, manifest);

  const active = await registry.active('hello');
  const b = bundle('hello', 'v2');
  assert.deepEqual({ ...active!, deployedAt: 0 }, {
    name: 'hello', version: 2, hash: b.hash, code: 'v2', sourceMap: b.sourceMap, filename: b.filename, entry: b.entry, manifest, deployedAt: 0,
  });
  assert.equal((await registry.get('hello', 1))!.code, 'v1');
  assert.equal(await registry.get('hello', 3), null);
  assert.equal(await registry.active('nope'), null);
});

test('actives reads the active versions of many functions in one call, null for those not deployed', async () => {
  const { registry } = registryIn();
  const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
  for (const name of names) await registry.deploy(bundle(name, `code of ${name}`), manifest);
  await registry.deploy(bundle('many-3', 'newer'), manifest);
  const read = await registry.actives([...names, 'never-deployed']);
  assert.deepEqual(read.map((v) => v?.code ?? null), [...names.map((n) => (n === 'many-3' ? 'newer' : `code of ${n}`)), null]);
  assert.deepEqual(read[3], await registry.active('many-3'));
  assert.equal(read[3]!.version, 2);
});

test('rollback: to the previous version by default, to an explicit one, NotFoundError when absent', async () => {
  const { registry } = registryIn();
  for (const code of ['a', 'b', 'c']) await registry.deploy(bundle('fn', code), manifest);
  assert.deepEqual(await registry.rollback('fn'), { from: 3, to: 2 });
  assert.equal((await registry.active('fn'))!.code, 'b');
  assert.deepEqual(await registry.rollback('fn'), { from: 2, to: 1 });
  await assert.rejects(registry.rollback('fn'), (e) => e instanceof NotFoundError && /no version older than the active version 1/.test(e.message));
  assert.deepEqual(await registry.rollback('fn', 3), { from: 1, to: 3 });
  assert.equal((await registry.active('fn'))!.code, 'c');
  await assert.rejects(registry.rollback('fn', 9), (e) => e instanceof NotFoundError && /no version 9 \(kept: 3, 2, 1\)/.test(e.message));
  await assert.rejects(registry.rollback('ghost'), NotFoundError);
  // Versions are never renumbered: the history is unchanged by rollbacks.
  assert.deepEqual((await registry.list())[0]!.versions, [3, 2, 1]);
  // After a rollback, deploying the active code again is unchanged; other code is a new version.
  await registry.rollback('fn', 1);
  assert.equal((await registry.deploy(bundle('fn', 'a'), manifest)).status, 'unchanged');
  assert.deepEqual(await registry.deploy(bundle('fn', 'c'), manifest), { name: 'fn', status: 'changed', from: 1, to: 4 });
});

test(`history keeps the last ${KEPT_VERSIONS} versions and deletes the data of older ones`, async () => {
  const { registry, keys } = registryIn();
  const total = KEPT_VERSIONS + 3;
  for (let i = 1; i <= total; i++) await registry.deploy(bundle('busy', `code ${i}`), manifest);
  const [summary] = await registry.list();
  const kept = Array.from({ length: KEPT_VERSIONS }, (_, i) => total - i);
  assert.deepEqual(summary!.versions, kept);
  for (let v = 1; v <= total - KEPT_VERSIONS; v++) assert.equal(await registry.get('busy', v), null, `version ${v} deleted`);
  const fields = await env.redis.client().hkeys(keys.fn('busy').versions);
  assert.equal(fields.length, KEPT_VERSIONS * 4, 'no data of deleted versions is left');
  assert.ok(fields.every((f) => kept.includes(Number(f.split(':')[0]))));
});

test('remove deletes every version and the name; a removed function can be deployed again from version 1', async () => {
  const { registry, keys } = registryIn();
  await registry.deploy(bundle('gone', 'x'), manifest);
  await registry.deploy(bundle('kept', 'y'), manifest);
  assert.equal(await registry.remove('gone'), true);
  assert.equal(await registry.remove('gone'), false);
  assert.deepEqual((await registry.list()).map((f) => f.name), ['kept']);
  assert.equal(await registry.active('gone'), null);
  const client = env.redis.client();
  assert.equal(await client.exists(keys.fn('gone').head, keys.fn('gone').history, keys.fn('gone').versions), 0);
  assert.deepEqual(await client.smembers(keys.functionNames), ['kept']);
  assert.equal((await registry.deploy(bundle('gone', 'x'), manifest)).to, 1);
});

test('a name listed without an active version counts as absent', async () => {
  const { registry, keys } = registryIn();
  await env.redis.client().sadd(keys.functionNames, 'half-deployed');
  assert.deepEqual(await registry.list(), []);
});

test('the epoch changes on every change and only then', async () => {
  const { registry } = registryIn();
  const seen = [await registry.epoch()];
  const changed = async (what: string, change: () => Promise<unknown>, expectChange = true) => {
    await change();
    const epoch = await registry.epoch();
    if (expectChange) assert.ok(!seen.includes(epoch), `${what} changes the epoch`);
    else assert.equal(epoch, seen.at(-1), `${what} leaves the epoch`);
    seen.push(epoch);
  };
  await changed('first deploy', () => registry.deploy(bundle('e', '1'), manifest));
  await changed('unchanged deploy', () => registry.deploy(bundle('e', '1'), manifest), false);
  await changed('new version', () => registry.deploy(bundle('e', '2'), manifest));
  await changed('rollback', () => registry.rollback('e'));
  await changed('rollback to the active version', () => registry.rollback('e', 1), false);
  await changed('remove', () => registry.remove('e'));
  await changed('remove of an absent function', () => registry.remove('e'), false);
});

test('invalid names and versions are refused before touching Redis', async () => {
  const { registry } = registryIn();
  await assert.rejects(registry.deploy(bundle('Bad{x}', 'x'), manifest), /invalid function name/);
  await assert.rejects(registry.get('ok', 0), /invalid version/);
});

test('10 deploys racing on separate connections leave a consistent registry', async () => {
  const keys = new Keys(`race${++namespaces}`);
  const clients = Array.from({ length: 10 }, () => env.redis.client());
  const registries = clients.map((c) => new Registry(c, keys));
  // Ten different bundles of one function, and ten copies of one bundle of another.
  const results = await Promise.all(registries.flatMap((r, i) => [
    r.deploy(bundle('contended', `code ${i}`), manifest),
    r.deploy(bundle('same', 'same code'), manifest),
  ]));

  const contended = results.filter((r) => r.name === 'contended');
  assert.deepEqual(contended.map((r) => r.to).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'each got its own version');
  assert.ok(contended.every((r) => r.status === 'changed'));
  const same = results.filter((r) => r.name === 'same');
  assert.equal(same.filter((r) => r.status === 'changed').length, 1, 'one identical bundle stored, the rest unchanged');
  assert.ok(same.every((r) => r.to === 1));

  const registry = registries[0]!;
  const summaries = await registry.list();
  assert.deepEqual(summaries.map((s) => s.name), ['contended', 'same']);
  const [c] = summaries;
  assert.deepEqual(c!.versions, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 'versions are contiguous');
  assert.equal(c!.active, 10, 'the last to land is active');
  const active = await registry.active('contended');
  assert.equal(active!.version, 10);
  assert.equal(active!.hash, c!.hash);
  const codes = new Set<string>();
  for (const v of c!.versions) {
    const stored = await registry.get('contended', v);
    assert.ok(stored, `version ${v} stored`);
    const expected = bundle('contended', stored.code);
    assert.equal(stored.hash, expected.hash, `version ${v} is complete and its parts belong together`);
    assert.equal(stored.sourceMap, expected.sourceMap);
    codes.add(stored.code);
  }
  assert.equal(codes.size, 10, 'every racing bundle landed');
  assert.equal(await registry.epoch(), 11, 'one epoch step per change');
});

test('a remove racing with deploys never leaves a deployed function unlisted', async () => {
  const keys = new Keys(`race${++namespaces}`);
  const registries = Array.from({ length: 6 }, () => new Registry(env.redis.client(), keys));
  const pingers = registries.map(() => env.redis.client());
  // Removes start 0, 1 or 2 round trips after the deploys, so that their steps interleave in
  // every order (a remove's SREM can land after a deploy's last SADD).
  const later = async (i: number, round: number) => {
    for (let n = 0; n < (round + i) % 3; n++) await pingers[i]!.ping();
  };
  for (let round = 0; round < 100; round++) {
    await Promise.all(registries.map(async (r, i) => {
      if (i % 2 === 1) return r.deploy(bundle('flip', `r${round} ${i}`), manifest);
      await later(i, round);
      return r.remove('flip');
    }));
    const deployed = (await registries[0]!.active('flip')) !== null;
    assert.equal((await registries[0]!.list()).some((f) => f.name === 'flip'), deployed, `round ${round}: listed iff deployed`);
  }
});
