/**
 * Handlers that do real work (BENCHMARKS.md "State and fetch"): what per-key state costs next to
 * scenario (2), and scenario (7)'s I/O-bound shape with a real `fetch` to a local server that
 * answers after 10 ms instead of a timer, against BullMQ doing the same fetch. In rounds
 * ((2), (2s), (7f), BullMQ, (2), …) so that a slow phase of this shared machine hits them all.
 * `npm run bench -- work` runs this part alone.
 */
import { prefillStreams, RUNS } from './core.ts';
import type { BacklogArgs } from './backlog.ts';
import { prefillQueue, type BullArgs } from './bullmq.ts';
import { inChild } from './child.ts';
import type { FetchIoArgs } from './fetch-io.ts';
import { startSlowServer } from './slow-server.ts';
import { median } from './stats.ts';
import type { TestRedis } from '../test/helpers/redis-server.ts';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
type Log = (msg: string) => void;

const PARTITIONS = 16;
const BACKLOG_EVENTS = 100_000;
const IO_EVENTS = 20_000;
const IO_CONCURRENCY = 200;
const IO_DELAY_MS = 10;
/** The payload of every event and job (as in core.ts). */
const DATA = { postId: 'p-123456', author: 'ada', text: 'x'.repeat(200) };
/** Target: state adds less than this to the time per event of (2). */
const STATE_OVERHEAD_TARGET = 0.3;

/** (2) with one state read and one write per event (1,000 keys: each key's state is touched 100 times). */
const STATE_SOURCE = `import type { Context } from 'fnrun';
export const config = { events: ['bench.*'], startFrom: 'earliest' };
export default async function handler(_event: unknown, ctx: Context) {
  const n = (await ctx.state.get<number>('n')) ?? 0;
  await ctx.state.set('n', n + 1);
}
`;

export async function runWork(redis: TestRedis, log: Log): Promise<string> {
  const url = redis.url;
  const plain: number[] = [];
  const state: number[] = [];
  const io: number[] = [];
  const bull: number[] = [];
  const server = await startSlowServer(IO_DELAY_MS);
  try {
    for (let run = 1; run <= RUNS; run++) {
      log(`work: round ${run}/${RUNS}: (2), (2) with state, (7f) fetch, BullMQ with the same fetch…`);
      const ns = (name: string) => `bench-work-${name}-${run}`;
      const backlog = (namespace: string, source?: string): BacklogArgs => ({ url, namespace, partitions: PARTITIONS, events: BACKLOG_EVENTS, functions: 1, ...(source ? { source } : {}) });
      await prefillStreams(url, ns('plain'), BACKLOG_EVENTS, PARTITIONS);
      plain.push((await inChild<BacklogArgs, number>('backlog.ts', backlog(ns('plain')))).value);
      await prefillStreams(url, ns('state'), BACKLOG_EVENTS, PARTITIONS);
      state.push((await inChild<BacklogArgs, number>('backlog.ts', backlog(ns('state'), STATE_SOURCE))).value);
      await prefillStreams(url, ns('io'), IO_EVENTS, PARTITIONS);
      io.push((await inChild<FetchIoArgs, number>('fetch-io.ts', { url, namespace: ns('io'), partitions: PARTITIONS, events: IO_EVENTS, origin: server.origin, concurrency: IO_CONCURRENCY })).value);
      const queue = `bench-work-bull-${run}`;
      await prefillQueue(url, queue, IO_EVENTS, DATA);
      bull.push((await inChild<BullArgs, number>('bullmq.ts', { url, queue, jobs: IO_EVENTS, concurrency: IO_CONCURRENCY, fetchUrl: `${server.origin}/io` })).value);
      await redis.client().flushall();
    }
  } finally {
    await server.close();
  }
  const [p, s, f, b] = [plain, state, io, bull].map(median) as [number, number, number, number];
  const overhead = p / s - 1;
  const rounds = (values: number[]) => values.map(int).join(' / ');
  const check = (met: boolean) => (met ? 'met' : '**missed**');
  return `## State and fetch: handlers that do work

| # | scenario | events/s | | each round |
|---|---|--:|---|---|
| 2 | fnrun: 1 trivial async function, ${PARTITIONS} partitions, a ${int(BACKLOG_EVENTS)}-event backlog over 1,000 keys (as in the table above, measured again in these rounds) | ${int(p)} | | ${rounds(plain)} |
| 2s | the same function doing \`await ctx.state.get('n')\` and \`await ctx.state.set('n', n + 1)\` per event | ${int(s)} | time per event +${(overhead * 100).toFixed(0)}% | ${rounds(state)} |
| 7f | fnrun: each event \`fetch\`es a server on 127.0.0.1 answering after ${IO_DELAY_MS} ms; \`concurrency: ${IO_CONCURRENCY}\`, 1,000 keys, ${PARTITIONS} partitions, a ${int(IO_EVENTS)}-event backlog, per-key order checked | ${int(f)} | ${(f / b).toFixed(2)}× BullMQ | ${rounds(io)} |
| | BullMQ: one Worker at concurrency ${IO_CONCURRENCY}, each job doing the same fetch (Node's \`fetch\`), ${int(IO_EVENTS)} jobs | ${int(b)} | | ${rounds(bull)} |

| target | measured | |
|---|---|---|
| state adds < ${STATE_OVERHEAD_TARGET * 100}% to (2) | +${(overhead * 100).toFixed(0)}% | ${check(overhead < STATE_OVERHEAD_TARGET)} |
| (7f) ≥ 1.0× BullMQ | ${(f / b).toFixed(2)}× | ${check(f / b >= 1)} |

Medians of ${RUNS} rounds; clocked as (2) (see \`bench/drain.ts\`). **(2s)**: each
event's state is read from the key's cached snapshot (loaded from Redis once per run of the key,
in one pipeline per turn of the event loop) and its write goes into the same commit as the ack, so
state costs a larger commit, not a round trip per event. **(7f)**: the ceiling is ${IO_CONCURRENCY} requests
in flight / ${IO_DELAY_MS} ms = ${int((IO_CONCURRENCY * 1000) / IO_DELAY_MS)}/s; the function's \`network.maxConcurrent\` is raised to ${IO_CONCURRENCY} with it (the
default, 16 per instance, would cap it at 1,600/s). The fetch runs in the sandbox process (DNS
skipped for an IP, the address checked, a pooled keep-alive connection), its answer resumes the
isolate like a timer. The server runs in the bench's process, shared by both.
`;
}
