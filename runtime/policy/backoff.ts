/** How long to wait before retrying a failed invocation. Pure: the caller passes `random`. */
import type { RetryPolicy } from '../types.ts';

/**
 * The delay before the next attempt after attempt number `failedAttempt` (1 = the first try) failed.
 *
 * The nominal delay is `initialDelayMs × 2^(failedAttempt − 1)` for `exponential` backoff or
 * `initialDelayMs` for `fixed`, capped at `maxDelayMs`. The result is drawn uniformly from
 * `[nominal / 2, nominal]` ("equal jitter", https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * jitter spreads the retries of many partitions that failed together (a dependency outage) while
 * keeping at least half the delay, so a retry never comes back almost immediately.
 *
 * @param random - a source in `[0, 1)`, such as `Math.random`; tests pass a constant
 * @returns whole milliseconds, from `ceil(nominal / 2)` to `nominal`
 * @example retryDelayMs({ attempts: 5, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 }, 3, () => 0.5) === 600
 */
/** The delay after attempt `failedAttempt` failed, before jitter (see {@link retryDelayMs}). */
export function nominalDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  const growth = policy.backoff === 'exponential' ? 2 ** (failedAttempt - 1) : 1;
  // 2 ** n is Infinity only past n = 1023, and Math.min brings that back to maxDelayMs.
  return Math.max(0, Math.min(policy.initialDelayMs * growth, policy.maxDelayMs));
}

/**
 * How long infrastructure waits before trying again after `failures` failures in a row (a
 * reconnect, a commit or a read that Redis refused): doubling from `baseMs`, at most `capMs`.
 * No jitter: these are per-process loops, not a crowd retrying in step.
 * @example reconnectDelayMs(3, 100, 5000) === 800
 */
export function reconnectDelayMs(failures: number, baseMs: number, capMs: number): number {
  return Math.min(baseMs * 2 ** Math.min(Math.max(failures, 0), 30), capMs);
}

export function retryDelayMs(policy: RetryPolicy, failedAttempt: number, random: () => number): number {
  if (!Number.isInteger(failedAttempt) || failedAttempt < 1) {
    throw new RangeError(`failedAttempt must be an integer of at least 1, got ${failedAttempt}`);
  }
  const nominal = nominalDelayMs(policy, failedAttempt);
  const half = nominal / 2;
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.min(nominal, Math.ceil(half + r * half));
}
