/**
 * The concurrency scenarios of BENCHMARKS.md, each selectable (`npm run bench -- io-bound`, `cpu-bound`,
 * `idle`) and each with its baseline measured in the same run:
 *
 * - (7) I/O-bound: a handler awaiting a 10 ms timer; fnrun at `concurrency: 200` against a BullMQ
 *   Worker at concurrency 200 doing the same await, on the same Redis, with per-key order checked;
 * - (8) CPU-bound: about 1 ms of arithmetic per event, on 1 isolate against a pool of 2;
 * - (9) idle: the Redis commands/s of an idle runtime with 20 functions × 256 partitions, without
 *   and with leases, and of a real `fnrun start`.
 */
import { cpus } from 'node:os';
import { prefillQueue, type BullArgs } from './bullmq.ts';
import { inChild } from './child.ts';
import { DATA, prefillStreams, RUNS } from './core.ts';
import { calibrateSpin, type CpuBoundArgs } from './cpu-bound.ts';
import type { IdleArgs, IdleMode, IdleResult } from './idle.ts';
import { timerFunction, type IoBoundArgs, type IoBoundResult } from './io-bound.ts';
import { median } from './stats.ts';
import type { TestRedis } from '../test/helpers/redis-server.ts';

type Log = (msg: string) => void;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, digits = 1) => n.toFixed(digits);
const check = (target: string, measured: string, met: boolean) => `| ${target} | ${measured} | ${met ? 'met' : '**missed**'} |`;

const PARTITIONS = 16;
/** `BENCH_IO_EVENTS`, `BENCH_CPU_EVENTS`, `BENCH_IDLE_WINDOW_MS` shorten a quick check. */
const IO_EVENTS = Number(process.env.BENCH_IO_EVENTS ?? 20_000);
const IO_AWAIT_MS = 10;
const IO_CONCURRENCY = 200;
const CPU_EVENTS = Number(process.env.BENCH_CPU_EVENTS ?? 4_000);
const CPU_POOL = 2;
const IDLE_FUNCTIONS = 20;
const IDLE_PARTITIONS = 256;
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 10_000);
const IDLE_TARGET = 20;

