/**
 * What happens to an event after one of its attempts failed: retry it after a delay, or give up
 * (dead-letter it, or drop it when the function keeps no dead letters). Pure: the caller passes
 * `now` and `random`, so every branch is unit-tested without Redis.
 */
import { retryDelayMs } from './backoff.ts';
import type { RetryPolicy, SerializedError } from '../types.ts';

/** Why an event left the normal path; stored with its dead letter. */
export type GiveUpReason = 'failed' | 'non-retriable' | 'expired';

export type RetryDecision =
  | { action: 'retry'; delayMs: number }
  | { action: 'dead-letter'; reason: GiveUpReason }
  | { action: 'drop'; reason: GiveUpReason };

/** The facts one decision depends on. */
export interface FailedAttempt {
  /** The attempt that failed: 1 for the first try. */
  attempt: number;
  errorKind: SerializedError['kind'];
  policy: RetryPolicy;
  /** The manifest's `deadLetter`: keep given-up events, or drop them. */
  deadLetter: boolean;
  /** When the event counts from (its publish, or its replay), ms since the epoch. */
  eventTime: number;
  /** The manifest's `maxEventAgeMs`, or null for no limit. */
  maxEventAgeMs: number | null;
  now: number;
  random: () => number;
}

/**
 * Decides the fate of a failed attempt.
 * - A `NonRetriableError` (kind `non-retriable`) gives up at once.
 * - The last of `policy.attempts` gives up as `failed`.
 * - A retry that would start after the event reached `maxEventAgeMs` gives up as `expired`, now
 *   rather than after a pointless wait.
 * - Otherwise: retry after the policy's backoff with jitter.
 * Giving up means `dead-letter`, or `drop` when the function has `deadLetter: false`.
 *
 * @example decideRetry({ attempt: 1, errorKind: 'handler', policy, deadLetter: true, eventTime: 0, maxEventAgeMs: null, now: 0, random: () => 0.5 })
 */
export function decideRetry(f: FailedAttempt): RetryDecision {
  const giveUp = (reason: GiveUpReason): RetryDecision => ({ action: f.deadLetter ? 'dead-letter' : 'drop', reason });
  if (f.errorKind === 'non-retriable') return giveUp('non-retriable');
  if (f.attempt >= f.policy.attempts) return giveUp('failed');
  const delayMs = retryDelayMs(f.policy, f.attempt, f.random);
  if (f.maxEventAgeMs !== null && f.now + delayMs - f.eventTime > f.maxEventAgeMs) return giveUp('expired');
  return { action: 'retry', delayMs };
}
