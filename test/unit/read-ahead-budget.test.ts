import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadAheadBudget } from '../../runtime/worker/read-ahead-budget.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the budget fills at its limit, says so once per filling, and wakes every waiter when it has room again', async () => {
  const fills: number[] = [];
  const budget = new ReadAheadBudget(100, (bytes) => fills.push(bytes));
  budget.add(60);
  assert.equal(budget.full, false);
  budget.add(50);
  assert.equal(budget.full, true);
  budget.add(10);
  assert.deepEqual(fills, [110], 'told once, when it filled');
  const woken: string[] = [];
  budget.whenRoom(() => woken.push('a'));
  const cancelB = budget.whenRoom(() => woken.push('b'));
  budget.whenRoom(() => woken.push('c'));
  cancelB();
  budget.release(15); // 105: still full
  assert.deepEqual(woken, []);
  budget.release(10); // 95: room
  assert.equal(budget.full, false);
  assert.deepEqual(woken, ['a', 'c'], 'every waiter but the one that took its request back, in order');
  budget.release(1);
  assert.deepEqual(woken, ['a', 'c'], 'each woken once');
  budget.add(20);
  assert.deepEqual(fills, [110, 114], 'told again when it fills again');
  assert.equal(budget.bytes, 114);
});

test('asking for room while there is some answers on the next microtask', async () => {
  const budget = new ReadAheadBudget(100);
  let woken = 0;
  budget.whenRoom(() => woken++);
  assert.equal(woken, 0, 'not from inside the call');
  await tick();
  assert.equal(woken, 1);
});
