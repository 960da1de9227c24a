/**
 * Signals as terminals and service managers send them: to the process group (Ctrl-C), to the
 * process alone, and SIGKILL. The sandbox child and the embedded Redis run in process groups of
 * their own, so a Ctrl-C reaches only fnrun, which finishes what is in flight; and they still do
 * not outlive it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { embeddedDataDir } from '../../cli/embedded-redis.ts';
import { findSocket } from '../../cli/embedded-socket.ts';
import { consumerGroupName } from '../../runtime/redis/consumer-groups.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { Publisher } from '../../runtime/index.ts';
import { CLI } from '../helpers/cli.ts';
import { commandLine, descendantsOf, GroupProcess, isAlive, sandboxChildOf } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('signals', { topology: 'single' });
const PARTITIONS = 4;

const SLOW = `export const config = { events: ['slow.run'], retry: { attempts: 3, initialDelayMs: 100 } };
export default async function handler(event: { data: { i: number } }, ctx: { log: { info(...a: unknown[]): void } }) {
  await new Promise((resolve) => setTimeout(resolve, 2000));
  ctx.log.info('finished', event.data.i);
}
`;

interface Invocation { kind: string; function: string; eventId: string; partition: number; status: string; attempt: number; error?: { name: string } }

function project(name: string): string {
  const dir = join(env.dir, name);
  mkdirSync(join(dir, 'functions'), { recursive: true });
  writeFileSync(join(dir, 'functions', 'slow.ts'), SLOW);
  return dir;
}

function dev(cwd: string, redis: string): GroupProcess {
  return new GroupProcess(process.execPath, [CLI, 'dev', '--redis', redis, '--partitions', String(PARTITIONS), '--log', 'json'], { cwd });
}

async function pending(redis: Redis): Promise<number> {
  const keys = new Keys('fnrun');
  let total = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const summary = await redis.xpending(keys.partition(p).events, consumerGroupName('function', 'slow')).catch(() => [0]);
    total += Number((summary as unknown[])[0] ?? 0);
  }
  return total;
}

test('Ctrl-C on fnrun dev (SIGINT to its process group) finishes the invocations in flight: each ran once, on its first attempt', async () => {
  const cwd = project('ctrl-c');
  // The embedded Redis, as `fnrun dev` runs by default: it too must outlive the Ctrl-C until the drain is over.
  const first = dev(cwd, 'embedded');
  let redis: Redis | null = null;
  try {
    await first.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded');
    const socket = findSocket(embeddedDataDir(cwd));
    assert.ok(socket !== null, 'the embedded Redis recorded its socket');
    const sandbox = await sandboxChildOf(first.pid);
    const redisServer = descendantsOf(first.pid).find((pid) => commandLine(pid)?.some((a) => a.includes('redis-server')));
    assert.ok(redisServer !== undefined, 'the embedded redis-server runs under fnrun dev');
    redis = new Redis({ path: socket, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    const publisher = await Publisher.connect({ redis: `unix://${socket}` });
    const published = await publisher.publishBatch([0, 1, 2, 3].map((i) => ({ type: 'slow.run', key: `k${i}`, data: { i } })));
    await publisher.close();
    // Delivered to the sandbox and not settled: in flight (each handler takes 2 s).
    await waitFor(async () => (await pending(redis!)) === published.length, { timeoutMs: 30_000, message: 'all four events in flight' });
    redis.disconnect();
    redis = null;

    first.signalGroup('SIGINT');
    const exit = await first.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `fnrun dev exits 0 after the drain; stderr: ${first.stderr}`);
    const runs = first.json<Invocation>().filter((l) => l.kind === 'invocation');
    assert.deepEqual(runs.map((r) => [r.status, r.attempt, r.error?.name ?? null]), published.map(() => ['ok', 1, null]), 'every event in flight finished ok on attempt 1');
    assert.deepEqual(new Set(runs.map((r) => `${r.partition}/${r.eventId}`)), new Set(published.map((p) => `${p.partition}/${p.id}`)));
    await waitFor(() => !isAlive(sandbox.pid) && !isAlive(redisServer), { timeoutMs: 10_000, message: 'the sandbox child and redis-server stopped with fnrun dev' });

    // Nothing was left pending: a second run reads pending entries before new ones, and runs only
    // the new event.
    const second = dev(cwd, 'embedded');
    try {
      await second.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded again');
      const marker = await Publisher.connect({ redis: `unix://${socket}` });
      const [next] = await marker.publishBatch([{ type: 'slow.run', key: 'k0', data: { i: 99 } }]);
      await marker.close();
      await waitFor(() => second.json<Invocation>().some((l) => l.kind === 'invocation' && l.eventId === next!.id), { timeoutMs: 30_000, message: 'the new event ran' });
      assert.deepEqual(second.json<Invocation>().filter((l) => l.kind === 'invocation').map((l) => l.eventId), [next!.id], 'no event ran twice');
      second.signalGroup('SIGINT');
      assert.equal((await second.exited).code, 0);
    } finally {
      await second.kill();
    }
  } finally {
    redis?.disconnect();
    await first.kill();
  }
});

test('SIGTERM to every process at once (systemd\'s default KillMode=control-group) still finishes the invocations in flight', async () => {
  const cwd = project('control-group');
  const proc = dev(cwd, env.redis.url);
  const redis = new Redis(env.redis.url, { maxRetriesPerRequest: 1 });
  try {
    await proc.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded');
    const sandbox = await sandboxChildOf(proc.pid);
    const publisher = await Publisher.connect({ redis: env.redis.url });
    const published = await publisher.publishBatch([0, 1, 2, 3].map((i) => ({ type: 'slow.run', key: `cg${i}`, data: { i } })));
    await publisher.close();
    await waitFor(async () => (await pending(redis)) === published.length, { timeoutMs: 30_000, message: 'all four events in flight' });
    proc.signal('SIGTERM');
    process.kill(sandbox.pid, 'SIGTERM');
    assert.deepEqual(await proc.exited, { code: 0, signal: null }, `fnrun dev exits 0 after the drain; stderr: ${proc.stderr}`);
    const runs = proc.json<Invocation>().filter((l) => l.kind === 'invocation');
    assert.deepEqual(runs.map((r) => [r.status, r.attempt]), published.map(() => ['ok', 1]), 'every event in flight finished on attempt 1');
    assert.ok(!proc.lines.some((l) => l.includes('sandbox process replaced')), `the sandbox outlived the signal (no restart): ${proc.lines.filter((l) => l.includes('sandbox')).join('\n')}`);
    assert.equal(await pending(redis), 0, 'nothing left pending');
    await waitFor(() => !isAlive(sandbox.pid), { timeoutMs: 10_000, message: 'the sandbox stopped with fnrun' });
  } finally {
    redis.disconnect();
    await proc.kill();
  }
});

test('a SIGKILLed fnrun leaves no sandbox process behind', async () => {
  const cwd = project('sigkill');
  const proc = dev(cwd, env.redis.url);
  try {
    await proc.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded');
    const sandbox = await sandboxChildOf(proc.pid);
    assert.ok(sandbox.argv.includes('--no-node-snapshot'), sandbox.argv.join(' '));
    proc.signal('SIGKILL');
    await proc.exited;
    // Not killed with the group (it has its own): it ends itself when its IPC channel closes.
    await waitFor(() => !isAlive(sandbox.pid), { timeoutMs: 10_000, message: `the orphaned sandbox process ${sandbox.pid} exits` });
  } finally {
    await proc.kill();
  }
});

test('the embedded Redis a SIGKILLed fnrun dev left running is stopped by the next fnrun dev, which starts its own on the same data', async () => {
  const cwd = project('orphan');
  const first = dev(cwd, 'embedded');
  let second: GroupProcess | null = null;
  let orphan: number | undefined;
  try {
    await first.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded');
    orphan = descendantsOf(first.pid).find((pid) => commandLine(pid)?.some((a) => a.includes('redis-server')));
    assert.ok(orphan !== undefined, 'the embedded redis-server runs under fnrun dev');
    const socket = findSocket(embeddedDataDir(cwd))!;
    const before = new Redis({ path: socket });
    await before.set('orphan-marker', 'kept');
    before.disconnect();
    first.signal('SIGKILL');
    await first.exited;
    assert.ok(isAlive(orphan), 'the server outlives a SIGKILLed fnrun dev (its own process group)');

    second = dev(cwd, 'embedded');
    await second.waitForLine((l) => l.includes('"kind":"loaded"'), 'slow loaded by the second fnrun dev');
    assert.ok(second.json<{ kind?: string; message?: string }>().some((l) => l.kind === 'warning' && l.message?.includes('an earlier fnrun dev left running')), second.lines.join('\n'));
    await waitFor(() => !isAlive(orphan!), { timeoutMs: 10_000, message: 'the orphaned server stopped' });
    const after = new Redis({ path: findSocket(embeddedDataDir(cwd))! });
    assert.equal(await after.get('orphan-marker'), 'kept', 'its data is kept');
    after.disconnect();
    second.signalGroup('SIGINT');
    assert.equal((await second.exited).code, 0);
  } finally {
    await first.kill();
    await second?.kill();
    if (orphan !== undefined && isAlive(orphan)) process.kill(orphan, 'SIGKILL');
  }
});

test('fnrun start exits 0 on SIGTERM to its process group, as on SIGTERM to the process', async () => {
  const cwd = project('start');
  const common = ['--redis', env.redis.url, '--namespace', 'signals-start', '--partitions', String(PARTITIONS)];
  for (const to of ['group', 'process'] as const) {
    const start = new GroupProcess(process.execPath, [CLI, 'start', ...common], { cwd });
    try {
      await start.waitForLine((l) => l.includes('fnrun start: ready'), 'ready');
      const sandbox = await sandboxChildOf(start.pid);
      if (to === 'group') start.signalGroup('SIGTERM');
      else start.signal('SIGTERM');
      assert.deepEqual(await start.exited, { code: 0, signal: null }, `SIGTERM to the ${to}: ${start.stderr}`);
      assert.ok(start.lines.some((l) => l.includes('stopping: finishing the invocations in flight')));
      await waitFor(() => !isAlive(sandbox.pid), { timeoutMs: 10_000, message: 'sandbox stopped' });
    } finally {
      await start.kill();
    }
  }
});
