/**
 * The scale-out scenarios of BENCHMARKS.md — several processes on one Redis, start-up and memory
 * per function, rebalancing — each run in its own process (child.ts), with its section of the
 * report. `npm run bench -- processes startup rebalance` runs any of them alone.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { prefillStreams, RUNS } from './core.ts';
import { inChild } from './child.ts';
import { deploySources } from './deployment.ts';
import type { ProcessesArgs, ProcessesResult } from './processes.ts';
import type { Move, RebalanceArgs, RebalanceResult } from './rebalance.ts';
import { startupFunction, type StartupArgs, type StartupResult } from './startup.ts';
import { median } from './stats.ts';
import type { TestRedis } from '../test/helpers/redis-server.ts';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, digits = 1) => n.toFixed(digits);
type Log = (msg: string) => void;

const PROCESS_COUNTS = [1, 2, 4];
/** The backlog each round drains (`BENCH_PROCESSES_EVENTS` overrides it, e.g. for a quick check). */
const PROCESSES_EVENTS = Number(process.env.BENCH_PROCESSES_EVENTS ?? 300_000);

export async function runProcesses(redis: TestRedis, log: Log): Promise<string> {
  const results = new Map<number, ProcessesResult[]>(PROCESS_COUNTS.map((n) => [n, []]));
  for (let run = 1; run <= RUNS; run++) {
    for (const processes of PROCESS_COUNTS) {
      log(`processes: round ${run}/${RUNS}, ${processes} fnrun start…`);
      const namespace = `bench-procs-${processes}-${run}`;
      await prefillStreams(redis.url, namespace, PROCESSES_EVENTS);
      const { value } = await inChild<ProcessesArgs, ProcessesResult>('processes.ts', { url: redis.url, namespace, partitions: 16, events: PROCESSES_EVENTS, processes });
      results.get(processes)!.push(value);
      await redis.client().flushall();
    }
  }
  const med = (n: number, pick: (r: ProcessesResult) => number) => median(results.get(n)!.map(pick));
  const base = med(1, (r) => r.eventsPerSec);
  const rows = PROCESS_COUNTS.map((n) => {
    const rate = med(n, (r) => r.eventsPerSec);
    const redisCores = med(n, (r) => r.redisCores);
    return `| ${n} | ${int(rate)} | ${fixed(rate / base, 2)}× | ${fixed(redisCores * 100, 0)}% | ${fixed(med(n, (r) => r.fnrunCores) * 100, 0)}% | ${int(rate / Math.max(redisCores, 1e-9))} | ${results.get(n)!.map((r) => int(r.eventsPerSec)).join(' / ')} |`;
  });
  return `## Processes: 1, 2 and 4 \`fnrun start\` on one Redis

| processes | events/s | × 1 process | Redis CPU (of one core) | fnrun CPU (all its processes, of one core) | events per Redis CPU-second | each round |
|--:|--:|--:|--:|--:|--:|---|
${rows.join('\n')}

A ${int(PROCESSES_EVENTS)}-event backlog (16 partitions, 1,000 keys, a 200-character payload), one trivial
function deployed once the processes share the partitions, medians of ${RUNS} rounds; the clock runs from
the first entry read to every partition settled (see \`bench/processes.ts\`). **This machine has
${cpus().length} cores**, shared by the processes, their sandbox processes, Redis and the bench: more processes here
mean more processes per core, not more cores, so the ratio shows what the coordination costs and
where the CPU goes, not how far fnrun scales on separate machines. Redis CPU near 100% of its one
core would be Redis' limit; the last column (events per Redis CPU-second) is how many events one
Redis core carries through fnrun, whatever the process count.
`;
}

const STARTUP_FUNCTIONS = 100;
const CODES = ['package', 'sources'] as const;

