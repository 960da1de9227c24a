import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRetry, type FailedAttempt } from '../../runtime/policy/retry-decision.ts';

const policy = { attempts: 3, backoff: 'exponential' as const, initialDelayMs: 200, maxDelayMs: 30_000 };
const base: FailedAttempt = { attempt: 1, errorKind: 'handler', policy, deadLetter: true, eventTime: 0, maxEventAgeMs: null, now: 1_000, random: () => 1 };

test('a failed attempt before the last is retried after the backoff', () => {
  assert.deepEqual(decideRetry(base), { action: 'retry', delayMs: 200 });
  assert.deepEqual(decideRetry({ ...base, attempt: 2 }), { action: 'retry', delayMs: 400 });
  assert.deepEqual(decideRetry({ ...base, attempt: 2, random: () => 0 }), { action: 'retry', delayMs: 200 });
});

test('the last attempt gives up: dead-letter, or drop without a DLQ', () => {
  assert.deepEqual(decideRetry({ ...base, attempt: 3 }), { action: 'dead-letter', reason: 'failed' });
  assert.deepEqual(decideRetry({ ...base, attempt: 3, deadLetter: false }), { action: 'drop', reason: 'failed' });
  assert.deepEqual(decideRetry({ ...base, attempt: 1, policy: { ...policy, attempts: 1 } }), { action: 'dead-letter', reason: 'failed' });
});

test('a NonRetriableError gives up on its first attempt', () => {
  assert.deepEqual(decideRetry({ ...base, errorKind: 'non-retriable' }), { action: 'dead-letter', reason: 'non-retriable' });
  assert.deepEqual(decideRetry({ ...base, errorKind: 'non-retriable', deadLetter: false }), { action: 'drop', reason: 'non-retriable' });
});

test('timeouts, memory kills and crashes are retried like handler errors', () => {
  for (const errorKind of ['timeout', 'memory', 'crash'] as const) assert.equal(decideRetry({ ...base, errorKind }).action, 'retry');
});

test('a retry that would start past maxEventAgeMs gives up as expired, at once', () => {
  assert.deepEqual(decideRetry({ ...base, maxEventAgeMs: 1_100 }), { action: 'dead-letter', reason: 'expired' });
  assert.deepEqual(decideRetry({ ...base, maxEventAgeMs: 1_200 }), { action: 'retry', delayMs: 200 });
});
