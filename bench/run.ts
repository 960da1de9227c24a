/**
 * `npm run bench`: every scenario in one run, against one fresh redis-server started here, each
 * scenario in its own process (bench/child.ts) so that its peak RSS is its own. Writes
 * BENCHMARKS.md and prints it.
 *
 * `npm run bench -- NAME…` runs only the named parts — `core` (scenarios 1–6, see core.ts),
 * `processes`, `startup`, `rebalance` (see scale.ts), `work` (state and fetch, see work.ts) — and prints them without touching
 * BENCHMARKS.md.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startRedis } from '../test/helpers/redis-server.ts';
import { RUNS, runCore } from './core.ts';
import { runProcesses, runRebalance, runStartup } from './scale.ts';
import { runWork } from './work.ts';

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const began = performance.now();
const loadBefore = loadavg()[0]!;
const parts = ['core', 'processes', 'startup', 'rebalance', 'work'] as const;
const asked = process.argv.slice(2);
for (const name of asked) if (!parts.includes(name as (typeof parts)[number])) throw new Error(`unknown bench part ${JSON.stringify(name)}; known: ${parts.join(', ')}`);
const selected = asked.length === 0 ? [...parts] : parts.filter((p) => asked.includes(p));
const command = `${process.env.BENCH_RUNS === undefined ? '' : `BENCH_RUNS=${RUNS} `}npm run bench${asked.length ? ` -- ${asked.join(' ')}` : ''}`;

const redis = await startRedis();
const sections: string[] = [];
try {
  for (const part of selected) {
    if (part === 'core') sections.push(await runCore(redis, log, { began, loadBefore, command }));
    else if (part === 'processes') sections.push(await runProcesses(redis, log));
    else if (part === 'startup') sections.push(await runStartup(redis, log));
    else if (part === 'rebalance') sections.push(await runRebalance(redis, log));
    else sections.push(await runWork(redis, log));
  }
} finally {
  await redis.stop();
}
const body = `${sections.join('\n')}`;
if (asked.length === 0) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), body);
process.stdout.write(body);
