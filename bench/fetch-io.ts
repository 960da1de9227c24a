/**
 * Scenario (7f): I/O-bound handlers that really call out: each event's handler `fetch`es a local
 * HTTP server that answers after 10 ms (bench/slow-server.ts), at `concurrency: 200` (and
 * `network.maxConcurrent: 200`, so the sandbox does not queue them), draining a backlog of 1,000
 * keys. Per-key order is checked on the way: an event of a key completing before an earlier one
 * of the same key fails the run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLogger, Runtime } from '../runtime/index.ts';
import { compareStreamIds } from '../runtime/redis/stream-id.ts';
import { sampleRss } from './rss.ts';

export interface FetchIoArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
  /** The slow server's origin, `http://127.0.0.1:PORT`. */
  origin: string;
  concurrency: number;
}

/** The handler: one GET per event, its body read. */
export function fetchSource(origin: string, concurrency: number): string {
  const allow = new URL(origin).host;
  return `export const config = {
  events: ['bench.*'], startFrom: 'earliest', concurrency: ${concurrency},
  network: { allow: [${JSON.stringify(allow)}], maxConcurrent: ${Math.min(concurrency, 256)} },
};
export default async function handler() {
  const response = await fetch(${JSON.stringify(`${origin}/io`)});
  if (!response.ok) throw new Error('slow server answered ' + response.status);
  await response.json();
}
`;
}

/** Events/s, clocked as in backlog.ts. */
export async function measure({ url, namespace, partitions, events, origin, concurrency }: FetchIoArgs): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-fetch-'));
  mkdirSync(join(dir, 'functions'));
  writeFileSync(join(dir, 'functions', 'caller.ts'), fetchSource(origin, concurrency));
  let handled = 0;
  let failure: Error | null = null;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const last = new Map<string, string>();
  const runtime = await Runtime.create({
    redis: url, namespace, partitions, functionsDir: join(dir, 'functions'), logger: createJsonLogger('silent'),
    onInvocation: (r) => {
      if (r.status !== 'ok') failure ??= new Error(`${r.status}: ${r.error?.message}`);
      // Keys map to one partition each, so one key's stream ids are comparable.
      const before = last.get(r.key!);
      if (before !== undefined && compareStreamIds(before, r.eventId) >= 0) failure ??= new Error(`key ${r.key}: ${r.eventId} completed after ${before}`);
      last.set(r.key!, r.eventId);
      if (++handled === events || failure !== null) done();
    },
  });
  try {
    await runtime.start();
    if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
    const t0 = performance.now();
    const before = handled;
    await finished;
    if (failure !== null) throw failure;
    const seconds = (performance.now() - t0) / 1000;
    sampleRss();
    return (events - before) / seconds;
  } finally {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
