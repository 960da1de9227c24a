/**
 * Groups have owners (README "Consumer groups"): the member that joined a shared group first
 * decides its settings. Through the real registry, the Deployer API and runtimes following the
 * registry: what the registry records, what a deploy refuses, and what runtimes load — the same
 * whatever the function names and whichever runtime looks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deployFunctions } from '../../runtime/deploy/deployer.ts';
import { Registry } from '../../runtime/deploy/registry.ts';
import { RegistryFollower } from '../../runtime/drivers/registry-follower.ts';
import { GroupConflictError } from '../../runtime/errors.ts';
import { bundleFunction } from '../../runtime/loading/bundler.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import { Keys, Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Runtimes, followers and publishers to stop while the Redis is still up. */
const stops: (() => Promise<void>)[] = [];
const env = useTestEnv('group-owners', {
  teardown: async () => {
    for (const stop of stops.reverse()) await stop();
  },
});
const silent = createJsonLogger('silent');

/** Writes `functions/<name>.ts` of project `ns`: it logs its name for every event of `pay.*`. */
function write(ns: string, name: string, config: Record<string, unknown>): string {
  const dir = join(env.dir, ns, 'functions');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.ts`);
  writeFileSync(file, `export const config = ${JSON.stringify({ events: ['pay.*'], ...config })};\nexport default async (_e: unknown, ctx: { log: { info(m: string): void } }) => ctx.log.info('${name}');\n`);
  return file;
}

/** Stores a version straight in the registry, past the deploy's check (as a racing deploy can). */
async function force(registry: Registry, ns: string, name: string, config: Record<string, unknown>): Promise<void> {
  const entry = write(ns, name, config);
  await registry.deploy(await bundleFunction({ name, entry }), parseManifest(entry, { events: ['pay.*'], ...config }));
}

const registryOf = (ns: string) => new Registry(env.redis.client(), new Keys(ns));

/** A runtime that runs what the registry of `ns` holds, as fnrun start does. */
async function follow(ns: string): Promise<{ runtime: Runtime; recorder: Recorder; follower: RegistryFollower }> {
  const recorder = new Recorder();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace: ns, partitions: 1, logger: silent, onInvocation: recorder.record });
  await runtime.start();
  const follower = new RegistryFollower(runtime, registryOf(ns), silent);
  await follower.start();
  stops.push(async () => {
    await follower.stop();
    await runtime.stop();
  });
  return { runtime, recorder, follower };
}

const running = (r: Runtime) => r.functions.map((f) => f.name).sort();

test('the registry records when each function joined its group: kept by redeploys in the group, new on a move, a rollback into it, or a remove', async () => {
  const ns = 'join-order';
  const registry = registryOf(ns);
  const order = async () => Object.fromEntries((await registry.list()).map((f) => [f.name, f.joinOrder]));
  await force(registry, ns, 'a', { group: 'g' });
  await force(registry, ns, 'b', { group: 'g' });
  const first = await order();
  assert.ok(first.a! < first.b!, JSON.stringify(first));
  // A new version in the same group keeps its place: b cannot get ahead of a by redeploying.
  await force(registry, ns, 'a', { group: 'g', timeoutMs: 1000 });
  assert.equal((await order()).a, first.a);
  // Moving to another group joins it now; rolling back into g joins g again, after b.
  await force(registry, ns, 'a', { group: 'h' });
  const moved = (await order()).a!;
  assert.ok(moved > first.b!);
  await registry.rollback('a');
  const back = (await order()).a!;
  assert.ok(back > moved);
  // Removed and deployed again: a newcomer.
  await registry.remove('b');
  await force(registry, ns, 'b', { group: 'g' });
  assert.ok((await order()).b! > back);
});

test('deploy: a squatter naming a deployed group with settings that would hold it back is refused, naming both; a member that fits deploys', async () => {
  const ns = 'deploy-owner';
  const registry = registryOf(ns);
  const dir = join(env.dir, ns, 'functions');
  write(ns, 'zz-victim', { group: { name: 'ledger', mode: 'parallel' } });
  assert.deepEqual((await deployFunctions({ dir, registry })).map((r) => r.status), ['changed']);

  // Its name sorts first, so with names deciding it would own the group and refuse the victim.
  write(ns, 'aa-squatter', { group: 'ledger', timeoutMs: 300_000, ordering: 'partition' });
  write(ns, 'mm-fits', { group: { name: 'ledger', mode: 'parallel' }, timeoutMs: 1000 });
  const rows = await deployFunctions({ dir, registry });
  const byName = Object.fromEntries(rows.map((r) => [r.function, r]));
  assert.deepEqual(rows.map((r) => [r.function, r.status]), [['aa-squatter', 'failed'], ['mm-fits', 'changed'], ['zz-victim', 'unchanged']]);
  const error = byName['aa-squatter']!.error!;
  assert.equal(error.code, 'ERR_MANIFEST');
  assert.deepEqual(error.fields!.map((f) => f.path), ['group.mode', 'ordering', 'timeoutMs']);
  for (const f of error.fields!) assert.match(f.message, /function "aa-squatter" .*group "ledger"'s owner "zz-victim"/);
  assert.match(error.message, /^invalid manifest in functions\/aa-squatter\.ts:\n/);
  assert.deepEqual((await registry.list()).map((f) => f.name), ['mm-fits', 'zz-victim']);

  // The owner may change its own settings; a deployed member that no longer fits is named in a warning.
  write(ns, 'zz-victim', { group: { name: 'ledger', mode: 'parallel' }, timeoutMs: 500 });
  rmSync(join(dir, 'aa-squatter.ts'));
  const changed = await deployFunctions({ dir, registry, only: ['zz-victim'] });
  assert.equal(changed[0]!.status, 'changed');
  assert.equal(changed[0]!.warnings.length, 1);
  assert.match(changed[0]!.warnings[0]!, /^deployed function "mm-fits" does not fit this version of group "ledger"'s owner and stops running: timeoutMs: function "mm-fits" has timeoutMs 1000, above the 500 of group "ledger"'s owner "zz-victim"/);
});

test('load: the deployed state decides — a squatter forced into the registry is refused by every runtime, the victim and the members that fit run', async () => {
  const ns = 'load-owner';
  const registry = registryOf(ns);
  await force(registry, ns, 'zz-victim', { group: { name: 'ledger', mode: 'parallel' } });
  await force(registry, ns, 'aa-squatter', { group: 'ledger', timeoutMs: 300_000 });
  await force(registry, ns, 'mm-fits', { group: { name: 'ledger', mode: 'parallel' } });

  const first = await follow(ns);
  const second = await follow(ns);
  for (const { runtime } of [first, second]) {
    assert.deepEqual(running(runtime), ['mm-fits', 'zz-victim']);
    assert.deepEqual(runtime.loadFailures.map((f) => f.name), ['aa-squatter']);
    const error = runtime.loadFailures[0]!.error;
    assert.ok(error instanceof GroupConflictError);
    assert.deepEqual([error.owner, error.group, error.issues.map((i) => i.path)], ['zz-victim', 'ledger', ['group.mode', 'timeoutMs']]);
  }
  // The group runs: one of the two runtimes (unfenced, both on the partition) handles each member's event.
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: ns });
  stops.push(() => publisher.close());
  const { id } = await publisher.publish('pay.made', 'k', {});
  const handled = (fn: string) => [first, second].some(({ recorder }) => recorder.of(fn, 'ok').some((r) => r.eventId === id));
  await waitFor(() => handled('zz-victim') && handled('mm-fits'), { message: 'both members handled the event' });
  assert.equal([first, second].flatMap(({ recorder }) => recorder.of('aa-squatter')).length, 0);
});

test('load: the owner lowers its timeout — a member that no longer fits stops; the owner removed — the next member owns the group', async () => {
  const ns = 'owner-changes';
  const registry = registryOf(ns);
  await force(registry, ns, 'owner', { group: 'g', timeoutMs: 5000 });
  await force(registry, ns, 'second', { group: 'g', timeoutMs: 3000 });
  await force(registry, ns, 'third', { group: 'g', timeoutMs: 4000 });
  const { runtime } = await follow(ns);
  assert.deepEqual(running(runtime), ['owner', 'second', 'third']);

  await force(registry, ns, 'owner', { group: 'g', timeoutMs: 3500 });
  await waitFor(() => runtime.functions.find((f) => f.name === 'owner')?.manifest.timeoutMs === 3500, { message: 'the new owner version runs' });
  assert.deepEqual(running(runtime), ['owner', 'second']);
  assert.deepEqual(runtime.loadFailures.map((f) => [f.name, (f.error as GroupConflictError).owner]), [['third', 'owner']]);

  // second joined before third: it owns the group now, and third (4000 > 3000) still does not fit.
  await registry.remove('owner');
  // third's failure is judged again at the follower's next retry of failed functions (a poll later).
  const ownerOfThird = () => (runtime.loadFailures.find((f) => f.name === 'third')?.error as GroupConflictError | undefined)?.owner;
  await waitFor(() => !running(runtime).includes('owner') && ownerOfThird() === 'second', { message: 'owner removed, third judged again against second' });
  assert.deepEqual(running(runtime), ['second']);
  assert.deepEqual(runtime.loadFailures.map((f) => [f.name, (f.error as GroupConflictError).owner]), [['third', 'second']]);

  // third lowers its timeout to fit: it runs, and its failure is gone.
  await force(registry, ns, 'third', { group: 'g', timeoutMs: 3000 });
  await waitFor(() => running(runtime).includes('third'), { message: 'third runs' });
  assert.deepEqual(runtime.loadFailures, []);
});
