import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileEventMatcher, eventPatternProblem, isEventType, type MatchMeter } from '../../runtime/policy/event-matcher.ts';
import { ConfigError } from '../../runtime/errors.ts';

function check(patterns: string[], yes: string[], no: string[]): void {
  const matches = compileEventMatcher(patterns);
  for (const type of yes) assert.equal(matches(type), true, `${JSON.stringify(patterns)} should match ${type}`);
  for (const type of no) assert.equal(matches(type), false, `${JSON.stringify(patterns)} should not match ${type}`);
}

test('exact names match only themselves, case-sensitively', () => {
  check(['post.created', 'user.signup'], ['post.created', 'user.signup'], ['post', 'post.created.x', 'Post.created', 'post.create', 'xpost.created']);
});

test('* is exactly one segment', () => {
  check(['post.*'], ['post.created', 'post.x'], ['post', 'post.a.b', 'posts.created', 'comment.created']);
  check(['*.created'], ['post.created', 'a.created'], ['created', 'a.b.created']);
  check(['*'], ['post', 'a'], ['post.created']);
});

test('* inside a segment matches characters within that segment only', () => {
  check(['post.*ed'], ['post.created', 'post.deleted', 'post.ed'], ['post.create', 'post.a.ed', 'post.edx']);
  check(['user-*.signup'], ['user-eu.signup', 'user-.signup'], ['user.signup', 'user-eu.x.signup']);
  check(['a*b*c'], ['abc', 'axxbyyc'], ['ab', 'a.b.c']);
});

test('** is one or more segments, anywhere', () => {
  check(['post.**'], ['post.a', 'post.a.b.c'], ['post', 'posts.a', 'comment.a']);
  check(['**.failed'], ['payment.failed', 'a.b.failed'], ['failed', 'payment.failed.x']);
  check(['a.**.z'], ['a.b.z', 'a.b.c.z'], ['a.z', 'a.b.c']);
  check(['a.**.**'], ['a.b.c', 'a.b.c.d'], ['a', 'a.b']);
});

test('a lone ** matches every event', () => {
  check(['**'], ['a', 'post.created', 'a.b.c.d.e'], []);
  check(['post.created', '**'], ['anything.at.all'], []);
});

test('several patterns: exact names and globs together', () => {
  check(['post.created', 'comment.*', 'billing.**'], ['post.created', 'comment.x', 'billing.a.b'], ['post.deleted', 'comment', 'billing']);
});

test('no patterns match nothing', () => {
  check([], [], ['a', 'a.b']);
});

test('invalid patterns are rejected with the reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['post..created', /empty segment/],
    ['.post', /empty segment/],
    ['post.', /empty segment/],
    ['post.**ed', /"\*\*" must be a whole segment/],
    ['post created', /contains " "/],
    ['post/created', /contains "\/"/],
    ['a'.repeat(256), /longer than 255/],
  ];
  for (const [pattern, reason] of cases) {
    assert.match(eventPatternProblem(pattern) ?? 'valid', reason, JSON.stringify(pattern));
    assert.throws(() => compileEventMatcher([pattern]), ConfigError);
  }
  assert.equal(eventPatternProblem('post.*.x-y_z.**'), undefined);
});

test('isEventType accepts dotted names and rejects globs and empty segments', () => {
  for (const ok of ['post', 'post.created', 'a-b.c_d.E9']) assert.equal(isEventType(ok), true, ok);
  for (const bad of ['', 'post.*', 'post..x', 'post.', 'a b']) assert.equal(isEventType(bad), false, bad);
});

/**
 * The glob semantics as a regular expression (what the matcher compiled to before it stopped
 * backtracking): the oracle for the equivalence test below, run only on inputs too short for
 * backtracking to matter.
 */
function oracle(pattern: string): RegExp {
  const segments = pattern.split('.').map((s) => (s === '**' ? '[^.]+(?:\\.[^.]+)*' : s === '*' ? '[^.]+' : s.replaceAll('*', '[^.]*')));
  return new RegExp(`^${segments.join('\\.')}$`);
}

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the matcher agrees with the glob semantics on 20,000 random patterns and types', () => {
  const random = prng(20_240_601);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const segment = () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(['a', 'b', 'a', '*'])).join('');
  let matched = 0;
  for (let i = 0; i < 20_000; i++) {
    const pattern = Array.from({ length: 1 + Math.floor(random() * 4) }, () => (random() < 0.25 ? '**' : segment())).join('.');
    const type = Array.from({ length: 1 + Math.floor(random() * 5) }, () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(['a', 'b'])).join('')).join('.');
    if (pattern === '**' || eventPatternProblem(pattern) !== undefined) continue;
    const expected = oracle(pattern).test(type);
    assert.equal(compileEventMatcher([pattern])(type), expected, `${pattern} against ${type}`);
    if (expected) matched++;
  }
  assert.ok(matched > 1000, `only ${matched} random cases matched: the test would not show much`);
});

