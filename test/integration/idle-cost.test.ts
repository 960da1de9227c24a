/**
 * What an idle runtime costs Redis, counted by Redis itself (INFO commandstats deltas over the
 * same window for each configuration; commands run inside Lua scripts are counted too). Idle
 * workers wait on one blocked XREAD per 16 partitions (sharded-wake-watcher.ts), each blocking as
 * much longer as there are shards, so the count must not grow with functions × partitions; with leases, each heartbeat renews every owned partition's lease (one script per
 * partition), which grows with partitions but not with functions.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('idle-cost', { topology: 'single' });
const WINDOW_MS = 6_000;
const HEARTBEAT_MS = 2_000;

/** Commands only lease renewals and heartbeats run (partition-ownership.ts, its Lua scripts). */
const LEASE_COMMANDS = new Set(['evalsha', 'get', 'pexpire', 'set', 'incr', 'zadd', 'zrange', 'zremrangebyscore', 'time']);

async function commandStats(): Promise<Map<string, number>> {
  const info = await env.redis.client().info('commandstats');
  const out = new Map<string, number>();
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function delta(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, calls] of b) if (calls - (a.get(name) ?? 0) > 0) out.set(name, calls - (a.get(name) ?? 0));
  out.delete('info'); // ours
  return out;
}

/** Resolves once every worker did its first reads: no read ran between two looks 500 ms apart. */
async function untilIdle(): Promise<void> {
  let last = -1;
  await waitFor(async () => {
    const s = await commandStats();
    const reads = (s.get('xreadgroup') ?? 0) + (s.get('xread') ?? 0) + (s.get('xinfo|groups') ?? 0);
    const still = reads === last;
    last = reads;
    return still;
  }, { timeoutMs: 60_000, intervalMs: 500, message: 'the workers went idle' });
}

/** Commands an idle runtime with `functions` × `partitions` sends over WINDOW_MS, by name. */
async function idleCommands(functions: number, partitions: number, leases: boolean): Promise<Map<string, number>> {
  const namespace = `idle-${functions}x${partitions}-${leases ? 'leases' : 'solo'}`;
  const dir = join(env.dir, namespace);
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < functions; f++) writeFileSync(join(dir, `fn${f}.ts`), "export const config = { events: ['idle.*'] };\nexport default async function handler() {}\n");
  const runtime = await Runtime.create({
    redis: env.redis.url, namespace, partitions, functionsDir: dir, logger: createJsonLogger('silent'),
    ...(leases ? { leases: { leaseTtlMs: HEARTBEAT_MS * 5, heartbeatMs: HEARTBEAT_MS } } : {}),
  });
  try {
    await runtime.start();
    assert.deepEqual(runtime.loadFailures, []);
    await untilIdle();
    const before = await commandStats();
    await new Promise((r) => setTimeout(r, WINDOW_MS)); // a measuring window, not a wait for a condition
    return delta(before, await commandStats());
  } finally {
    await runtime.stop();
  }
}

const sum = (m: Map<string, number>, keep: (name: string) => boolean = () => true) => [...m].reduce((n, [name, calls]) => n + (keep(name) ? calls : 0), 0);
const show = (m: Map<string, number>) => JSON.stringify(Object.fromEntries(m));

test('an idle runtime: O(1) commands per window without leases, one lease renewal per partition and heartbeat with them, whatever the functions', async () => {
  const small = await idleCommands(2, 8, false);
  const large = await idleCommands(8, 64, false);
  console.log(`# idle, no leases, per ${WINDOW_MS} ms: 2×8 ${show(small)}; 8×64 ${show(large)}`);
  // One blocked XREAD per 16 partitions, reissued when it times out (every 5 s × the shards: 20 s for 64).
  assert.ok(sum(large) <= 4, `8 functions × 64 partitions: ${sum(large)} commands in ${WINDOW_MS} ms (${show(large)})`);
  assert.ok(sum(large) <= sum(small) + 2, `32× the workers, about the same commands: ${sum(small)} → ${sum(large)}`);

  const fewFns = await idleCommands(2, 64, true);
  const manyFns = await idleCommands(8, 64, true);
  console.log(`# idle, leases (heartbeat ${HEARTBEAT_MS} ms), per ${WINDOW_MS} ms: 2×64 ${show(fewFns)}; 8×64 ${show(manyFns)}`);
  for (const [name, m] of [['2×64', fewFns], ['8×64', manyFns]] as const) {
    const other = sum(m, (c) => !LEASE_COMMANDS.has(c));
    assert.ok(other <= 4, `${name}: besides leases, ${other} commands (${show(m)})`);
    // Each heartbeat round: one script for the member's heartbeat (a ZADD), then, on one server,
    // one script renewing every owned partition's lease (a GET + PEXPIRE each, inside it); rounds
    // in the window: its length over the heartbeat, + 1.
    const rounds = m.get('zadd') ?? 0;
    assert.ok(rounds >= 1 && rounds <= WINDOW_MS / HEARTBEAT_MS + 1, `${name}: ${rounds} heartbeat rounds`);
    assert.ok((m.get('get') ?? 0) <= 64 * (rounds + 1), `${name}: at most one renewal per partition per round (${show(m)})`);
    assert.ok((m.get('evalsha') ?? 0) <= 2 * (rounds + 1), `${name}: two scripts per round, whatever the partitions (${show(m)})`);
  }
});

test('a trickle of events: one read per event, and the wake read is seldom cut short', async () => {
  const namespace = 'trickle';
  const dir = join(env.dir, namespace);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tick.ts'), "export const config = { events: ['idle.*'] };\nexport default async function handler() {}\n");
  let handled = 0;
  const runtime = await Runtime.create({
    redis: env.redis.url, namespace, partitions: 16, functionsDir: dir, logger: createJsonLogger('silent'), onInvocation: () => { handled++; },
  });
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace, partitions: 16 });
  try {
    await runtime.start();
    await untilIdle();
    const before = await commandStats();
    const events = 40;
    // One at a time, each once handled: every event finds its worker waiting on the wake read.
    for (let i = 0; i < events; i++) {
      await publisher.publish('idle.tick', `k${i}`, { i });
      await waitFor(() => handled === i + 1, { message: `event ${i} handled` });
    }
    const d = delta(before, await commandStats());
    console.log(`# ${events} events one at a time: ${show(d)}`);
    // A read that comes back short is not followed by an empty one: one read per event (was two).
    assert.ok((d.get('xreadgroup') ?? 0) <= events * 1.25, `${d.get('xreadgroup')} reads for ${events} events (${show(d)})`);
    // A woken partition stays in the wake read until its worker waits again: no CLIENT UNBLOCK and
    // reissued XREAD per event (was one each), only when another event lands on it meanwhile.
    assert.ok((d.get('client|unblock') ?? 0) <= events / 4, `${d.get('client|unblock')} CLIENT UNBLOCKs for ${events} events (${show(d)})`);
  } finally {
    await publisher.close();
    await runtime.stop();
  }
});
