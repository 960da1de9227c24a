import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManifestError } from '../../runtime/errors.ts';
import { MANIFEST_DEFAULTS, parseManifest } from '../../runtime/loading/manifest.ts';
import type { FunctionConfig } from '../../runtime/sdk.ts';
import type { Manifest } from '../../runtime/types.ts';

function issuesOf(raw: unknown): Record<string, string> {
  try {
    parseManifest('functions/x.ts', raw);
  } catch (error) {
    assert.ok(error instanceof ManifestError);
    assert.equal(error.code, 'ERR_MANIFEST');
    assert.equal(error.file, 'functions/x.ts');
    return Object.fromEntries(error.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected a ManifestError');
}

test('a minimal manifest gets every default', () => {
  assert.deepEqual(parseManifest('f.ts', { events: ['post.created'] }), {
    events: ['post.created'],
    group: null,
    retry: { attempts: 3, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 },
    deadLetter: true,
    timeoutMs: 5_000,
    memoryMb: 64,
    maxEventAgeMs: null,
    env: [],
    startFrom: 'latest',
    ordering: 'key',
    concurrency: 100,
    instances: 1,
    maxHops: 16,
    state: { ttlMs: null },
    network: { allow: [], maxResponseBytes: 10 * 1024 * 1024, maxRequestBytes: 10 * 1024 * 1024, maxRedirects: 5, maxConcurrent: 16 },
  } satisfies Manifest);
});

test('ordering, concurrency, instances, maxHops and state are checked with their field', () => {
  assert.throws(() => parseManifest('f.ts', { events: ['a'], ordering: 'global' }), /ordering: expected "key"/);
  assert.throws(() => parseManifest('f.ts', { events: ['a'], concurrency: 0 }), /concurrency: expected an integer from 1 to 10000, got 0/);
  assert.throws(() => parseManifest('f.ts', { events: ['a'], instances: 99 }), /instances: expected an integer from 1 to 16/);
  assert.throws(() => parseManifest('f.ts', { events: ['a'], maxHops: -1 }), /maxHops/);
  assert.throws(() => parseManifest('f.ts', { events: ['a'], state: { ttl: 5 } }), /state\.ttl: unknown field; did you mean "ttlMs"\?/);
  assert.deepEqual(parseManifest('f.ts', { events: ['a'], ordering: 'partition', concurrency: 5, state: { ttlMs: 60_000 } }).state, { ttlMs: 60_000 });
});

test('defaults come from MANIFEST_DEFAULTS and are not shared between manifests', () => {
  const a = parseManifest('a.ts', { events: ['a'] });
  const b = parseManifest('b.ts', { events: ['b'] });
  assert.deepEqual({ ...a.retry }, { ...MANIFEST_DEFAULTS.retry });
  a.env.push('X');
  a.retry.attempts = 99;
  assert.deepEqual(b.env, []);
  assert.equal(b.retry.attempts, MANIFEST_DEFAULTS.retry.attempts);
  assert.ok(Object.isFrozen(MANIFEST_DEFAULTS) && Object.isFrozen(MANIFEST_DEFAULTS.retry));
});

test('a full manifest is kept, groups normalised and lists deduplicated', () => {
  const m = parseManifest('f.ts', {
    events: ['post.*', 'post.*', 'billing.**'],
    group: { name: 'billing', mode: 'parallel', order: 2 },
    retry: { attempts: 5, backoff: 'fixed', initialDelayMs: 1000, maxDelayMs: 1000 },
    deadLetter: false,
    timeoutMs: 300_000,
    memoryMb: 8,
    maxEventAgeMs: 60_000,
    env: ['API_TOKEN', '_X1', 'API_TOKEN'],
    startFrom: 'earliest',
  } satisfies FunctionConfig);
  assert.deepEqual(m.events, ['post.*', 'billing.**']);
  assert.deepEqual(m.group, { name: 'billing', mode: 'parallel', order: 2 });
  assert.deepEqual(m.retry, { attempts: 5, backoff: 'fixed', initialDelayMs: 1000, maxDelayMs: 1000 });
  assert.deepEqual(m.env, ['API_TOKEN', '_X1']);
  assert.equal(m.startFrom, 'earliest');
  assert.equal(m.deadLetter, false);
});

test('a group given by name is sequential at order 0; null means no group', () => {
  assert.deepEqual(parseManifest('f.ts', { events: ['a'], group: 'billing' }).group, { name: 'billing', mode: 'sequential', order: 0 });
  assert.equal(parseManifest('f.ts', { events: ['a'], group: null }).group, null);
  assert.equal(parseManifest('f.ts', { events: ['a'], maxEventAgeMs: null }).maxEventAgeMs, null);
});

test('every problem is listed with its path, what was got and what was expected', () => {
  const issues = issuesOf({
    events: ['post..x', 3],
    retry: { attempts: '3', backoff: 'linear' },
    group: { name: 'Billing', mode: 'paralel' },
    deadLetter: 'yes',
    timeoutMs: 0,
    memoryMb: 4096.5,
    maxEventAgeMs: -1,
    env: ['lower'],
    startFrom: 'now',
  });
  assert.deepEqual(issues, {
    'events[0]': 'invalid event-type pattern "post..x": it has an empty segment (a leading, trailing or doubled ".")',
    'events[1]': 'expected an event-type pattern such as "post.created" or "post.*", got 3',
    'retry.attempts': 'expected an integer from 1 to 100, got "3"',
    'retry.backoff': 'expected "exponential" or "fixed", got "linear"',
    'group.name': 'expected a group name (lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 63 characters), got "Billing"',
    'group.mode': 'expected "sequential" or "parallel", got "paralel"',
    deadLetter: 'expected true or false, got "yes"',
    timeoutMs: 'expected a whole number of milliseconds from 1 to 300000, got 0',
    memoryMb: 'expected a whole number of megabytes from 8 to 2048, got 4096.5',
    maxEventAgeMs: 'expected a positive whole number of milliseconds, or null for no limit, got -1',
    'env[0]': 'expected an environment variable name such as "API_TOKEN" ([A-Z_][A-Z0-9_]*), got "lower"',
    startFrom: 'expected "latest" or "earliest", got "now"',
  });
});

test('events is required and must be a non-empty array', () => {
  const expected = 'a non-empty array of event-type patterns such as ["post.created", "post.*"]';
  assert.deepEqual(issuesOf({}), { events: `missing; expected ${expected}` });
  assert.deepEqual(issuesOf({ events: [] }), { events: `expected ${expected}, got []` });
  assert.deepEqual(issuesOf({ events: 'post.created' }), { events: `expected ${expected}, got "post.created"` });
});

test('a function lists at most 256 patterns, and its globs 1,024 characters in all (matching cost is bounded per function)', () => {
  const names = Array.from({ length: 257 }, (_, i) => `e.n${i}`);
  assert.deepEqual(issuesOf({ events: names }), { events: 'too many event-type patterns: 257 patterns, over the limit of 256; use globs such as "post.*"' });
  assert.equal(parseManifest('f.ts', { events: names.slice(0, 256) }).events.length, 256);
  const globs = Array.from({ length: 6 }, (_, i) => `${'*a'.repeat(100)}.x${i}`); // 203 characters each
  assert.deepEqual(issuesOf({ events: globs }), {
    events: 'too many event-type patterns: the patterns with "*" have 1218 characters in all, over the limit of 1024; list exact names or use fewer, shorter globs',
  });
  assert.equal(parseManifest('f.ts', { events: globs.slice(0, 5) }).events.length, 5);
});

test('a config that is not an object says what it should be', () => {
  assert.match(issuesOf(undefined)['']!, /^missing; expected an object such as \{ events/);
  assert.match(issuesOf([1])['']!, /got \[1\]$/);
  assert.match(new ManifestError('f.ts', [{ path: '', message: 'x' }]).message, /\(config\): x/);
});

test('unknown fields are errors, with the closest known field suggested', () => {
  assert.deepEqual(issuesOf({ events: ['a'], retires: 3, TimeoutMs: 1, retry: { backof: 'fixed' }, group: { name: 'g', extra: 1 }, zzz: 1 }), {
    retires: 'unknown field; did you mean "retry"?',
    TimeoutMs: 'unknown field; did you mean "timeoutMs"?',
    'retry.backof': 'unknown field; did you mean "backoff"?',
    'group.extra': 'unknown field; known fields: name, mode, order',
    zzz: 'unknown field; known fields: events, group, retry, deadLetter, timeoutMs, memoryMb, maxEventAgeMs, env, startFrom, ordering, concurrency, instances, maxHops, state, network',
  });
});

test('network: defaults to no network, and keeps a valid allow-list and limits (deduplicated)', () => {
  const none = parseManifest('f.ts', { events: ['a'] }).network;
  assert.deepEqual(none.allow, []);
  assert.deepEqual({ ...none, allow: [...none.allow] }, { ...MANIFEST_DEFAULTS.network, allow: [] });
  const m = parseManifest('f.ts', {
    events: ['a'],
    network: { allow: ['api.example.com', '*.example.org', '127.0.0.1:9000', 'localhost:8080', '[::1]:3000', '::1', 'api.example.com'], maxResponseBytes: 1024, maxRequestBytes: 0, maxRedirects: 0, maxConcurrent: 1 },
  } satisfies FunctionConfig);
  assert.deepEqual(m.network, {
    allow: ['api.example.com', '*.example.org', '127.0.0.1:9000', 'localhost:8080', '[::1]:3000', '::1'],
    maxResponseBytes: 1024, maxRequestBytes: 0, maxRedirects: 0, maxConcurrent: 1,
  });
  assert.deepEqual(parseManifest('f.ts', { events: ['a'], network: {} }).network.allow, []);
});

test('network: each bad entry and limit is named with the fix', () => {
  const issues = issuesOf({
    events: ['a'],
    network: {
      allow: ['https://api.example.com/v1', '*', 'api.*.com', '*.com', 'host:0', 'host:http', '[::1', '127.1', 'a b', '', 3, 'bücher.de', '::1:zz'],
      maxResponseBytes: -1, maxRedirects: 21, maxConcurrent: 0, maxRequestBytes: 1.5, alow: [],
    },
  });
  assert.deepEqual(issues, {
    'network.allow[0]': 'invalid entry "https://api.example.com/v1": write the host without a scheme, e.g. "api.example.com" (http and https are both allowed)',
    'network.allow[1]': 'invalid entry "*": a lone "*" would allow every host; list the hosts, or a domain as "*.example.org"',
    'network.allow[2]': 'invalid entry "api.*.com": "*" may only be the whole first label, as in "*.example.org"',
    'network.allow[3]': 'invalid entry "*.com": "*.com" would cover a whole top-level domain; use a domain such as "*.example.org"',
    'network.allow[4]': 'invalid entry "host:0": the port must be a number from 1 to 65535, got "0"',
    'network.allow[5]': 'invalid entry "host:http": the port must be a number from 1 to 65535, got "http"',
    'network.allow[6]': 'invalid entry "[::1": an IPv6 address in brackets must look like "[::1]" or "[::1]:3000"',
    'network.allow[7]': 'invalid entry "127.1": "127.1" is neither a host name nor an IPv4 address in dotted decimal (such as 127.0.0.1)',
    'network.allow[8]': 'invalid entry "a b": the entry contains whitespace',
    'network.allow[9]': 'invalid entry "": the entry is empty; write a host such as "api.example.com", "*.example.org", "127.0.0.1:9000" or "[::1]:3000"',
    'network.allow[10]': 'expected a host such as "api.example.com", "*.example.org", "127.0.0.1:9000" or "[::1]:3000", got 3',
    'network.allow[11]': 'invalid entry "bücher.de": write an internationalised name in its punycode form ("xn--…")',
    'network.allow[12]': 'invalid entry "::1:zz": "::1:zz" is not an IPv6 address; with a port, write it in brackets: "[::1]:3000"',
    'network.maxResponseBytes': 'expected a whole number of bytes from 0 to 536870912, got -1',
    'network.maxRequestBytes': 'expected a whole number of bytes from 0 to 536870912, got 1.5',
    'network.maxRedirects': 'expected an integer from 0 to 20, got 21',
    'network.maxConcurrent': 'expected an integer from 1 to 256, got 0',
    'network.alow': 'unknown field; did you mean "allow"?',
  });
  assert.deepEqual(issuesOf({ events: ['a'], network: ['api.example.com'] }), {
    network: 'expected { allow: ["api.example.com", …], maxResponseBytes?, maxRequestBytes?, maxRedirects?, maxConcurrent? }, got ["api.example.com"]',
  });
  assert.deepEqual(issuesOf({ events: ['a'], network: { allow: 'api.example.com' } }), {
    'network.allow': 'expected an array of hosts such as ["api.example.com", "*.example.org"], got "api.example.com"',
  });
});

test('initialDelayMs above maxDelayMs is refused with the fix', () => {
  assert.deepEqual(issuesOf({ events: ['a'], retry: { initialDelayMs: 60_000 } }), {
    'retry.initialDelayMs': 'initialDelayMs (60000) is above maxDelayMs (30000); raise maxDelayMs or lower initialDelayMs',
  });
});

test('long or odd values are described briefly', () => {
  const issues = issuesOf({ events: ['a'], timeoutMs: 'x'.repeat(100), memoryMb: { a: 'y'.repeat(100) }, deadLetter: () => 1, startFrom: 10n });
  assert.equal(issues.timeoutMs, 'expected a whole number of milliseconds from 1 to 300000, got a 100-character string');
  assert.equal(issues.memoryMb, 'expected a whole number of megabytes from 8 to 2048, got an object');
  assert.equal(issues.deadLetter, 'expected true or false, got a function');
  assert.equal(issues.startFrom, 'expected "latest" or "earliest", got 10n (a bigint)');
});

// Compile-time: the manifest a user writes (sdk FunctionConfig) has exactly the fields of Manifest.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameKeys: Same<keyof FunctionConfig, keyof Manifest> = true;
void sameKeys;
