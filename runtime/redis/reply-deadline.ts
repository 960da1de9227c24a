/**
 * A deadline on Redis replies. The client can lose a reply across a reconnect and then never
 * settle the command's promise (seen under Sentinel for a commit; a Cluster fault test once hung
 * the same way, with no timer left, in a step not yet known). Every worker step that awaits Redis
 * goes through {@link replyWithin}, so a lost reply becomes an error the worker recovers from
 * instead of a silent hang. `what` is a constant label: the hot path builds no string per call.
 */
import { withDeadline } from '../policy/deadline.ts';

/**
 * How long a worker's command may go unanswered. Far beyond a reconnect or a failover (ioredis
 * holds commands in its offline queue meanwhile), so it fires only for a reply that never comes.
 */
export const REDIS_REPLY_TIMEOUT_MS = 30_000;

/** What a reply deadline rejects with: `what` got no reply in time (it may still have run). */
export class NoReplyError extends Error {
  override readonly name = 'NoReplyError';
}

/**
 * `work`'s outcome, or a {@link NoReplyError} once `ms` passed. The command may still have run on
 * the server, or still be queued in the client: `onLate` is called if it settles after all, so the
 * caller can redo what the late reply invalidates (a read's entries went to the pending list).
 */
export function replyWithin<T>(work: Promise<T>, what: string, ms = REDIS_REPLY_TIMEOUT_MS, onLate?: () => void): Promise<T> {
  return withDeadline(work, ms, (): never => {
    if (onLate) work.then(onLate, onLate);
    throw new NoReplyError(`no reply from Redis to ${what} within ${ms / 1000} s`);
  });
}
