import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assignPartitions } from '../../runtime/policy/assignment.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => `host-${i}:${1000 + i}`);

test('every partition has exactly one owner and shares are balanced', () => {
  for (const [n, p] of [[1, 16], [3, 16], [5, 16], [3, 256], [16, 16], [20, 16]] as const) {
    const owner = assignPartitions(members(n), p);
    assert.equal(owner.length, p);
    const counts = new Map<string, number>();
    for (const m of owner) counts.set(m, (counts.get(m) ?? 0) + 1);
    for (const c of counts.values()) assert.ok(c <= Math.ceil(p / n), `at most ceil(P/N) for N=${n} P=${p}`);
    if (n <= p) assert.equal(counts.size, n, 'everyone gets work when there is enough');
  }
});

test('every member computes the same assignment whatever the order it sees members in', () => {
  const m = members(4);
  assert.deepEqual(assignPartitions(m, 64), assignPartitions([...m].reverse(), 64));
});

test('a member leaving moves mostly its own partitions', () => {
  const before = assignPartitions(members(4), 256);
  const after = assignPartitions(members(4).slice(0, 3), 256);
  const gone = members(4)[3]!;
  let movedOthers = 0;
  for (let p = 0; p < 256; p++) if (before[p] !== gone && before[p] !== after[p]) movedOthers++;
  assert.ok(movedOthers < 256 * 0.15, `few partitions of staying members moved: ${movedOthers}`);
});
