/**
 * BENCHMARKS.md: the table, where we stand against the targets, and how each number is measured
 * (kept next to the code that measures it, so the two cannot drift apart).
 */
import { table, type BenchResult } from './stats.ts';

export interface ReportInput {
  rows: BenchResult[];
  raw: number;
  bull: number;
  one: number;
  five: number;
  latencyP99: number;
  /** The p99 of (5)'s baseline: bare ioredis reading the same publisher. */
  rawLatencyP99: number;
  reloadP99: number;
  bullAll: { concurrency: number; perSec: number }[];
  /** Each round's events/s of the throughput rows, to show the spread behind the medians. */
  rounds: { id: string; values: number[] }[];
  publishedPerSec: number;
  machine: string;
  /** 1-minute load average before and after the run: other work on the machine skews everything. */
  load: [number, number];
  command: string;
  minutes: number;
}

const pct = (n: number) => `${(n * 100).toFixed(0)}%`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');

export function report(r: ReportInput): string {
  const check = (target: string, measured: string, met: boolean) => `| ${target} | ${measured} | ${met ? 'met' : '**missed**'} |`;
  return `# Benchmarks

Produced by \`${r.command}\` on ${new Date().toISOString().slice(0, 10)} in ${r.minutes.toFixed(1)} min; ${r.machine}.
Load average (1 min) before / after: ${r.load[0].toFixed(2)} / ${r.load[1].toFixed(2)}. The machine is shared and noisy: ±30% between
runs is normal, so read ratios, not absolute numbers.

${table(r.rows, r.raw, r.bull)}

Events/s of each round: ${r.rounds.map((x) => `(${x.id}) ${x.values.map(int).join(' / ')}`).join('; ')}.
BullMQ, median jobs/s by Worker concurrency: ${r.bullAll.map((b) => `${b.concurrency} → ${int(b.perSec)}`).join(', ')}.

## Against the targets

A miss is a finding to work on, not a failed run.

| target | measured | |
|---|---|---|
${check('(2) ≥ 50% of (1)', pct(r.one / r.raw), r.one / r.raw >= 0.5)}
${check('(2) ≥ 10× (4)', `${(r.one / r.bull).toFixed(1)}×`, r.one / r.bull >= 10)}
${check('(3) ≥ 25% of (1)', pct(r.five / r.raw), r.five / r.raw >= 0.25)}
${check('(5) p99 under 5 ms', `${r.latencyP99} ms (bare ioredis: ${r.rawLatencyP99} ms)`, r.latencyP99 < 5)}
${check('(6) p99 under 300 ms', `${r.reloadP99.toFixed(0)} ms`, r.reloadP99 < 300)}

## How each number is measured

- **One Redis, one run, median of 3.** The bench starts its own redis-server (unix socket, no
  persistence) and runs every scenario against it, in 3 rounds of scenarios 1 to 6; each scenario
  gets a fresh namespace or queue, and the data is flushed between rounds. Every number is the
  median over the rounds (for latencies: the median of each round's p50 and p99).
- **Each scenario in its own process** (\`bench/child.ts\`), so **peak RSS** is that scenario's
  alone: the sum of the high-water marks (\`VmHWM\`) of the scenario's Node process and of every
  process it started, read from \`/proc\` just before teardown: for fnrun, the runtime (\`main\`),
  its sandbox process holding the isolates (\`sandbox\`) and esbuild's service (\`esbuild\`). The
  sum of peaks is an upper bound of the peak of the sum. redis-server is shared and not counted.
  The highest of the runs is shown.
- **(1) raw loop**: the ceiling. No sandbox, no decoding, no bookkeeping; one loop per partition on
  one connection (fnrun's shape, and the fastest one measured: a single loop reading all streams
  per call was about 25% slower).
- **(2), (3) fnrun**: \`Runtime\` with 1 or 5 trivial \`async\` functions (\`startFrom: 'earliest'\`),
  each its own consumer group, draining a 100,000-event backlog (a 200-character payload,
  1,000 keys). Clocked from \`runtime.start()\` resolving to the last \`onInvocation\` (start-up —
  forking the sandbox process, building, booting isolates, about 0.3 s — is not throughput), counting
  only invocations after the clock started. (3) counts (event, function) pairs.
- **(4) BullMQ**: the same payload as jobs, pre-filled with \`addBulk\` (\`removeOnComplete: true\`, as
  BullMQ advises; faster than keeping them), drained by one \`Worker\` with \`async () => {}\`. Clocked
  from \`worker.run()\` to the last \`completed\` event. Fewer jobs than events (BullMQ is the slow
  one: concurrency 1 drains a few thousand jobs/s) keep the whole bench near 3 minutes.
- **(5) latency**: the bench process publishes ${int(2000)} events/s (measured: ${int(r.publishedPerSec)}/s),
  paced by a 1 ms timer (each tick pipelines the events due, usually 2), for 1 s of warm-up (not
  counted) then 10 s; fnrun runs 1 function in another process. The handler's first statement is
  \`ctx.log.info(event.time)\`: \`event.time\` is the publisher's \`Date.now()\` just before its XADD,
  and the log line carries the isolate's \`Date.now()\` at that call, so publish → handler start
  needs no hook inside the runtime. **Resolution: both clocks are integer milliseconds**, so each
  sample is within 1 ms of the truth and a p50 of "1.0" means "between 0 and 2 ms". The second row
  uses the host's \`Date.now()\` in \`onInvocation\` instead: handler start plus the handler, the
  results' way back through the sandbox process, and the settling, but not the commit (XACK).
  **Its baseline** (\`bench/latency-raw.ts\`, run just before it in each round, with the same
  publisher): bare ioredis, one connection per partition blocked in XREADGROUP, the reader's
  \`Date.now()\` when the reply is in: publish → read with nothing of fnrun in between (no wake
  watcher, no sandbox process, no isolate), on the same machine in the same minute. The
  256-partition row runs (5) over a namespace of 256 partitions: each then gets about 8 events/s,
  so nearly every event finds its partition's worker waiting on its shard's wake read.
- **(6) dev reload**: \`DevSession\` on a real folder; from \`writeFileSync\` of the function to the
  session's \`loaded\` callback (the runtime swapped the new version in; the next batch runs it),
  40 saves 150 ms apart per round (so a round's p99 is its slowest save). Includes the file
  watcher and the session's 20 ms settle delay.
`;
}
