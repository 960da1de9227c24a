import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDurationMs } from '../../runtime/policy/duration.ts';
import { isValidName } from '../../runtime/policy/function-name.ts';

test('parseDurationMs reads every unit, and a bare number only when asked', () => {
  assert.deepEqual(['500ms', '30s', '1.5h', '90m', '7d', ' 2h '].map((t) => parseDurationMs(t)), [500, 30_000, 5_400_000, 5_400_000, 604_800_000, 7_200_000]);
  assert.equal(parseDurationMs('1732300000000'), null);
  assert.equal(parseDurationMs('250', { bareMs: true }), 250);
  for (const bad of ['', 'h', '-1s', '1w', '1 h', '2026-01-01']) assert.equal(parseDurationMs(bad, { bareMs: true }), null, bad);
});

test('function names: lowercase, digits, - and _, at most 63 characters, no braces', () => {
  for (const ok of ['a', 'count-posts', 'x_1', '9lives', 'a'.repeat(63)]) assert.ok(isValidName(ok), ok);
  for (const bad of ['', '-a', '_a', 'A', 'a{b}', 'a.b', 'a'.repeat(64)]) assert.ok(!isValidName(bad), bad);
});
