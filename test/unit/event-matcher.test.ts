import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileEventMatcher, eventPatternProblem, isEventType } from '../../runtime/policy/event-matcher.ts';
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
