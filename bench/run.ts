/**
 * `npm run bench`: every scenario in one run, against one fresh redis-server started here, each
 * scenario in its own process (bench/child.ts) so that its peak RSS is its own. Writes
 * BENCHMARKS.md and prints it.
 *
 * `npm run bench -- NAME…` runs only the named parts — `core` (scenarios 1–6, see core.ts),
 * `processes`, `startup`, `rebalance` (see scale.ts), `io-bound`, `cpu-bound`, `idle` (scenarios
 * 7–9, see concurrency.ts), `work` (state and fetch, see work.ts) — and prints them without
 * touching BENCHMARKS.md. A new part is one entry in `PARTS` (its section of the report, from the
 * shared Redis).
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startRedis } from '../test/helpers/redis-server.ts';
import { runCpuBound, runIdle, runIoBound } from './concurrency.ts';
import { RUNS, runCore } from './core.ts';
import { runProcesses, runRebalance, runStartup } from './scale.ts';
import { runWork } from './work.ts';
import type { TestRedis } from '../test/helpers/redis-server.ts';

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const began = performance.now();
const loadBefore = loadavg()[0]!;
const asked = process.argv.slice(2);
const command = `${process.env.BENCH_RUNS === undefined ? '' : `BENCH_RUNS=${RUNS} `}npm run bench${asked.length ? ` -- ${asked.join(' ')}` : ''}`;
/** Every part, in report order: each returns its section of BENCHMARKS.md. */
const PARTS: Record<string, (redis: TestRedis) => Promise<string>> = {
  core: (redis) => runCore(redis, log, { began, loadBefore, command }),
  processes: (redis) => runProcesses(redis, log),
  startup: (redis) => runStartup(redis, log),
  rebalance: (redis) => runRebalance(redis, log),
  'io-bound': (redis) => runIoBound(redis, log),
  'cpu-bound': (redis) => runCpuBound(redis, log),
  idle: (redis) => runIdle(redis, log),
  work: (redis) => runWork(redis, log),
};
const parts = Object.keys(PARTS);
for (const name of asked) if (!parts.includes(name)) throw new Error(`unknown bench part ${JSON.stringify(name)}; known: ${parts.join(', ')}`);
const selected = asked.length === 0 ? parts : parts.filter((p) => asked.includes(p));

const redis = await startRedis();
const sections: string[] = [];
try {
  for (const part of selected) sections.push(await PARTS[part]!(redis));
} finally {
  await redis.stop();
}
const body = `${sections.join('\n')}`;
if (asked.length === 0) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), body);
process.stdout.write(body);
