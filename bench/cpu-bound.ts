/**
 * Scenario (8), CPU-bound: fnrun draining a pre-filled backlog with one function whose handler
 * does a fixed amount of arithmetic per event (calibrated to about 1 ms in the bench process: the
 * same V8), on `instances` isolates. A fixed amount of work, not a spin on the clock: a clock spin
 * takes 1 ms of wall time however little CPU it gets, which would hide contention.
 */
import type { InvocationRecord } from '../runtime/index.ts';
import { drainRate } from './drain.ts';

export interface CpuBoundArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
  /** Loop iterations per event (see {@link calibrateSpin}). */
  iterations: number;
  instances: number;
}

/** The loop every event runs; the same text is timed here and bundled into the function. */
const LOOP = 'let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0; return x;';
const spin = new Function('n', LOOP) as (n: number) => number;

/**
 * Iterations of the loop that take about `ms` here: the fastest of a few timings of a million,
 * after a warm-up (the fastest is the one the rest of the machine disturbed least).
 */
export function calibrateSpin(ms = 1): number {
  const n = 1_000_000;
  for (let i = 0; i < 10; i++) spin(n); // warm-up: let V8 optimise it
  let best = Infinity;
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    spin(n);
    best = Math.min(best, performance.now() - t0);
  }
  return Math.round(n * (ms / Math.max(best, 1e-3)));
}


export async function measure({ url, namespace, partitions, events, iterations, instances }: CpuBoundArgs): Promise<number> {
  const source = `export const config = { events: ['bench.*'], startFrom: 'earliest', instances: ${instances}, timeoutMs: 60000 };
function spin(n: number): number { ${LOOP} }
export default async function handler(_event: unknown, ctx: { log: { info(m: string): void } }) { if (spin(${iterations}) === 42) ctx.log.info('42'); }
`;
  const check = (r: InvocationRecord) => (r.status === 'ok' ? undefined : new Error(`${r.status}: ${r.error?.message}`));
  return drainRate({ url, namespace, partitions, files: { 'cpu.ts': source }, target: events, check });
}
