/**
 * Scenarios 2 and 3 (and the state variant of 2): fnrun draining a pre-filled backlog with `functions` trivial async handlers,
 * each its own consumer group (so 5 functions read every event 5 times: (event, function) pairs).
 *
 * The clock starts once `runtime.start()` has resolved and only invocations after that count:
 * start-up (forking the sandbox process, esbuild, booting isolates: 250–350 ms here) is a one-off
 * cost, not throughput, and the baseline does not pay for its connection either.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLogger, Runtime } from '../runtime/index.ts';
import { sampleRss } from './rss.ts';

export interface BacklogArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
  functions: number;
  /** The functions' source (default: a trivial async handler); the state scenario's does a get and a set. */
  source?: string;
}

const TRIVIAL = "export const config = { events: ['bench.*'], startFrom: 'earliest' };\nexport default async function handler() {}\n";

/** (event, function) pairs per second. */
export async function measure({ url, namespace, partitions, events, functions, source = TRIVIAL }: BacklogArgs): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-fns-'));
  mkdirSync(join(dir, 'functions'));
  for (let f = 0; f < functions; f++) {
    writeFileSync(join(dir, 'functions', `fn${f}.ts`), source);
  }
  const target = events * functions;
  let handled = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const runtime = await Runtime.create({
    redis: url, namespace, partitions, functionsDir: join(dir, 'functions'), logger: createJsonLogger('silent'),
    // The runtime's own hook, as cheap as a counter gets; it runs once the sandbox reported back.
    onInvocation: () => { if (++handled === target) done(); },
  });
  try {
    await runtime.start();
    if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
    const t0 = performance.now();
    const before = handled;
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    sampleRss();
    return (target - before) / seconds;
  } finally {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
