import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../runtime/errors.ts';
import { Keys, namespaceProblem } from '../../runtime/redis/keys.ts';

test('namespaces are 1 to 64 letters, digits, ".", "_" or "-"', () => {
  for (const ok of ['fnrun', 'app-prod', 'app_2.eu', 'A', 'x'.repeat(64)]) assert.equal(namespaceProblem(ok), undefined, ok);
  const cases: [string, string][] = [
    ['', 'it is empty'],
    ['x'.repeat(65), 'it is 65 characters long, over 64'],
    ['fnrun:{p0}', 'it contains ":"'],
    ['a{b', 'it contains "{"'],
    ['a}b', 'it contains "}"'],
    ['a b', 'it contains " "'],
    ['a\nb', 'it contains "\\n"'],
    ['a\u001bb', 'it contains "\\u001b"'],
    ['a*', 'it contains "*"'],
    ['ünï', 'it contains "ü"'],
  ];
  for (const [namespace, reason] of cases) {
    const problem = namespaceProblem(namespace) ?? 'valid';
    assert.ok(problem.startsWith(reason), `${JSON.stringify(namespace)}: ${problem}`);
    assert.throws(() => new Keys(namespace), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`invalid namespace ${JSON.stringify(namespace)}: ${reason}`));
  }
  assert.match(namespaceProblem('a:b')!, /no braces, colons, whitespace or control characters/);
});

test('why: a namespace with ":" and a tag would build the keys of another namespace', () => {
  // What the check prevents: namespace "a:{p0}" would own "a:{p0}:{p0}:events", and its meta
  // hash would be "a:{p0}:meta" — a key inside partition 0 of namespace "a".
  assert.throws(() => new Keys('a:{p0}'), ConfigError);
  const a = new Keys('a');
  assert.ok(a.partition(0).events.startsWith('a:{p0}:'));
});

test('event dedupe keys are scoped per (type, key, id), unambiguously, inside the partition tag', () => {
  const p = new Keys('ns').partition(3);
  const keys = [
    p.eventDedupe('t', 'k', 'id'),
    p.eventDedupe('t', 'k2', 'id'),
    p.eventDedupe('t2', 'k', 'id'),
    p.eventDedupe('t', null, 'id'),
    p.eventDedupe('t', '', 'id'),
    p.eventDedupe('t', 'k:id', ''),
    p.eventDedupe('t', 'k","id', 'x'),
  ];
  assert.equal(new Set(keys).size, keys.length);
  for (const k of keys) assert.ok(k.startsWith('ns:{p3}:dedupe:'), k);
  // fnrun's own relay ids keep their partition-wide form, which no scoped key can take.
  assert.equal(p.dedupe('outbox:1:5-0'), 'ns:{p3}:dedupe:outbox:1:5-0');
});
