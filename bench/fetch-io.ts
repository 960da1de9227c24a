/**
 * Scenario (7f): I/O-bound handlers that really call out: each event's handler `fetch`es a local
 * HTTP server that answers after 10 ms (bench/slow-server.ts), at `concurrency: 200` (and
 * `network.maxConcurrent: 200`, so the sandbox does not queue them), draining a backlog of 1,000
 * keys. Per-key order is checked on the way: an event of a key completing before an earlier one
 * of the same key fails the run.
 */
import type { InvocationRecord } from '../runtime/index.ts';
import { compareStreamIds } from '../runtime/redis/stream-id.ts';
import { drainRate } from './drain.ts';

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

/** Events/s, clocked as drain.ts says; a failed fetch or an out-of-order key fails the run. */
export async function measure({ url, namespace, partitions, events, origin, concurrency }: FetchIoArgs): Promise<number> {
  const last = new Map<string, string>();
  const check = (r: InvocationRecord): Error | undefined => {
    if (r.status !== 'ok') return new Error(`${r.status}: ${r.error?.message}`);
    // Keys map to one partition each, so one key's stream ids are comparable.
    const before = last.get(r.key!);
    last.set(r.key!, r.eventId);
    return before !== undefined && compareStreamIds(before, r.eventId) >= 0 ? new Error(`key ${r.key}: ${r.eventId} completed after ${before}`) : undefined;
  };
  return drainRate({ url, namespace, partitions, files: { 'caller.ts': fetchSource(origin, concurrency) }, target: events, check });
}