export async function runIoBound(redis: TestRedis, log: Log): Promise<string> {
  const fnrun: IoBoundResult[] = [];
  const bull: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    log(`io-bound: round ${run}/${RUNS}, fnrun and BullMQ at concurrency ${IO_CONCURRENCY}, ${IO_AWAIT_MS} ms await…`);
    const namespace = `bench-io-${run}`;
    await prefillStreams(redis.url, namespace, IO_EVENTS, PARTITIONS);
    const args: IoBoundArgs = { url: redis.url, namespace, partitions: PARTITIONS, events: IO_EVENTS, source: timerFunction(IO_AWAIT_MS, IO_CONCURRENCY) };
    fnrun.push((await inChild<IoBoundArgs, IoBoundResult>('io-bound.ts', args)).value);
    const queue = `bench-io-bull-${run}`;
    await prefillQueue(redis.url, queue, IO_EVENTS, DATA);
    bull.push((await inChild<BullArgs, number>('bullmq.ts', { url: redis.url, queue, jobs: IO_EVENTS, concurrency: IO_CONCURRENCY, awaitMs: IO_AWAIT_MS })).value);
    await redis.client().flushall();
  }
  const rate = median(fnrun.map((r) => r.eventsPerSec));
  const bullRate = median(bull);
  const violations = fnrun.reduce((n, r) => n + r.orderViolations, 0);
  const ceiling = (IO_CONCURRENCY * 1000) / IO_AWAIT_MS;
  return `## (7) I/O-bound: a handler that awaits ${IO_AWAIT_MS} ms

| | events/s | × BullMQ | of the ceiling (${int(ceiling)}/s) | each round |
|---|--:|--:|--:|---|
| fnrun, \`concurrency: ${IO_CONCURRENCY}\`, per-key order | ${int(rate)} | ${fixed(rate / bullRate, 2)}× | ${fixed((rate / ceiling) * 100, 0)}% | ${fnrun.map((r) => int(r.eventsPerSec)).join(' / ')} |
| BullMQ Worker, concurrency ${IO_CONCURRENCY}, no order | ${int(bullRate)} | 1.00× | ${fixed((bullRate / ceiling) * 100, 0)}% | ${bull.map(int).join(' / ')} |

Per-key order violations in the fnrun runs: **${violations}** (every outcome checked: \`ok\`, and after its key's previous one in stream order).

| target | measured | |
|---|---|---|
${check('fnrun ≥ 1.0× BullMQ (moonshot 2×)', `${fixed(rate / bullRate, 2)}×`, rate >= bullRate)}
${check('0 per-key order violations', String(violations), violations === 0)}

A ${int(IO_EVENTS)}-event backlog (${PARTITIONS} partitions, 1,000 keys, the core scenarios' payload) drained by one
function whose handler is \`await new Promise((r) => setTimeout(r, ${IO_AWAIT_MS}))\` (a call to another service),
\`concurrency: ${IO_CONCURRENCY}\` (invocations in flight per process, each key one at a time, in order); the same
number of jobs added to a BullMQ queue and drained by one \`Worker\` at concurrency ${IO_CONCURRENCY} with the same await
(BullMQ keeps no per-key order). ${IO_CONCURRENCY} in flight over ${IO_AWAIT_MS} ms bounds both at ${int(ceiling)}/s. Same Redis, same run,
medians of ${RUNS} rounds, each side in its own process (\`bench/io-bound.ts\`, \`bench/bullmq.ts\`).
`;
}

export async function runCpuBound(redis: TestRedis, log: Log): Promise<string> {
  const iterations = calibrateSpin(1);
  const results = new Map<number, number[]>([[1, []], [CPU_POOL, []]]);
  for (let run = 1; run <= RUNS; run++) {
    for (const instances of results.keys()) {
      log(`cpu-bound: round ${run}/${RUNS}, ${instances} isolate(s)…`);
      const namespace = `bench-cpu-${instances}-${run}`;
      await prefillStreams(redis.url, namespace, CPU_EVENTS, PARTITIONS);
      const args: CpuBoundArgs = { url: redis.url, namespace, partitions: PARTITIONS, events: CPU_EVENTS, iterations, instances };
      results.get(instances)!.push((await inChild<CpuBoundArgs, number>('cpu-bound.ts', args)).value);
      await redis.client().flushall();
    }
  }
  const rate = (n: number) => median(results.get(n)!);
  const rounds = (n: number) => results.get(n)!.map(int).join(' / ');
  const one = rate(1);
  const pool = rate(CPU_POOL);
  return `## (8) CPU-bound: about 1 ms of arithmetic per event

| isolates (\`instances\`) | events/s | × 1 isolate | ms per event, all in (1,000 ÷ events/s) | each round |
|--:|--:|--:|--:|---|
| 1 | ${int(one)} | 1.00× | ${fixed(1000 / one, 2)} | ${rounds(1)} |
| ${CPU_POOL} | ${int(pool)} | ${fixed(pool / one, 2)}× | ${fixed(1000 / pool, 2)} | ${rounds(CPU_POOL)} |

A ${int(CPU_EVENTS)}-event backlog (${PARTITIONS} partitions, 1,000 keys) drained by one function whose handler runs a
fixed arithmetic loop of ${int(iterations)} iterations (about 1 ms in the bench process, the same V8), on 1
isolate and on a pool of ${CPU_POOL} (each isolate runs on its own thread in the sandbox process); the default
\`concurrency\` (100). A fixed amount of work, not a spin on the clock, so that contention shows. **This
machine has ${cpus().length} cores**, shared by the runtime's main process, its sandbox process and Redis: the pool
cannot reach ${CPU_POOL}× here. Medians of ${RUNS} rounds (\`bench/cpu-bound.ts\`).
`;
}

