/**
 * Scenario (7), I/O-bound: fnrun draining a pre-filled backlog with one function whose handler
 * awaits a timer (standing in for a call to another service), at a given `concurrency`, with
 * per-key order checked on every outcome: each key's events must complete once each, in stream
 * order (a key lives in one partition, so stream order is publish order).
 *
 * The handler source is an argument, so that other I/O (a `fetch` to a local server, state) can
 * be measured the same way. The clock starts once `runtime.start()` resolved (start-up is not
 * throughput) and stops at the last outcome.
 */
import type { InvocationRecord } from '../runtime/index.ts';
import { compareStreamIds } from '../runtime/redis/stream-id.ts';
import { drainRate } from './drain.ts';

export interface IoBoundArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
  /** The function's file: `export const config = …` (with `startFrom: 'earliest'`) and a handler. */
  source: string;
}

export interface IoBoundResult {
  eventsPerSec: number;
  /** Outcomes of a key that were not after the key's previous one in stream order (or not `ok`). */
  orderViolations: number;
}

/** The function of (7): awaits `awaitMs` per event, `concurrency` invocations in flight. */
export function timerFunction(awaitMs: number, concurrency: number): string {
  return `export const config = { events: ['bench.*'], startFrom: 'earliest', concurrency: ${concurrency} };
export default async function handler() { await new Promise((resolve) => setTimeout(resolve, ${awaitMs})); }
`;
}

export async function measure({ url, namespace, partitions, events, source }: IoBoundArgs): Promise<IoBoundResult> {
  let violations = 0;
  const last = new Map<string, string>();
  const check = (r: InvocationRecord): undefined => {
    const key = r.key ?? '';
    const previous = last.get(key);
    if (r.status !== 'ok' || (previous !== undefined && compareStreamIds(previous, r.eventId) >= 0)) violations++;
    last.set(key, r.eventId);
  };
  const eventsPerSec = await drainRate({ url, namespace, partitions, files: { 'io.ts': source }, target: events, check });
  return { eventsPerSec, orderViolations: violations };
}