export async function runStartup(redis: TestRedis, log: Log): Promise<string> {
  log('startup: building the package (npm run build)…');
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build.ts', import.meta.url))], { stdio: ['ignore', 'ignore', 'inherit'] });
  const counts = [1, STARTUP_FUNCTIONS];
  const key = (code: StartupArgs['code'], n: number) => `${code}/${n}`;
  const results = new Map<string, StartupResult[]>(CODES.flatMap((c) => counts.map((n) => [key(c, n), []])));
  for (let run = 1; run <= RUNS; run++) {
    for (const code of CODES) {
      for (const functions of counts) {
        log(`startup: round ${run}/${RUNS}, ${code}, ${functions} functions…`);
        const namespace = `bench-startup-${code}-${functions}-${run}`;
        const sources = Object.fromEntries(Array.from({ length: functions }, (_, i) => [`fn${String(i).padStart(3, '0')}`, startupFunction(i)]));
        await deploySources(redis.url, namespace, 16, sources);
        const { value } = await inChild<StartupArgs, StartupResult>('startup.ts', { url: redis.url, namespace, partitions: 16, functions, code }, undefined, ['--expose-gc']);
        results.get(key(code, functions))!.push(value);
        await redis.client().flushall();
      }
    }
  }
  const med = (code: StartupArgs['code'], n: number, pick: (r: StartupResult) => number) => median(results.get(key(code, n))!.map(pick));
  const extra = STARTUP_FUNCTIONS - 1;
  const perFn = (pick: (r: StartupResult) => number) => (med('package', STARTUP_FUNCTIONS, pick) - med('package', 1, pick)) / extra;
  const start = med('package', STARTUP_FUNCTIONS, (r) => r.startMs);
  const mainPer = perFn((r) => r.mainRssMb);
  const sandboxPer = perFn((r) => r.sandboxRssMb);
  const check = (target: string, measured: string, met: boolean) => `| ${target} | ${measured} | ${met ? 'met' : '**missed**'} |`;
  const bootedPer = perFn((r) => r.sandboxRssAfterMb);
  const row = (code: StartupArgs['code'], n: number) => `| ${code} | ${n} | ${int(med(code, n, (r) => r.startMs))} | ${int(med(code, n, (r) => r.mainRssMb))} | ${int(med(code, n, (r) => r.sandboxRssMb))} | ${fixed(med(code, n, (r) => r.mainHeapMb))} | ${results.get(key(code, n))!.map((r) => int(r.startMs)).join(' / ')} | ${int(med(code, n, (r) => r.firstEventsMs))} | ${int(med(code, n, (r) => r.sandboxRssAfterMb))} |`;
  return `## Start-up and memory per function

| code | deployed functions | start ms | main RSS MiB | sandbox RSS MiB | main heap used MiB | start ms of each round | first event to each function, ms | sandbox RSS after, MiB |
|---|--:|--:|--:|--:|--:|---|--:|--:|
${CODES.flatMap((c) => counts.map((n) => row(c, n))).join('\n')}

| target (the package: what \`npm install fnrun\` runs) | measured | |
|---|---|---|
${check(`${STARTUP_FUNCTIONS} functions start in ≤ 0.5 s`, `${fixed(start / 1000, 2)} s (${fixed(start / med('package', 1, (r) => r.startMs), 1)}× the time for 1)`, start <= 500)}
${check('≤ 0.5 MiB main-process memory per idle function', `${fixed(mainPer, 2)} MiB`, mainPer <= 0.5)}
${check('≤ 2 MiB sandbox memory per idle function', `${fixed(sandboxPer, 2)} MiB`, sandboxPer <= 2)}
| (no target) sandbox memory per function once it ran | ${fixed(bootedPer, 2)} MiB | |

A runtime wired as \`fnrun start\` wires it (leases, the registry follower) over 16 partitions, with 1
or ${STARTUP_FUNCTIONS} deployed trivial functions; start = from \`Runtime.create\` to the follower having loaded every
function with its workers running (not Node's own start-up); memory = VmRSS of the process and of its
sandbox process after a second idle and a full collection (\`gc()\`: "main heap used" is what stays live);
per function = (${STARTUP_FUNCTIONS} − 1) / ${extra}. The main process's RSS is mostly the heap V8 committed while
start-up allocated (the young generation grows under the burst and stays): with \`--max-semi-space-size=4\`
it measured 0.32 MiB per function against 0.52 MiB without (2026-12-03; README: Running in production). A deployed version boots its
isolate on its first event (the lazy start: its manifest was validated at deploy), so "first event to
each function" — one event published to every function at once, until each handled its own — holds
the isolate boots the start skipped, and "sandbox RSS after" is with every isolate booted. Medians of ${RUNS} rounds, each a
fresh process (see \`bench/startup.ts\`). \`package\` runs the built package (dist/, built by the
bench first), \`sources\` the repository's TypeScript, whose sandbox process Node strips of types
as it loads it on every start.
`;
}

export async function runRebalance(redis: TestRedis, log: Log): Promise<string> {
  log('rebalance: P = 256, 4 fnrun start, 3 leaves and 3 joins…');
  const args: RebalanceArgs = { url: redis.url, namespace: 'bench-rebalance', partitions: 256, processes: 4, rounds: 3, rate: 2000 };
  const { value } = await inChild<RebalanceArgs, RebalanceResult>('rebalance.ts', args);
  await redis.client().flushall();
  const of = (kind: Move['kind']) => value.moves.filter((m) => m.kind === kind);
  const row = (kind: Move['kind'], label: string) => {
    const moves = of(kind);
    const start = kind === 'join' ? ` (of which the new process's start-up: ${int(median(moves.map((m) => m.startMs!)))} ms)` : '';
    return `| ${label} | ${int(median(moves.map((m) => m.ownedMs)))}${start} | ${int(median(moves.map((m) => m.workingMs)))} | ${int(median(moves.map((m) => m.moved)))} | ${moves.map((m) => `${int(m.ownedMs)}/${int(m.workingMs)}`).join(', ')} |`;
  };
  return `## Rebalancing: P = 256, 4 processes

| move | every partition owned again, ms | every moved partition working again, ms | partitions moved | each move (owned/working ms) |
|---|--:|--:|--:|---|
${row('leave', 'a process leaves (SIGTERM)')}
${row('join', 'a process joins')}

Duplicates over the whole run: **${int(value.duplicates)}** of ${int(value.handled)} handlings (every hand-over here is graceful: 0 expected).
${args.processes} \`fnrun start\` (default lease TTL 10 s: heartbeats and lease rounds every 2 s), a steady ${int(args.rate)}
events/s over 5,000 keys, 3 leaves and 3 joins, medians; "working" = every partition that changed owner
had an event handled by its new owner (see \`bench/rebalance.ts\`). Both times are bounded by the heartbeat
period: the others see a join or a leave at their next round, and a released partition is taken at the
new owner's next round.
`;
}
