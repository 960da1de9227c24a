import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconnectDelayMs, retryDelayMs } from '../../runtime/policy/backoff.ts';
import type { RetryPolicy } from '../../runtime/types.ts';

const exponential: RetryPolicy = { attempts: 10, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 };
const fixed: RetryPolicy = { ...exponential, backoff: 'fixed' };
const top = () => 0.999_999;

test('exponential: initial × 2^(n−1), capped at maxDelayMs', () => {
  assert.deepEqual([1, 2, 3, 4, 8, 9, 50].map((n) => retryDelayMs(exponential, n, top)), [200, 400, 800, 1600, 25_600, 30_000, 30_000]);
});

test('fixed: initialDelayMs every time, still capped', () => {
  assert.deepEqual([1, 2, 7].map((n) => retryDelayMs(fixed, n, top)), [200, 200, 200]);
  assert.equal(retryDelayMs({ ...fixed, initialDelayMs: 500, maxDelayMs: 300 }, 1, top), 300);
});

test('equal jitter: from half the nominal delay (random 0) to the nominal delay', () => {
  assert.equal(retryDelayMs(exponential, 3, () => 0), 400);
  assert.equal(retryDelayMs(exponential, 3, () => 0.5), 600);
  assert.equal(retryDelayMs(exponential, 3, top), 800);
  assert.equal(retryDelayMs(exponential, 20, () => 0), 15_000);
  for (let i = 0; i <= 100; i++) {
    const d = retryDelayMs({ ...fixed, initialDelayMs: 201 }, 1, () => i / 100);
    assert.ok(d >= 100.5 && d <= 201 && Number.isInteger(d), `random ${i / 100} gave ${d}`);
  }
});

test('huge attempt numbers and zero delays stay finite', () => {
  assert.equal(retryDelayMs(exponential, 5000, () => 0), 15_000);
  assert.equal(retryDelayMs({ ...exponential, initialDelayMs: 0, maxDelayMs: 0 }, 3, top), 0);
});

test('a random source outside [0, 1) cannot push the delay out of range', () => {
  assert.equal(retryDelayMs(exponential, 1, () => 7), 200);
  assert.equal(retryDelayMs(exponential, 1, () => -1), 100);
});

test('failedAttempt must be a positive integer', () => {
  for (const bad of [0, -1, 1.5]) assert.throws(() => retryDelayMs(exponential, bad, top), RangeError);
});

test('reconnectDelayMs doubles from its base and stops at its cap', () => {
  assert.deepEqual([0, 1, 2, 3, 6, 7, 100, 5000].map((n) => reconnectDelayMs(n, 100, 5000)), [100, 200, 400, 800, 5000, 5000, 5000, 5000]);
  assert.equal(reconnectDelayMs(-1, 50, 2000), 50);
});
