import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupConflictError, ManifestError } from '../../runtime/errors.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import { ownerConflicts, resolveGroups, retryWaitMs, type GroupMember } from '../../runtime/policy/group-owners.ts';

/** A member of `group` with `rank` and manifest fields `extra` (validated, defaults applied). */
function member(name: string, rank: number, group: unknown, extra: Record<string, unknown> = {}): GroupMember {
  return { name, rank, file: `functions/${name}.ts`, manifest: parseManifest(`functions/${name}.ts`, { events: ['a'], group, ...extra }) };
}

/** Every ordering of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

test('members run by order, then name; functions without a group are not in any', () => {
  const { groups, refused } = resolveGroups([
    member('zeta', 0, 'billing'),
    member('alpha', 1, { name: 'billing', order: 1 }),
    member('beta', 2, 'billing'),
    { ...member('solo', 3, null) },
    member('x', 4, { name: 'audit', mode: 'parallel' }),
  ]);
  assert.deepEqual(groups, [
    { name: 'audit', owner: 'x', mode: 'parallel', members: ['x'] },
    { name: 'billing', owner: 'zeta', mode: 'sequential', members: ['beta', 'zeta', 'alpha'] },
  ]);
  assert.equal(refused.size, 0);
});

test('the owner is the member that joined first, whatever the names and the order given', () => {
  const owner = member('zz-victim', 1, { name: 'billing', mode: 'parallel' });
  const squatter = member('aa-squatter', 2, 'billing'); // sequential by default, and its name sorts first
  const fits = member('mm-fits', 3, { name: 'billing', mode: 'parallel' }, { timeoutMs: 1000 });
  for (const given of permutations([owner, squatter, fits])) {
    const { groups, refused } = resolveGroups(given);
    assert.deepEqual(groups, [{ name: 'billing', owner: 'zz-victim', mode: 'parallel', members: ['mm-fits', 'zz-victim'] }]);
    assert.deepEqual([...refused.keys()], ['aa-squatter']);
  }
  // Ties in rank break by name.
  assert.equal(resolveGroups([member('b', 0, 'g'), member('a', 0, 'g')]).groups[0]!.owner, 'a');
});

test('a refused member gets a GroupConflictError naming it, the owner, the group and each field', () => {
  const owner = member('billing', 1, 'ledger', { instances: 2 });
  const squatter = member('squatter', 2, { name: 'ledger', mode: 'parallel' }, {
    ordering: 'partition', timeoutMs: 300_000, concurrency: 1, instances: 1,
    retry: { attempts: 100, backoff: 'fixed', initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
  });
  const error = resolveGroups([owner, squatter]).refused.get('squatter');
  assert.ok(error instanceof GroupConflictError);
  assert.ok(error instanceof ManifestError);
  assert.equal(error.code, 'ERR_MANIFEST');
  assert.deepEqual([error.file, error.group, error.member, error.owner], ['functions/squatter.ts', 'ledger', 'squatter', 'billing']);
  assert.deepEqual(Object.fromEntries(error.issues.map((i) => [i.path, i.message])), {
    'group.mode': 'function "squatter" puts group "ledger" in "parallel" mode but group "ledger"\'s owner "billing" has "sequential" ("sequential" is the default when a group is given by name only); every function in a group must use its owner\'s mode',
    ordering: 'function "squatter" asks for ordering "partition", which would hold every key of group "ledger" behind each other, but group "ledger"\'s owner "billing" has "key"; use ordering "key", or leave the group',
    timeoutMs: 'function "squatter" has timeoutMs 300000, above the 5000 of group "ledger"\'s owner "billing": a member may not hold the group\'s events longer than its owner; lower it to at most 5000, or leave the group',
    'retry.attempts': 'function "squatter" has retry.attempts 100, above the 3 of group "ledger"\'s owner "billing"; lower it to at most 3, or leave the group',
    retry: 'the retries of function "squatter" wait up to 356400000 ms in all (its backoff, initialDelayMs and maxDelayMs), above the 600 ms of group "ledger"\'s owner "billing"; shorten its delays, or leave the group',
    instances: 'function "squatter" has instances 1, below the 2 of group "ledger"\'s owner "billing": the group\'s events would queue for its isolates; raise it to at least 2, or leave the group',
    concurrency: 'function "squatter" has concurrency 1, below the 100 of group "ledger"\'s owner "billing": the group\'s keys would queue for its slots; raise it to at least 100, or leave the group',
  });
  assert.match(error.message, /^invalid manifest in functions\/squatter\.ts:\n {2}group\.mode: /);
});

test('a member may ask for less than its owner: a shorter timeout, fewer or shorter retries, more concurrency, key order in a partition-ordered group', () => {
  const owner = member('owner', 1, 'g', { ordering: 'partition', timeoutMs: 10_000, concurrency: 10, retry: { attempts: 5, initialDelayMs: 1000, maxDelayMs: 60_000 } });
  const modest = member('modest', 2, 'g', { ordering: 'key', timeoutMs: 10_000, concurrency: 500, retry: { attempts: 5, backoff: 'fixed', initialDelayMs: 1000, maxDelayMs: 1000 } });
  assert.deepEqual(ownerConflicts(modest, owner), []);
  assert.deepEqual(resolveGroups([owner, modest]).groups[0]!.members, ['modest', 'owner']);
  // The same member as owner: now the other one asks for more.
  assert.deepEqual(ownerConflicts(owner, modest).map((i) => i.path), ['ordering', 'retry', 'concurrency']);
});

test('retryWaitMs is the nominal backoff between all attempts (jitter only shortens a delay)', () => {
  assert.equal(retryWaitMs({ attempts: 1, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 }), 0);
  assert.equal(retryWaitMs({ attempts: 3, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 }), 200 + 400);
  assert.equal(retryWaitMs({ attempts: 10, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 }), 200 + 400 + 800 + 1600 + 3200 + 6400 + 12_800 + 25_600 + 30_000);
  assert.equal(retryWaitMs({ attempts: 4, backoff: 'fixed', initialDelayMs: 500, maxDelayMs: 300 }), 900);
});