export async function runIdle(redis: TestRedis, log: Log): Promise<string> {
  const modes: [IdleMode, string][] = [
    ['solo', '`Runtime`, no leases (works on every partition)'],
    ['leases', '`Runtime` with leases (default TTL 10 s: a heartbeat every 2 s)'],
    ['start', 'the real `fnrun start` (leases, registry poll, live surface)'],
  ];
  const rows: string[] = [];
  const results = new Map<IdleMode, IdleResult>();
  for (const [mode, label] of modes) {
    log(`idle: ${IDLE_FUNCTIONS} functions × ${IDLE_PARTITIONS} partitions, ${mode}, ${IDLE_WINDOW_MS / 1000} s window…`);
    const args: IdleArgs = { url: redis.url, namespace: `bench-idle-${mode}`, partitions: IDLE_PARTITIONS, functions: IDLE_FUNCTIONS, mode, windowMs: IDLE_WINDOW_MS };
    const r = (await inChild<IdleArgs, IdleResult>('idle.ts', args)).value;
    results.set(mode, r);
    const top = Object.entries(r.byCommand).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, n]) => `${name} ${int(n)}`).join(', ');
    rows.push(`| ${label} | ${fixed(r.commandsPerSec)} | ${fixed(r.scriptsPerSec)} | ${fixed(r.inScriptsPerSec)} | ${fixed(r.commandsPerSec / IDLE_TARGET, 2)}× | ${top} |`);
    await redis.client().flushall();
  }
  const solo = results.get('solo')!;
  const leases = results.get('leases')!;
  const start = results.get('start')!;
  const renewalsPerSec = IDLE_PARTITIONS / 2;
  return `## (9) idle: ${IDLE_FUNCTIONS} functions × ${IDLE_PARTITIONS} partitions with nothing to do

| runtime | commands/s | of which scripts/s | commands/s inside scripts | ÷ target (${IDLE_TARGET}/s) | commands in the window |
|---|--:|--:|--:|--:|---|
${rows.join('\n')}

| target | measured | |
|---|---|---|
${check(`idle runtime ≤ ${IDLE_TARGET} commands/s, no leases`, `${fixed(solo.commandsPerSec)}/s`, solo.commandsPerSec <= IDLE_TARGET)}
${check(`idle runtime ≤ ${IDLE_TARGET} commands/s, with leases`, `${fixed(leases.commandsPerSec)}/s`, leases.commandsPerSec <= IDLE_TARGET)}
${check(`idle \`fnrun start\` ≤ ${IDLE_TARGET} commands/s`, `${fixed(start.commandsPerSec)}/s`, start.commandsPerSec <= IDLE_TARGET)}

Counted with MONITOR over a ${IDLE_WINDOW_MS / 1000} s window that opens once no read has run for half a second
(the workers went idle): "commands" are what the runtime sends (round trips; a script call counts once), and the
commands those scripts run are counted apart (INFO commandstats counts both). Idle workers do not poll: they wait
on one blocked \`XREAD\` per process, re-issued every 5 s, whatever the functions × partitions. What remains is
ownership: with leases every heartbeat (lease TTL / 5) sends one script for the member's heartbeat and, on one
server, one script renewing every lease the process holds (a \`GET\` + \`PEXPIRE\` per partition inside it: the
"inside scripts" column), so the scripts/s do not grow with partitions; on a Redis Cluster the renewals are one script
per owned partition (each partition is a slot of its own): about ${int(renewalsPerSec)} scripts/s for ${IDLE_PARTITIONS} partitions at the
default TTL. \`fnrun start\` also polls the registry's epoch every 250 ms. The functions count does not change any of
it (\`bench/idle.ts\`).
`;
}
