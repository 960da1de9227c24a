/**
 * Per test file: a private Redis and a temp dir, created before the first test and removed after
 * the last. Read `env.redis` inside tests (it exists once `before` ran); `env.dir` exists at once.
 *
 * `FNRUN_TEST_TOPOLOGY=cluster` runs the same file against a private 3-master Redis Cluster
 * instead of one redis-server: `env.redis.url` is then a `redis+cluster://` URL and
 * `env.redis.client()` an ioredis Cluster. Files that restart or kill Redis (or need its socket)
 * pass `{ topology: 'single' }` and always get one server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { startRedisCluster } from './redis-cluster.ts';
import { startRedis, type TestRedis } from './redis-server.ts';

export type Topology = 'single' | 'cluster';

/** What every topology offers. */
export interface TestRedisHandle {
  readonly url: string;
  /** A fresh client; closed at the end of the file. */
  client(): Redis;
}

export interface TestEnv<R extends TestRedisHandle = TestRedisHandle> {
  readonly redis: R;
  readonly dir: string;
}

/** The topology tests run against, from FNRUN_TEST_TOPOLOGY (default `single`). */
export function testTopology(): Topology {
  const value = process.env.FNRUN_TEST_TOPOLOGY ?? 'single';
  if (value !== 'single' && value !== 'cluster') throw new Error(`FNRUN_TEST_TOPOLOGY must be single or cluster, got ${value}`);
  return value;
}

/**
 * Setup and teardown that need the Redis: run inside this helper's own hooks, in order (node:test
 * does not wait for one file-level `before` before starting the next).
 */
interface Lifecycle {
  /** After the Redis is up, before the first test. */
  setup?: (redis: TestRedisHandle) => Promise<void>;
  /** After the last test, while the Redis is still up. */
  teardown?: () => Promise<void>;
}

export function useTestEnv(prefix: string, opts: { appendonly?: boolean; topology: 'single' } & Lifecycle): TestEnv<TestRedis>;
export function useTestEnv(prefix: string, opts?: { appendonly?: boolean } & Lifecycle): TestEnv;
export function useTestEnv(prefix: string, opts: { appendonly?: boolean; topology?: 'single' } & Lifecycle = {}): TestEnv {
  const topology = opts.topology ?? testTopology();
  let redis: (TestRedisHandle & { stop(): Promise<void> }) | null = null;
  // Made now, so a file's own setup can use it whatever order hooks run in.
  const dir = mkdtempSync(join(tmpdir(), `fnrun-${prefix}-`));
  let baseline: Map<string, number> | null = null;
  before(async () => {
    baseline = leakableResources();
    redis = topology === 'cluster' ? await startRedisCluster() : await startRedis(opts);
    await opts.setup?.(redis);
  });
  after(async () => {
    try {
      await opts.teardown?.();
    } finally {
      await redis?.stop();
    }
    rmSync(dir, { recursive: true, force: true });
    failIfStillRunning(baseline ?? new Map());
  });
  return {
    get redis() {
      if (!redis) throw new Error('useTestEnv: redis is not started yet (use it inside a test)');
      return redis;
    },
    dir,
  };
}

/** Resources that keep a process alive and that a test can forget: timers, sockets, child processes. */
const LEAKABLE = new Set(['Timeout', 'Immediate', 'TCPSocketWrap', 'TCPWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'ProcessWrap', 'UDPWrap', 'FSEventWrap', 'StatWatcher']);

function leakableResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) if (LEAKABLE.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** What runs now that did not at `baseline` ("Timeout ×2", …). */
function leftSince(baseline: Map<string, number>): string[] {
  return [...leakableResources()].filter(([kind, n]) => n > (baseline.get(kind) ?? 0)).map(([kind, n]) => `${kind} ×${n - (baseline.get(kind) ?? 0)}`);
}

/**
 * Resolves when nothing started since `baseline` runs any more (closing is asynchronous, so it
 * waits up to `graceMs`); rejects naming what still runs.
 */
export async function assertNoLeaks(baseline: Map<string, number>, graceMs = 3000): Promise<void> {
  const deadline = Date.now() + graceMs;
  let left = leftSince(baseline);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = leftSince(baseline);
  }
  if (left.length > 0) throw new Error(`left running after the last test: ${left.join(', ')} (a runtime, client, server or timer a test started was not stopped)`);
}

/**
 * The leak check of a test file: called from the helper's `after`, which may run before the file's
 * own `after` hooks, so it cannot judge yet. A file whose tests and hooks stopped everything they
 * started exits at once; one that left a timer, socket, server or child process running would
 * hang, so after `graceMs` this names what is left and exits 1, which fails the file.
 */
export function failIfStillRunning(baseline: Map<string, number>, graceMs = 5000): void {
  setTimeout(() => {
    const left = leftSince(baseline);
    process.stderr.write(`test file left running after its last test and hooks: ${left.join(', ') || 'something unlisted'} (a runtime, client, server or timer a test started was not stopped)\n`);
    process.exit(1);
  }, graceMs).unref();
}
