/**
 * Scenario (9), idle: what a runtime with many functions and partitions and nothing to do costs
 * Redis. The runtime starts, its workers do their first reads, and once no read has run for half a
 * second the window opens: every command Redis executes for it is counted with MONITOR (which
 * names the client of each command, `lua` for those a script runs), over `windowMs`.
 *
 * Modes: `solo` is a `Runtime` working on every partition (no leases); `leases` the same with
 * leases (`fnrun start`'s ownership: one renewal script per owned partition per heartbeat);
 * `start` the real `fnrun start` (leases, the registry follower's epoch poll, the live surface).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLogger, Runtime } from '../runtime/index.ts';
import { connectRedis, type Redis } from '../runtime/redis/redis.ts';
import { CLI } from '../test/helpers/cli.ts';
import { deploySources, sleep, until } from './deployment.ts';

export type IdleMode = 'solo' | 'leases' | 'start';

export interface IdleArgs {
  url: string;
  namespace: string;
  partitions: number;
  functions: number;
  mode: IdleMode;
  windowMs: number;
}

export interface IdleResult {
  /** Commands sent by the runtime (round trips, whatever a script then runs), per second. */
  commandsPerSec: number;
  /** Of those, script calls (EVALSHA) per second. */
  scriptsPerSec: number;
  /** Commands run inside those scripts, per second (Redis' INFO commandstats counts these too). */
  inScriptsPerSec: number;
  /** Commands by name over the window (in scripts prefixed `lua:`). */
  byCommand: Record<string, number>;
}

const FUNCTION = "export const config = { events: ['idle.*'] };\nexport default async function handler() {}\n";

/** Reads (and XINFO) executed so far, from INFO commandstats: stable once the workers are idle. */
async function reads(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(xreadgroup|xread|xinfo\|groups|xinfo\|stream):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

export async function measure({ url, namespace, partitions, functions, mode, windowMs }: IdleArgs): Promise<IdleResult> {
  const redis = await connectRedis(url, 'bench-idle');
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-idle-'));
  const sources = Object.fromEntries(Array.from({ length: functions }, (_, i) => [`fn${String(i).padStart(2, '0')}`, FUNCTION]));
  let stop: () => Promise<void>;
  if (mode === 'start') {
    await deploySources(url, namespace, partitions, sources);
    const child = spawn(process.execPath, [CLI, 'start', '--redis', url, '--namespace', namespace, '--partitions', String(partitions)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, FNRUN_UI_PORT: '0' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.resume();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await until('fnrun start is ready', 120_000, () => {
      if (child.exitCode !== null) throw new Error(`fnrun start exited: ${out.slice(-2000)}`);
      return out.includes('fnrun start: ready');
    });
    stop = async () => { child.kill('SIGTERM'); await exited; };
  } else {
    mkdirSync(join(dir, 'functions'));
    for (const [name, source] of Object.entries(sources)) writeFileSync(join(dir, 'functions', `${name}.ts`), source);
    const runtime = await Runtime.create({ redis: url, namespace, partitions, functionsDir: join(dir, 'functions'), logger: createJsonLogger('silent'), ...(mode === 'leases' ? { leases: true } : {}) });
    await runtime.start();
    if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
    stop = () => runtime.stop();
  }
  try {
    let last = -1;
    await until('the workers are idle', 120_000, async () => {
      await sleep(500);
      const n = await reads(redis);
      const idle = n === last;
      last = n;
      return idle;
    });
    const monitor = await redis.duplicate().monitor();
    const counts = new Map<string, number>();
    let top = 0;
    let scripts = 0;
    let inScripts = 0;
    let counting = true;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!counting) return;
      const name = String(args[0]).toLowerCase();
      if (name === 'info' || name === 'monitor') return; // the bench's own
      const lua = source === 'lua';
      const label = lua ? `lua:${name}` : name;
      counts.set(label, (counts.get(label) ?? 0) + 1);
      if (lua) inScripts++;
      else {
        top++;
        if (name === 'evalsha' || name === 'eval') scripts++;
      }
    });
    const t0 = performance.now();
    await sleep(windowMs);
    counting = false;
    const seconds = (performance.now() - t0) / 1000;
    monitor.disconnect();
    return { commandsPerSec: top / seconds, scriptsPerSec: scripts / seconds, inScriptsPerSec: inScripts / seconds, byCommand: Object.fromEntries(counts) };
  } finally {
    await stop();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}
