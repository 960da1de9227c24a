/**
 * What the multi-process scenarios share: a folder of functions deployed to a namespace (as
 * `fnrun deploy` does), CPU time of processes from /proc, Redis' own CPU time, and partition
 * progress read from XINFO GROUPS.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { deployFunctions, Keys, Registry } from '../runtime/index.ts';
import { crossSlotPipeline } from '../runtime/redis/pipeline.ts';
import { connectRedis } from '../runtime/redis/redis.ts';
import { parseGroupsInfo } from '../runtime/redis/stream-info.ts';

/** Writes `sources` (name → source) as functions and deploys them; returns the row count. */
export async function deploySources(url: string, namespace: string, partitions: number, sources: Record<string, string>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-deploy-'));
  const functions = join(dir, 'functions');
  mkdirSync(functions);
  for (const [name, source] of Object.entries(sources)) writeFileSync(join(functions, `${name}.ts`), source);
  const redis = await connectRedis(url, 'bench-deploy');
  try {
    const keys = new Keys(namespace);
    const rows = await deployFunctions({ dir: functions, registry: new Registry(redis, keys), streams: { redis, keys, partitions } });
    const failed = rows.filter((r) => r.status === 'failed');
    if (failed.length > 0) throw new Error(`deploy failed: ${JSON.stringify(failed[0]!.error)}`);
    return rows.length;
  } finally {
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

const CLOCK_TICKS_PER_SEC = 100;

/** CPU seconds (user + system) used so far by `pid` and every process descended from it. */
export function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may hold spaces): state ppid … utime(12) stime(13).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
  }
  let ticks = 0;
  for (const [p, s] of stats) {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = stats.get(q)?.ppid) {
      if (q === pid) { ticks += s.ticks; break; }
    }
  }
  return ticks / CLOCK_TICKS_PER_SEC;
}

/** The Redis server's CPU seconds (user + system, all its threads) so far, from INFO cpu. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** Per partition, one consumer group's entries still to settle (lag + pending) and whether it read anything. */
export async function groupProgress(redis: Redis, keys: Keys, partitions: number, group: string): Promise<{ left: number; started: boolean }> {
  const pipeline = crossSlotPipeline(redis);
  for (let p = 0; p < partitions; p++) pipeline.xinfo('GROUPS', keys.partition(p).events);
  let left = 0;
  let started = false;
  for (const [error, reply] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    const g = parseGroupsInfo(reply as unknown[]).find((x) => x.name === group);
    if (g === undefined) return { left: Infinity, started: false };
    left += (g.lag ?? Infinity) + g.pending;
    if (g.entriesRead !== null && g.entriesRead > 0) started = true;
  }
  return { left, started };
}

/** The pid owning each partition's lease (null: unowned); tokens are `<host>:<pid>:<random>|<epoch>`. */
export async function leaseOwners(redis: Redis, keys: Keys, partitions: number): Promise<(number | null)[]> {
  const pipeline = crossSlotPipeline(redis);
  for (let p = 0; p < partitions; p++) pipeline.get(keys.partition(p).lease);
  return ((await pipeline.exec()) ?? []).map(([error, token]) => {
    if (error) throw error;
    if (typeof token !== 'string') return null;
    const parts = token.split('|')[0]!.split(':');
    return Number(parts[parts.length - 2]);
  });
}

/** Every partition leased to one of `pids`, each of them holding at most ceil(P / N). */
export function balancedOver(owners: readonly (number | null)[], pids: readonly number[]): boolean {
  const counts = new Map<number, number>(pids.map((pid) => [pid, 0]));
  for (const owner of owners) {
    if (owner === null || !counts.has(owner)) return false;
    counts.set(owner, counts.get(owner)! + 1);
  }
  const cap = Math.ceil(owners.length / pids.length);
  return [...counts.values()].every((c) => c > 0 && c <= cap);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it holds; resolves with the time it did (ms since the epoch). */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
  return Date.now();
}