/** Steps the matcher takes for one fresh (pattern, type) pair. */
function stepsFor(pattern: string, type: string): { matches: boolean; steps: number } {
  const meter: MatchMeter = { steps: 0 };
  const matches = compileEventMatcher([pattern], meter)(type);
  return { matches, steps: meter.steps };
}

test('pathological patterns against 255-character types match in bounded work (steps, not time)', () => {
  const cases: [name: string, pattern: string, type: string, matches: boolean][] = [
    // The case that took ~59 s as a backtracking RegExp (20 × "*a", 36 characters), and its
    // 255-character form: many "*a" in one segment against a run of "a" that cannot end right.
    ['20 × *a, 36 characters', '*a'.repeat(20) + 'b', 'a'.repeat(36), false],
    ['*a × 127, 255 characters', `${'*a'.repeat(127)}b`, 'a'.repeat(255), false],
    ['*a × 127 that matches', `${'*a'.repeat(127)}*`, 'a'.repeat(255), true],
    // "**" between single segments: every split of the type is a candidate for a backtracker.
    ['** and a, alternating', `${'**.a.'.repeat(50)}b`, `${'a.'.repeat(127)}c`, false],
    ['** runs and *', `${'**.*.'.repeat(50)}**.b`, `${'a.'.repeat(127)}c`, false],
    ['** with in-segment globs', `${'**.*a*a.'.repeat(28)}**`, `${'aaa.'.repeat(63)}aa`, true],
    ['** with in-segment globs, no match', `${'**.*a*a*b.'.repeat(25)}**`, `${'aaaaa.'.repeat(42)}aa`, false],
  ];
  for (const [name, pattern, type, matches] of cases) {
    assert.equal(eventPatternProblem(pattern), undefined, `${name}: the pattern is valid`);
    assert.ok(type.length <= 255 && isEventType(type), `${name}: the type is valid`);
    const result = stepsFor(pattern, type);
    assert.equal(result.matches, matches, name);
    const bound = 2 * (pattern.length + 1) * (type.length + 1);
    assert.ok(result.steps <= bound, `${name}: ${result.steps} steps, over the bound ${bound}`);
  }
});

test('the bound holds on random adversarial shapes too, and work grows no faster than pattern × type', () => {
  const random = prng(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  for (let i = 0; i < 300; i++) {
    let pattern = '';
    while (pattern.length < 200) pattern += (pattern ? '.' : '') + pick(['**', '*', 'a', '*a*', 'a*a', '*a*a*a*b', '**']);
    let type = '';
    while (type.length < 240) type += (type ? '.' : '') + 'a'.repeat(1 + Math.floor(random() * 6));
    if (eventPatternProblem(pattern) !== undefined) continue;
    const { matches, steps } = stepsFor(pattern, type);
    assert.equal(matches, oracleIfCheap(pattern, type) ?? matches);
    assert.ok(steps <= 2 * (pattern.length + 1) * (type.length + 1), `${pattern} / ${type}: ${steps} steps`);
  }
});

/** The oracle's answer when the pattern has few enough globs for a backtracking RegExp to be quick. */
function oracleIfCheap(pattern: string, type: string): boolean | undefined {
  return (pattern.match(/\*/g) ?? []).length <= 3 ? oracle(pattern).test(type) : undefined;
}

test('a matcher remembers its answers: a repeated type takes no steps', () => {
  const meter: MatchMeter = { steps: 0 };
  const matches = compileEventMatcher(['post.*', 'billing.**'], meter);
  assert.equal(matches('billing.invoice.paid'), true);
  const first = meter.steps;
  assert.ok(first > 0);
  for (let i = 0; i < 10; i++) assert.equal(matches('billing.invoice.paid'), true);
  assert.equal(meter.steps, first);
  // More distinct types than it keeps: answers stay right.
  for (let i = 0; i < 3000; i++) assert.equal(matches(`post.e${i}`), true);
  assert.equal(matches('post.a.b'), false);
});

test('types that are not event types: empty segments never match; other characters are globbed as usual', () => {
  check(['post.*', '**.x', 'a*'], ['post.created now!', 'a b', 'x y.x'], ['', 'post.', 'post..x', '.x', 'b.x.']);
  assert.equal(compileEventMatcher(['**'])(''), true);
});

test('a type over 255 characters (a malformed entry) matches every matcher at once, so every function dead-letters it', () => {
  const meter: MatchMeter = { steps: 0 };
  for (const type of [`post.${'a'.repeat(300)}`, 'z'.repeat(10 * 1024 * 1024)]) {
    assert.equal(compileEventMatcher(['post.*', `${'*a'.repeat(100)}b`], meter)(type), true);
    assert.equal(compileEventMatcher(['other.name'])(type), true);
  }
  assert.equal(meter.steps, 0);
});
