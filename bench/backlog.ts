/**
 * Scenarios 2 and 3 (and the state variant of 2): fnrun draining a pre-filled backlog with `functions` trivial async handlers,
 * each its own consumer group (so 5 functions read every event 5 times: (event, function) pairs),
 * clocked as drain.ts says.
 */
import { drainRate } from './drain.ts';

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
  const files = Object.fromEntries(Array.from({ length: functions }, (_, f) => [`fn${f}.ts`, source]));
  return drainRate({ url, namespace, partitions, files, target: events * functions });
}
