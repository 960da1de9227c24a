/**
 * Bad input, case after case, through the paths a user hits: function files on disk (discovery,
 * esbuild, the sandbox, manifest validation), entries XADDed straight to a partition stream, the
 * publisher, and handlers that misbehave. Each case must end in a clear error or a dead letter with
 * a reason, and the runtime must keep going: after every case, the well-behaved function `good`
 * (test/fixtures/bad-input/good.ts) handles a fresh event in the same runtime.
 *
 * This file walks the whole list briefly; the deeper checks live elsewhere and are not repeated:
 * - test/unit/manifest.test.ts: parseManifest's messages, defaults, "did you mean", group ordering;
 * - test/unit/bundler.test.ts and test/unit/discover.test.ts: bundle errors with locations, Node
 *   built-ins, invalid or duplicate function names;
 * - test/integration/sandbox.test.ts: the sandbox alone — timeouts (sync, after await, timer, never),
 *   heap growth, uninterruptible allocations that replace the sandbox process, escapes and the
 *   globals an isolate has, bad emits, throwing timers, stray rejections;
 * - test/integration/runtime.test.ts: "malformed entries" (no type, bad JSON, oversize, bad type)
 *   and "sandbox failures at runtime" (loops, heap bomb, huge array, escape) through a runtime;
 * - test/integration/publisher.test.ts: oversize and bad types refused by publish.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { deployFunctions } from '../../runtime/deploy/deployer.ts';
import { Registry } from '../../runtime/deploy/registry.ts';
import { RegistryFollower } from '../../runtime/drivers/registry-follower.ts';
import { GroupConflictError } from '../../runtime/errors.ts';
import { bundleFunction } from '../../runtime/loading/bundler.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import {
  ConfigError, DeadLetterQueue, Keys, ManifestError, Publisher, Runtime, createJsonLogger,
  type DeadLetter, type InvocationRecord, type RuntimeOptions,
} from '../../runtime/index.ts';
import { runCli } from '../helpers/cli.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('bad-input');
const FIXTURES = fileURLToPath(new URL('../fixtures/bad-input/', import.meta.url));
const GOOD = `${FIXTURES}good.ts`;
const MiB = 1024 * 1024;

/** A runtime over one fixtures folder plus `good`, on one partition (so order is total). */
interface Setup {
  runtime: Runtime;
  recorder: Recorder;
  publisher: Publisher;
  dlq: DeadLetterQueue;
  client: Redis;
  stream: string;
}

async function setUp(namespace: string, folder: string | null, extra: Partial<RuntimeOptions> = {}): Promise<Setup> {
  const recorder = new Recorder();
  const runtime = await Runtime.create({
    redis: env.redis.url, namespace, partitions: 1, ...(folder === null ? {} : { functionsDir: `${FIXTURES}${folder}` }),
    logger: createJsonLogger('silent'), onInvocation: recorder.record, ...extra,
  });
  await runtime.start([await bundleFunction({ name: 'good', entry: GOOD })]);
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace });
  const client = env.redis.client();
  const keys = new Keys(namespace);
  return { runtime, recorder, publisher, client, dlq: new DeadLetterQueue(client, keys, 1), stream: keys.partition(0).events };
}

async function tearDown(s: Setup | undefined): Promise<void> {
  await s?.publisher.close();
  await s?.runtime.stop();
}

let fresh = 0;
/** The runtime keeps going: `good` handles an event published now. */
async function goodStillWorks(s: Setup): Promise<void> {
  const { id } = await s.publisher.publish('good.ping', `fresh-${++fresh}`, { n: fresh });
  const record = await waitFor(() => s.recorder.of('good').find((r) => r.eventId === id), { message: `good handled ${id}` });
  assert.equal(record.status, 'ok', `good failed: ${JSON.stringify(record.error)}`);
}

/** The settled outcome (ok, dead-lettered or dropped) of one event for one function. */
function settled(s: Setup, fn: string, eventId: string): Promise<InvocationRecord> {
  return waitFor(() => s.recorder.of(fn).find((r) => r.eventId === eventId && r.status !== 'retry'), { message: `${fn} settled ${eventId}` });
}

/** The dead letter of one event (the invocation is reported just before its commit lands). */
function letterOf(s: Setup, fn: string, eventId: string): Promise<DeadLetter> {
  return waitFor(async () => (await s.dlq.list(fn)).find((l) => l.eventId === eventId), { message: `dead letter of ${fn} for ${eventId}` });
}

describe('function files: every manifest field wrong in turn, and modules that cannot load', () => {
  let s: Setup;
  before(async () => { s = await setUp('manifests', 'manifests'); });
  after(() => tearDown(s));

  const bad = (field: string, reason: string) => ({ code: 'ERR_MANIFEST', field, reason });
  const cases: Record<string, { code: string; field?: string; reason: string | RegExp }> = {
    'no-config': bad('events', 'missing; expected a non-empty array of event-type patterns such as ["post.created", "post.*"]'),
    'config-string': bad('', 'expected an object such as { events: ["post.created"] } (export const config = { ... }), got "post.created"'),
    'config-function': bad('', 'expected an object such as { events: ["post.created"] } (export const config = { ... }), got a function'),
    'events-missing': bad('events', 'missing; expected a non-empty array of event-type patterns such as ["post.created", "post.*"]'),
    'events-string': bad('events', 'expected a non-empty array of event-type patterns such as ["post.created", "post.*"], got "bad.input"'),
    'events-empty': bad('events', 'expected a non-empty array of event-type patterns such as ["post.created", "post.*"], got []'),
    'events-pattern': bad('events[0]', 'invalid event-type pattern "bad..input": it has an empty segment (a leading, trailing or doubled ".")'),
    'events-number': bad('events[1]', 'expected an event-type pattern such as "post.created" or "post.*", got 42'),
    'retry-number': bad('retry', 'expected { attempts?, backoff?, initialDelayMs?, maxDelayMs? }, got 3'),
    'retry-attempts': bad('retry.attempts', 'expected an integer from 1 to 100, got 0'),
    'retry-attempts-string': bad('retry.attempts', 'expected an integer from 1 to 100, got "3"'),
    'retry-backoff': bad('retry.backoff', 'expected "exponential" or "fixed", got "linear"'),
    'retry-initial-delay': bad('retry.initialDelayMs', 'expected a whole number of milliseconds from 0 to 3600000, got -5'),
    'retry-max-delay': bad('retry.maxDelayMs', 'expected a whole number of milliseconds from 0 to 3600000, got 7200000'),
    'retry-delays-inverted': bad('retry.initialDelayMs', 'initialDelayMs (5000) is above maxDelayMs (100); raise maxDelayMs or lower initialDelayMs'),
    'retry-typo': bad('retry.attemps', 'unknown field; did you mean "attempts"?'),
    'dead-letter': bad('deadLetter', 'expected true or false, got "no"'),
    'timeout-zero': bad('timeoutMs', 'expected a whole number of milliseconds from 1 to 300000, got 0'),
    'timeout-string': bad('timeoutMs', 'expected a whole number of milliseconds from 1 to 300000, got "5s"'),
    'timeout-function': bad('timeoutMs', 'expected a whole number of milliseconds from 1 to 300000, got a function'),
    'timeout-bigint': bad('timeoutMs', 'expected a whole number of milliseconds from 1 to 300000, got 1000n (a bigint)'),
    'memory-small': bad('memoryMb', 'expected a whole number of megabytes from 8 to 2048, got 4'),
    'memory-nan': bad('memoryMb', 'expected a whole number of megabytes from 8 to 2048, got NaN'),
    'max-age': bad('maxEventAgeMs', 'expected a positive whole number of milliseconds, or null for no limit, got 0'),
    'max-age-infinity': bad('maxEventAgeMs', 'expected a positive whole number of milliseconds, or null for no limit, got Infinity'),
    'env-string': bad('env', 'expected an array of environment variable names such as ["API_TOKEN"], got "API_TOKEN"'),
    'env-name': bad('env[0]', 'expected an environment variable name such as "API_TOKEN" ([A-Z_][A-Z0-9_]*), got "api-token"'),
    'start-from': bad('startFrom', 'expected "latest" or "earliest", got "beginning"'),
    'network-allow': bad('network.allow[0]', 'invalid entry "https://api.example.com/v1": write the host without a scheme, e.g. "api.example.com" (http and https are both allowed)'),
    'group-number': bad('group', 'expected a group name such as "billing", or { name, mode?: "sequential" | "parallel", order?: number }, got 42'),
    'group-name': bad('group.name', 'expected a group name (lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 63 characters), got "Billing Team"'),
    'group-mode': bad('group.mode', 'expected "sequential" or "parallel", got "concurrent"'),
    'group-order': bad('group.order', 'expected a finite number (lower runs first), got "first"'),
    // group-parallel owns group "shared" (with no registry, the names decide at start), so
    // group-sequential is refused; saved over good.ts, good joins the group after it: refused too.
    'group-sequential': {
      code: 'ERR_MANIFEST', field: 'group.mode',
      reason: /^function "(group-sequential|good)" puts group "shared" in "sequential" mode but group "shared"'s owner "group-parallel" has "parallel" .*every function in a group must use its owner's mode$/,
    },
    'concurrency-zero': bad('concurrency', 'expected an integer from 1 to 10000, got 0'),
    'unknown-timeout': bad('timeout', 'unknown field; did you mean "timeoutMs"?'),
    'config-cycle': bad('retry.self', 'unknown field; known fields: attempts, backoff, initialDelayMs, maxDelayMs'),
    'defined-bad': bad('retry.attempts', 'expected an integer from 1 to 100, got 101'),
    // Not manifests, but the same path: the file cannot be bundled or loaded.
    'config-getter-throws': { code: 'ERR_SANDBOX_LOAD', reason: /top-level code threw: Error: no timeout for you\n +at get timeoutMs \(test\/fixtures\/bad-input\/manifests\/config-getter-throws\.ts:4:\d+\)/ },
    'empty': { code: 'ERR_SANDBOX_LOAD', reason: /the module exports nothing: export default a function/ },
    // The runtime allows no host variable (no allowEnv), and fnrun's own are never visible.
    'env-not-allowed': {
      code: 'ERR_ENV_NOT_ALLOWED',
      reason: /^function "(env-not-allowed|good)" \(.*manifests\/env-not-allowed\.ts\) declares env STRIPE_KEY, which the operator did not allow; start fnrun with --allow-env STRIPE_KEY or define it in an --env-file \(library: allowEnv: \["STRIPE_KEY"\]\)$/,
    },
    'env-fnrun': { code: 'ERR_ENV_NOT_ALLOWED', reason: /^function "(env-fnrun|good)" \(.*\) declares env FNRUN_REDIS_URL: fnrun's own variables \(FNRUN_\*\) are never visible to functions; remove it from its env$/ },
    'no-handler': { code: 'ERR_SANDBOX_LOAD', reason: /the module has no handler: export default a function/ },
    'top-level-throw': { code: 'ERR_SANDBOX_LOAD', reason: /top-level code threw: Error: cannot start\n +at test\/fixtures\/bad-input\/manifests\/top-level-throw\.ts:4:\d+/ },
    // Stopped at TOP_LEVEL_TIMEOUT_MS (1 s): heavy initialisation belongs in the handler.
    'top-level-slow': { code: 'ERR_SANDBOX_LOAD', reason: /^(top-level-slow|good): cannot load: top-level code ran longer than 1000 ms \(do heavy initialisation lazily, in the handler\)$/ },
    'syntax-error': { code: 'ERR_BUNDLE', reason: /test\/fixtures\/bad-input\/manifests\/syntax-error\.ts:2:\d+: Expected "\}" but found ";"/ },
    'node-builtin': { code: 'ERR_BUNDLE', reason: /test\/fixtures\/bad-input\/manifests\/node-builtin\.ts:2:\d+: "node:fs" is a Node built-in; functions run in a sandbox without Node APIs/ },
  };

  test('at start, each bad file is refused on its own and the rest runs', async () => {
    assert.deepEqual(s.runtime.loadFailures.map((f) => f.name).sort(), Object.keys(cases).sort());
    assert.deepEqual(s.runtime.functions.map((f) => f.name).sort(), ['good', 'group-parallel']);
    await goodStillWorks(s);
  });

  for (const [name, c] of Object.entries(cases)) {
    test(`${name}: ${c.field === undefined ? c.code : c.field || '(config)'}`, async () => {
      const file = `${FIXTURES}manifests/${name}.ts`;
      const failure = s.runtime.loadFailures.find((f) => f.name === name);
      assert.ok(failure, `${name} was not refused`);
      assert.equal(failure.file, file);
      const check = (error: unknown, named = file): true => {
        assert.equal((error as { code?: string }).code, c.code, String(error));
        const message = (error as Error).message;
        if (c.field !== undefined) {
          assert.ok(error instanceof ManifestError);
          // The message names the file, then one line per field with the reason.
          assert.ok(message.startsWith(`invalid manifest in ${named}:\n`), message);
          assert.equal(error.issues.length, 1, message);
          assert.equal(error.issues[0]!.path, c.field);
          if (typeof c.reason === 'string') assert.equal(error.issues[0]!.message, c.reason);
          else assert.match(error.issues[0]!.message, c.reason);
          assert.ok(message.includes(`  ${c.field || '(config)'}: ${error.issues[0]!.message}`), message);
        } else {
          assert.match(message, c.reason as RegExp);
        }
        return true;
      };
      check(failure.error);
      // The same file saved over good.ts while the runtime runs (what `fnrun dev` does): refused
      // with the same error, and the running version of good keeps handling events.
      const version = s.runtime.functions.find((f) => f.name === 'good')!.version;
      await assert.rejects(async () => s.runtime.upsertFunction(await bundleFunction({ name: 'good', entry: file })), (e: unknown) => check(e));
      assert.equal(s.runtime.functions.find((f) => f.name === 'good')!.version, version);
      await goodStillWorks(s);
    });
  }

  test('an invalid function file name fails the start with a clear error naming the file', async () => {
    const dir = join(env.dir, 'bad-name');
    mkdirSync(dir);
    writeFileSync(join(dir, 'Send Email.ts'), "export default async function handler() {}\n");
    const runtime = await Runtime.create({ redis: env.redis.url, namespace: 'bad-name', partitions: 1, functionsDir: dir, logger: createJsonLogger('silent') });
    try {
      await assert.rejects(runtime.start(), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /Send Email\.ts: function name "Send Email" is invalid: .*rename it to "send-email"/);
        return true;
      });
    } finally {
      await runtime.stop();
    }
    await goodStillWorks(s);
  });
});

describe('stream entries XADDed by hand', () => {
  let s: Setup;
  before(async () => { s = await setUp('wire', 'wire'); });
  after(() => tearDown(s));

  /** What `reader` logged for an entry it was given. */
  async function delivered(eventId: string): Promise<Record<string, unknown>> {
    const record = await settled(s, 'reader', eventId);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    return JSON.parse(record.logs![0]!.msg) as Record<string, unknown>;
  }

  /** The entry went to reader's DLQ as malformed, with the reason. */
  async function deadLettered(eventId: string, reason: RegExp): Promise<DeadLetter> {
    const record = await settled(s, 'reader', eventId);
    assert.equal(record.status, 'dead-lettered');
    const letter = await letterOf(s, 'reader', eventId);
    assert.equal(letter.reason, 'malformed');
    assert.equal(letter.error.name, 'MalformedEvent');
    assert.match(letter.error.message, reason);
    return letter;
  }

  const xadd = (...fields: (string | Buffer)[]) => s.client.xadd(s.stream, '*', ...fields) as Promise<string>;

  const malformed: [string, (string | Buffer)[], RegExp][] = [
    ['missing type', ['key', 'k', 'data', '{}', 'time', '1'], /^missing field "type"$/],
    ['invalid type', ['type', 'entry.created now!', 'data', '{}'], /^invalid event type "entry\.created now!": expected dotted names of \[A-Za-z0-9_-\]$/],
    ['type over 255 characters', ['type', `entry.${'x'.repeat(300)}`, 'data', '{}'], /^invalid event type "entry\.x{94}": expected dotted names/],
    ['missing data', ['type', 'entry.created', 'key', 'k'], /^missing field "data"$/],
    ['data not JSON', ['type', 'entry.created', 'data', '{not json'], /^data is not valid JSON: /],
    ['data with invalid UTF-8', ['type', 'entry.created', 'data', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])], /^data is not valid JSON: /],
    ['headers not JSON', ['type', 'entry.created', 'data', '{}', 'headers', 'x=1'], /^headers is not a JSON object of strings$/],
    ['headers of numbers', ['type', 'entry.created', 'data', '{}', 'headers', '{"retries":1}'], /^headers is not a JSON object of strings$/],
    ['headers an array', ['type', 'entry.created', 'data', '{}', 'headers', '["a"]'], /^headers is not a JSON object of strings$/],
  ];
  for (const [name, fields, reason] of malformed) {
    test(`${name} → dead letter "${reason.source}"`, async () => {
      const id = await xadd(...fields);
      const letter = await deadLettered(id, reason);
      assert.equal(letter.event, null, 'a malformed entry keeps its raw fields, not an event');
      assert.equal(letter.rawFields!.length, fields.length);
      await goodStillWorks(s);
    });
  }

  test('missing type: the entry goes to every function, since none can tell it is not for them', async () => {
    const id = await xadd('data', '{}');
    await deadLettered(id, /missing field "type"/);
    assert.equal((await settled(s, 'good', id)).status, 'dead-lettered');
    await goodStillWorks(s);
  });

  test('an invalid type no pattern matches: acknowledged by every function, like any type nobody subscribes to', async () => {
    const ids = [await xadd('type', '', 'data', '{}'), await xadd('type', 'entry created', 'data', '{}')];
    await goodStillWorks(s); // published after them on the one partition: every group has passed them
    assert.deepEqual(s.recorder.all.filter((r) => ids.includes(r.eventId)), []);
  });

  test('missing key: delivered, with key null', async () => {
    const time = Date.now();
    const id = await xadd('type', 'entry.created', 'data', '{"a":1}', 'time', String(time));
    assert.deepEqual(await delivered(id), { type: 'entry.created', key: null, data: { a: 1 }, time, headers: null });
    await goodStillWorks(s);
  });

  test('unknown fields: ignored, the event is delivered', async () => {
    const id = await xadd('type', 'entry.created', 'key', 'k', 'data', '{"a":1}', 'priority', 'high', '__proto__', '{"polluted":1}', 'x', '');
    const got = await delivered(id);
    assert.deepEqual([got.key, got.data], ['k', { a: 1 }]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await goodStillWorks(s);
  });

  test('time that is not a number: delivered with the entry id\'s time', async () => {
    const id = await xadd('type', 'entry.created', 'data', '{}', 'time', 'yesterday');
    assert.equal((await delivered(id)).time, Number(id.split('-')[0]));
    await goodStillWorks(s);
  });

  test('data that is JSON but not an object (a number, a string, null): delivered as is', async () => {
    for (const [text, value] of [['42', 42], ['"text"', 'text'], ['null', null]] as const) {
      const id = await xadd('type', 'entry.created', 'data', text);
      assert.deepEqual((await delivered(id)).data, value);
    }
    await goodStillWorks(s);
  });

  test('data nested 100,000 levels deep: delivered', async () => {
    const depth = 100_000;
    const id = await xadd('type', 'entry.created', 'data', `${'['.repeat(depth)}${']'.repeat(depth)}`);
    assert.deepEqual((await delivered(id)).data, { arrayDepth: depth });
    await goodStillWorks(s);
  });

  test('a target naming no loaded function: skipped by every function, acknowledged', async () => {
    const id = await xadd('type', 'entry.created', 'data', '{}', 'target', 'nobody');
    await goodStillWorks(s); // published after it on the one partition: every group has passed it
    assert.equal(s.recorder.all.filter((r) => r.eventId === id).length, 0);
  });

  test('nothing is left pending in any consumer group', async () => {
    for (const group of ['fn:reader', 'fn:good']) {
      const [count] = (await s.client.xpending(s.stream, group)) as [number];
      assert.equal(count, 0, group);
    }
  });
});

describe('oversized events', () => {
  let s: Setup;
  before(async () => { s = await setUp('oversized', 'wire'); });
  after(() => tearDown(s));

  const length = () => s.client.xlen(s.stream);

  test('publish above maxEventBytes: PayloadTooLargeError, nothing appended', async () => {
    const before = await length();
    await assert.rejects(s.publisher.publish('entry.created', 'k', { blob: 'x'.repeat(2 * MiB) }), {
      name: 'PayloadTooLargeError', code: 'ERR_PAYLOAD_TOO_LARGE',
      message: `event is at least ${2 * MiB + 12} bytes (data at least ${2 * MiB + 11}, key 1), over the ${MiB}-byte limit (maxEventBytes)`,
    });
    // Counted in UTF-8 bytes, not characters: 400,000 × "€" is 1.2 MB.
    await assert.rejects(s.publisher.publish('entry.created', 'k', '€'.repeat(400_000)), { code: 'ERR_PAYLOAD_TOO_LARGE', message: /^event is 1200003 bytes \(data 1200002, key 1\)/ });
    // A batch is refused whole, before anything is appended.
    await assert.rejects(s.publisher.publishBatch([
      { type: 'entry.created', key: 'a', data: {} },
      { type: 'entry.created', key: 'b', data: 'x'.repeat(2 * MiB) },
    ]), { code: 'ERR_PAYLOAD_TOO_LARGE' });
    assert.equal(await length(), before);
    await goodStillWorks(s);
  });

  test('publish of data JSON cannot encode: refused, nothing appended', async () => {
    const before = await length();
    await assert.rejects(s.publisher.publish('entry.created', 'k', () => 1), { code: 'ERR_INVALID_EVENT', message: /event data of type function is not JSON-serialisable/ });
    await assert.rejects(s.publisher.publish('entry.created', 'k', { n: 1n }), { code: 'ERR_INVALID_EVENT', message: /not JSON-serialisable: .*BigInt/ });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(s.publisher.publish('entry.created', 'k', cyclic), { code: 'ERR_INVALID_EVENT', message: /not JSON-serialisable: .*circular structure/ });
    assert.equal(await length(), before);
    await goodStillWorks(s);
  });

  test('an oversized entry XADDed by hand: dead-lettered as malformed, its raw fields truncated', async () => {
    const data = JSON.stringify({ blob: 'x'.repeat(8 * MiB) });
    const id = (await s.client.xadd(s.stream, '*', 'type', 'entry.created', 'key', 'k', 'data', data)) as string;
    const record = await settled(s, 'reader', id);
    assert.equal(record.status, 'dead-lettered');
    const letter = await letterOf(s, 'reader', id);
    assert.equal(letter.reason, 'malformed');
    assert.equal(letter.error.message, `event is at least ${data.length + 1} bytes (data at least ${data.length}, key 1), over the ${MiB}-byte limit`);
    const kept = letter.rawFields![5]!;
    assert.ok(kept.length < 100_000 && kept.endsWith(`…[truncated ${data.length} chars]`), kept.slice(-60));
    await goodStillWorks(s);
  });
});

describe('oversized keys and headers', () => {
  let s: Setup;
  before(async () => { s = await setUp('oversized-key', 'wire'); });
  after(() => tearDown(s));

  test('a 16 MiB key or headers XADDed by hand: malformed (they count toward maxEventBytes), dead-lettered, the runtime goes on', async () => {
    const huge = 'k'.repeat(16 * MiB);
    const keyId = (await s.client.xadd(s.stream, '*', 'type', 'entry.created', 'key', huge, 'data', '{}')) as string;
    const headersId = (await s.client.xadd(s.stream, '*', 'type', 'entry.created', 'key', 'k', 'data', '{}', 'headers', JSON.stringify({ h: huge }))) as string;
    for (const [id, reason] of [
      [keyId, `event is at least ${huge.length + 2} bytes (data 2, key at least ${huge.length}), over the ${MiB}-byte limit`],
      [headersId, `event is at least ${huge.length + 11} bytes (data 2, key 1, headers at least ${huge.length + 8}), over the ${MiB}-byte limit`],
    ] as const) {
      const record = await settled(s, 'reader', id);
      assert.equal(record.status, 'dead-lettered');
      const letter = await letterOf(s, 'reader', id);
      assert.deepEqual([letter.reason, letter.error.message], ['malformed', reason]);
      assert.ok(letter.rawFields!.every((f) => f.length < 100_000), 'raw fields are truncated');
    }
    await goodStillWorks(s);
  });
});

describe('handlers that misbehave', () => {
  let s: Setup;
  before(async () => { s = await setUp('handlers', 'handlers'); });
  after(() => tearDown(s));

  /** Publishes `<fn>.<kind>`, waits until fn settled it and good handled a fresh event. */
  async function run(fn: string, kind: string): Promise<{ record: InvocationRecord; id: string }> {
    const { id } = await s.publisher.publish(`${fn}.${kind}`, 'h', {});
    const record = await settled(s, fn, id);
    await goodStillWorks(s);
    return { record, id };
  }

  /** Failed both attempts, then dead-lettered with the error. */
  async function deadLettered(fn: string, kind: string, error: { name: string; message: string | RegExp; kind?: string }): Promise<void> {
    const { record, id } = await run(fn, kind);
    assert.equal(record.status, 'dead-lettered', `${kind}: ${JSON.stringify(record.error)}`);
    const attempts = s.recorder.of(fn).filter((r) => r.eventId === id).map((r) => `${r.attempt}:${r.status}`);
    assert.deepEqual(attempts, ['1:retry', '2:dead-lettered']);
    const letter = await letterOf(s, fn, id);
    assert.equal(letter.reason, 'failed');
    assert.equal(letter.attempts, 2);
    assert.equal(letter.error.name, error.name);
    assert.equal(letter.error.kind, error.kind ?? 'handler');
    if (typeof error.message === 'string') assert.equal(letter.error.message, error.message);
    else assert.match(letter.error.message, error.message);
  }

  const nonError = (shown: string) => ({ name: 'NonError', message: `a non-Error value was thrown: ${shown}` });
  const undescribable = { name: 'Error', message: 'a value that cannot be described was thrown' };
  const timeout = { name: 'TimeoutError', message: 'exceeded timeoutMs (300 ms)', kind: 'timeout' };
  const failures: [string, { name: string; message: string | RegExp; kind?: string }][] = [
    ['hostile.throw-string', nonError("'boom'")],
    ['hostile.throw-number', nonError('42')],
    ['hostile.throw-undefined', nonError('undefined')],
    ['hostile.throw-null', nonError('null')],
    ['hostile.throw-object', nonError('{ code: 42 }')],
    ['hostile.throw-symbol', nonError('Symbol(boom)')],
    ['hostile.reject-string', nonError("'nope'")],
    ['hostile.reject-undefined', nonError('undefined')],
    ['hostile.throw-proxy', undescribable],
    ['hostile.throw-getters', undescribable],
    ['hostile.never-resolve', timeout],
    ['hostile.atomics-wait', timeout],
    ['hostile.wasm-spin', timeout],
    ['hostile.recurse', { name: 'RangeError', message: 'Maximum call stack size exceeded' }],
    ['hostile.timer-string', { name: 'TypeError', message: 'setTimeout: the callback must be a function' }],
    ['hog.emit-huge', { name: 'RangeError', message: 'ctx.emit: the emits of one invocation exceed 4194304 characters' }],
    ['hog.emit-many', { name: 'RangeError', message: 'ctx.emit: one invocation may emit at most 1000 events' }],
    ['hog.emit-over-limit', { name: 'InvalidEmit', message: `ctx.emit: event is at least ${2 * MiB + 2} bytes (data at least ${2 * MiB + 2}), over the ${MiB}-byte limit (maxEventBytes)` }],
    ['hog.heap-bomb', { name: 'MemoryLimitError', message: /^exceeded memoryMb \(64 MiB\)/, kind: 'memory' }],
  ];
  for (const [type, error] of failures) {
    const [fn, kind] = type.split('.') as [string, string];
    test(`${type} → ${error.name} → retried → dead letter`, () => deadLettered(fn, kind, error));
  }

  test('hog.return-huge: a 50 MiB return value is fine (return values are not sent anywhere)', async () => {
    const { record } = await run('hog', 'return-huge');
    assert.equal(record.status, 'ok');
  });

  test('hog.log-huge: a 5 MiB log line is cut to 16 KiB, the invocation succeeds', async () => {
    const { record } = await run('hog', 'log-huge');
    assert.equal(record.status, 'ok');
    const msg = record.logs![0]!.msg;
    assert.equal(msg, `${'y'.repeat(16 * 1024)}… [truncated ${5 * MiB - 16 * 1024} characters]`);
  });

  test('hog.log-many: 5,000 log lines are cut to 1,000 and a line saying the rest was dropped, the invocation succeeds', async () => {
    const { record } = await run('hog', 'log-many');
    assert.equal(record.status, 'ok');
    assert.equal(record.logs!.length, 1001);
    assert.deepEqual([record.logs![999]!.msg, record.logs![1000]!.msg], ['line 999', '[fnrun] this invocation logged more than 1000 lines or 262144 characters; the rest is dropped']);
  });

  test('escapes: no process, require, Buffer, fetch, host constructor or import; fnrun frames expose nothing', async () => {
    const { id } = await s.publisher.publish('escaper.run', 'e', {});
    const record = await settled(s, 'escaper', id);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    const found = JSON.parse(record.logs![0]!.msg) as Record<string, string>;
    assert.match(found.dynamicImport!, /^threw /);
    assert.deepEqual(found, {
      process: 'nothing',
      require: 'nothing',
      Buffer: 'nothing',
      // The sandbox's own fetch: it reaches only what the function's network.allow lists (test/integration/fetch.test.ts).
      fetch: 'reached function',
      functionProcess: 'threw ReferenceError',
      constructorProcess: 'threw ReferenceError',
      asyncFunctionProcess: 'undefined',
      generatorRequire: 'undefined',
      ctxEmitProcess: 'undefined',
      indirectEvalRequire: 'undefined',
      sloppyGlobalProcess: 'nothing',
      callerOfSloppyFunction: 'nothing',
      typedArrayBuffer: 'undefined',
      dynamicImport: found.dynamicImport,
      // fnrun's frames below the handler, if any are on the stack there, expose no function and no `this`.
      shimFrames: /^(undefined\/undefined(,undefined\/undefined)*)?$/.test(String(found.shimFrames)) ? found.shimFrames : 'exposed',
      ctxKeys: 'attempt,emit,env,functionName,idempotencyKey,log,state',
      ctxFrozen: 'true',
      // A V8 built-in, not a host API: wasm code is stopped by timeoutMs like JS (wasm-spin above).
      webAssembly: 'object',
    });
    await goodStillWorks(s);
  });

  test('prototype pollution stays in the polluting function, whose results still reach the host intact', async () => {
    const pollute = (await s.publisher.publish('polluter.pollute', 'p', {})).id;
    const record = await settled(s, 'polluter', pollute);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    assert.deepEqual(record.logs?.map((l) => l.msg), ['polluted']);
    // Its later failures are still reported as they were thrown, and retried, then dead-lettered.
    const thrown = (await s.publisher.publish('polluter.throw', 'p', {})).id;
    assert.equal((await settled(s, 'polluter', thrown)).status, 'dead-lettered');
    const letter = await letterOf(s, 'polluter', thrown);
    assert.deepEqual([letter.error.name, letter.error.message, letter.attempts], ['TypeError', 'thrown after the pollution', 2]);
    assert.match(letter.error.stack, /handlers\/polluter\.ts:\d+:\d+/);
    // good (its own isolate) checks that it sees none of it; nor does this process.
    await goodStillWorks(s);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    assert.equal([1, 2].join('-'), '1-2');
  });

  test('nothing is left pending in any consumer group', async () => {
    for (const group of ['fn:hostile', 'fn:hog', 'fn:escaper', 'fn:polluter', 'fn:good']) {
      const [count] = (await s.client.xpending(s.stream, group)) as [number];
      assert.equal(count, 0, group);
    }
  });
});

describe('hostile patterns, huge Web API inputs, crafted names', () => {
  let s: Setup;
  before(async () => { s = await setUp('limits', 'limits'); });
  after(() => tearDown(s));

  test('patterns a backtracking matcher takes forever on, against 255-character types: matched in bounded work', async () => {
    const matching = (await s.publisher.publish(`${'a'.repeat(254)}b`, 'p', {})).id;
    const record = await settled(s, 'backtracker', matching);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    assert.deepEqual(record.logs?.map((l) => l.msg), ['got 255 characters']);
    const others = [
      (await s.publisher.publish('a'.repeat(255), 'p', {})).id,
      (await s.publisher.publish(`${'a.'.repeat(127)}c`, 'p', {})).id,
    ];
    // Published after them on the one partition: every function has passed them.
    await goodStillWorks(s);
    assert.deepEqual(s.recorder.of('backtracker').filter((r) => others.includes(r.eventId)), []);
  });

  const rangeError = (what: string) => `RangeError: ${what}`;
  const webCases: [kind: string, logged: string][] = [
    ['url', rangeError(`URL: the input is ${18 + 4 * MiB} characters, over fnrun's limit of 65536`)],
    ['url-base', rangeError("URL: the base is 70018 characters, over fnrun's limit of 65536")],
    ['url-encoded', rangeError("URL: the URL would be 120018 characters once percent-encoded, over fnrun's limit of 65536")],
    ['url-setter', rangeError("URL: the new value is 70000 characters, over fnrun's limit of 65536")],
    ['url-href', rangeError("URL: the input is 70018 characters, over fnrun's limit of 65536")],
    ['url-search-params', rangeError("URL: the new value is 70002 characters, over fnrun's limit of 65536")],
    ['url-can-parse', rangeError("URL: the input is 70018 characters, over fnrun's limit of 65536")],
    ['search-params', rangeError(`URLSearchParams: the query is ${16 * MiB + 4} characters, over fnrun's limit of ${16 * MiB}`)],
    ['text-encoder', rangeError(`TextEncoder.encode: the input is ${16 * MiB + 1} characters, over fnrun's limit of ${16 * MiB}`)],
    ['text-decoder', rangeError(`TextDecoder.decode: the input is ${16 * MiB + 1} bytes, over fnrun's limit of ${16 * MiB}`)],
    ['btoa', rangeError(`btoa: the input is ${16 * MiB + 1} characters, over fnrun's limit of ${16 * MiB}`)],
    ['atob', rangeError(`atob: the input is ${16 * MiB + 4} characters, over fnrun's limit of ${16 * MiB}`)],
    ['fine', `returned [60022,${MiB},${MiB}]`],
  ];
  for (const [kind, logged] of webCases) {
    test(`web-huge.${kind}: ${logged.slice(0, 60)}`, async () => {
      const { id } = await s.publisher.publish(`web-huge.${kind}`, 'w', {});
      const record = await settled(s, 'web-huge', id);
      assert.equal(record.status, 'ok', JSON.stringify(record.error));
      assert.deepEqual(record.logs?.map((l) => l.msg), [logged]);
      await goodStillWorks(s);
    });
  }

  test('a namespace that could collide with another namespace\'s keys is refused by the runtime, the publisher and the CLI', async () => {
    const crafted = 'limits:{p0}';
    const refused = { code: 'ERR_CONFIG', message: /^invalid namespace "limits:\{p0\}": it contains ":"; use 1 to 64 letters/ };
    await assert.rejects(Runtime.create({ redis: env.redis.url, namespace: crafted, logger: createJsonLogger('silent') }), refused);
    await assert.rejects(Publisher.connect({ redis: env.redis.url, namespace: crafted }), refused);
    const cli = await runCli(['emit', 'good.ping', '--key', 'k', '--namespace', crafted, '--redis', env.redis.url]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /--namespace "limits:\{p0\}" is invalid: it contains ":"/);
    await goodStillWorks(s);
  });

  test('nothing is left pending in any consumer group', async () => {
    for (const group of ['fn:backtracker', 'fn:web-huge', 'fn:good']) {
      const [count] = (await s.client.xpending(s.stream, group)) as [number];
      assert.equal(count, 0, group);
    }
  });
});

describe('secrets: functions read only what the operator allows', () => {
  let s: Setup;
  const host = { STRIPE_KEY: 'sk_test_1', DATABASE_PASSWORD: 'hunter2', FNRUN_REDIS_URL: 'redis://:secret@db:6379' };
  before(async () => { s = await setUp('secrets', 'secrets', { env: host, allowEnv: ['STRIPE_*', 'FNRUN_*'] }); });
  after(() => tearDown(s));

  test('an allowed name gets its value; a declared name without a value is absent', async () => {
    const { id } = await s.publisher.publish('secrets.read', 's', {});
    const record = await settled(s, 'stripe', id);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    assert.deepEqual(JSON.parse(record.logs![0]!.msg), { keys: ['STRIPE_KEY'], STRIPE_KEY: 'sk_test_1' });
    await goodStillWorks(s);
  });

  test('a name the operator did not allow fails the load, naming the variable, the function and the flag', () => {
    const failure = s.runtime.loadFailures.find((f) => f.name === 'greedy');
    assert.ok(failure, 'greedy was refused');
    assert.equal((failure.error as { code?: string }).code, 'ERR_ENV_NOT_ALLOWED');
    assert.match(failure.error.message, /^function "greedy" \(.*greedy\.ts\) declares env DATABASE_PASSWORD, which the operator did not allow; start fnrun with --allow-env DATABASE_PASSWORD/);
  });

  test('FNRUN_* stays hidden even when the allow-list names it', () => {
    const failure = s.runtime.loadFailures.find((f) => f.name === 'fnrun-url');
    assert.ok(failure, 'fnrun-url was refused');
    assert.match(failure.error.message, /declares env FNRUN_REDIS_URL: fnrun's own variables \(FNRUN_\*\) are never visible to functions/);
    assert.deepEqual(s.runtime.functions.map((f) => f.name).sort(), ['good', 'stripe']);
  });

  test('an allow-list entry that matches no variable name is refused when the runtime is created', async () => {
    await assert.rejects(Runtime.create({ redis: env.redis.url, namespace: 'secrets', allowEnv: ['stripe_key'], logger: createJsonLogger('silent') }), {
      code: 'ERR_CONFIG', message: /^invalid allowEnv entry "stripe_key": it contains "s"; environment variable names are upper-case/,
    });
  });
});

describe('outputs: fan-outs, emit loops, huge errors', () => {
  let s: Setup;
  const logLines: string[] = [];
  before(async () => { s = await setUp('outputs', 'outputs', { logger: createJsonLogger('info', (line) => { logLines.push(line); }) }); });
  after(() => tearDown(s));

  test('100 events × 200 emits each, in one batch: every event completes and its 200 emits are published once', async () => {
    const published = await s.publisher.publishBatch(Array.from({ length: 100 }, (_, n) => ({ type: 'fanout.start', key: `f${n}`, data: {} })));
    const ids = new Set(published.map((p) => p.id));
    await waitFor(() => s.recorder.of('fanout').filter((r) => ids.has(r.eventId)).length === 100, { timeoutMs: 60_000, message: 'fanout settled 100 events' });
    assert.deepEqual(s.recorder.of('fanout').filter((r) => ids.has(r.eventId) && r.status !== 'ok').map((r) => r.error?.message), []);
    await goodStillWorks(s);
    // Invocations are reported before their commit lands; every event acknowledged means every
    // commit did (emits and ack go in one commit). fanout's own cursor passes the 20,000 items
    // too (it does not subscribe to them).
    await waitFor(async () => ((await s.client.xpending(s.stream, 'fn:fanout')) as [number])[0] === 0, { message: 'fanout acknowledged everything' });
    const items = new Set<string>();
    let count = 0;
    for (const [, fields] of (await s.client.xrange(s.stream, '-', '+')) as [string, string[]][]) {
      if (fields[fields.indexOf('type') + 1] !== 'fanout.item') continue;
      const { from, i } = JSON.parse(fields[fields.indexOf('data') + 1]!) as { from: string; i: number };
      items.add(`${from}/${i}`);
      count++;
    }
    assert.deepEqual([count, items.size], [20_000, 20_000]);
  });

  test('a function that re-emits what it handles: 16 generations run (maxHops), the 17th goes to its DLQ with reason loop', async () => {
    const { id } = await s.publisher.publish('loop.ping', 'loop', { n: 1 });
    const letter = await waitFor(async () => (await s.dlq.list('looper')).find((l) => l.reason === 'loop'), { message: 'a loop dead letter' });
    assert.deepEqual([letter.error.name, letter.error.message], ['EmitLoop', 'event was emitted 16 generations deep (maxHops 16): an emit loop?']);
    assert.equal(letter.event!.key, 'loop');
    assert.equal(s.recorder.count('looper', 'ok'), 16, 'generations 0 to 15 ran');
    assert.equal(s.recorder.count('looper', 'dead-lettered'), 1);
    // The dead-lettered generation emitted nothing: the loop is over.
    await goodStillWorks(s);
    const pings = ((await s.client.xrange(s.stream, '-', '+')) as [string, string[]][]).filter(([, f]) => f[f.indexOf('type') + 1] === 'loop.ping');
    assert.equal(pings.length, 17);
    assert.equal(pings[0]![0], id);
    assert.equal(s.recorder.count('looper', 'ok'), 16);
  });

  const MESSAGE_CAP = 8 * 1024;
  const STACK_CAP = 16 * 1024;
  const more = (n: number) => `… [${n} more characters]`;
  const HUGE = 20 * MiB;
  const bigErrors: [kind: string, check: (e: { name: string; message: string; stack: string }) => void][] = [
    ['message', (e) => {
      assert.equal(e.message, `${'m'.repeat(MESSAGE_CAP)}${more(HUGE - MESSAGE_CAP)}`);
      assert.ok(e.stack.startsWith(`Error: ${'m'.repeat(100)}`));
    }],
    ['stack', (e) => {
      assert.equal(e.message, 'a short message');
      assert.equal(e.stack, `${'s'.repeat(STACK_CAP)}${more(HUGE - STACK_CAP)}`);
    }],
    ['cause', (e) => {
      assert.equal(e.message, 'the outer one');
      assert.match(e.stack, /^Error: the outer one\n/);
    }],
    ['name', (e) => assert.equal(e.name, `${'N'.repeat(200)}${more(HUGE - 200)}`)],
    ['string', (e) => {
      assert.equal(e.name, 'NonError');
      assert.ok(e.message.startsWith("a non-Error value was thrown: 'xxx"), e.message.slice(0, 60));
    }],
  ];
  for (const [kind, check] of bigErrors) {
    test(`big-error.${kind}: a ${HUGE / MiB} MiB error is capped in the invocation record, the logs and the dead letter`, async () => {
      const { id } = await s.publisher.publish(`big-error.${kind}`, 'e', {});
      const record = await settled(s, 'big-error', id);
      assert.equal(record.status, 'dead-lettered');
      const letter = await letterOf(s, 'big-error', id);
      for (const e of [letter.error, record.error!]) {
        assert.ok(e.message.length <= MESSAGE_CAP + 40, `message of ${e.message.length} characters`);
        assert.ok(e.stack.length <= STACK_CAP + 1024, `stack of ${e.stack.length} characters`);
        assert.ok(e.name.length <= 240, `name of ${e.name.length} characters`);
        check(e);
      }
      assert.ok(JSON.stringify(letter).length < 64 * 1024, `a dead letter of ${JSON.stringify(letter).length} characters`);
      const lines = logLines.filter((l) => l.includes(id));
      assert.ok(lines.length >= 2, 'the retry and the dead letter are logged');
      for (const line of lines) assert.ok(line.length < 64 * 1024, `a log line of ${line.length} characters`);
      await goodStillWorks(s);
    });
  }

  test('nothing is left pending in any consumer group', async () => {
    for (const group of ['fn:fanout', 'fn:looper', 'fn:big-error', 'fn:good']) {
      const [count] = (await s.client.xpending(s.stream, group)) as [number];
      assert.equal(count, 0, group);
    }
  });
});

describe('group squatters', () => {
  let s: Setup;
  let follower: RegistryFollower;
  const dir = `${FIXTURES}groups`;
  const squatterFile = `${dir}/aa-squatter.ts`;
  let registry: Registry;
  before(async () => {
    registry = new Registry(env.redis.client(), new Keys('squat'));
    // The victim is deployed first: it owns group "ledger".
    assert.deepEqual((await deployFunctions({ dir, registry, only: ['ledger'] })).map((r) => r.status), ['changed']);
  });
  after(async () => {
    await follower?.stop();
    await tearDown(s);
  });

  test('a deploy that names a deployed group with a longer timeout is refused, naming both functions', async () => {
    const rows = await deployFunctions({ dir, registry });
    assert.deepEqual(rows.map((r) => [r.function, r.status]), [['aa-squatter', 'failed'], ['ledger', 'unchanged']]);
    assert.deepEqual(rows[0]!.error!.fields, [{
      path: 'timeoutMs',
      message: 'function "aa-squatter" has timeoutMs 300000, above the 5000 of group "ledger"\'s owner "ledger": a member may not hold the group\'s events longer than its owner; lower it to at most 5000, or leave the group',
    }]);
  });

  test('forced into the registry anyway (a racing deploy): the runtime refuses it, naming the owner, and the victim runs', async () => {
    const { config } = (await import(squatterFile)) as { config: unknown };
    await registry.deploy(await bundleFunction({ name: 'aa-squatter', entry: squatterFile }), parseManifest(squatterFile, config));
    // fnrun start runs what the registry holds: good too.
    await registry.deploy(await bundleFunction({ name: 'good', entry: GOOD }), parseManifest(GOOD, { events: ['good.ping'], retry: { attempts: 1 }, timeoutMs: 2000 }));
    s = await setUp('squat', null);
    follower = new RegistryFollower(s.runtime, registry, createJsonLogger('silent'));
    await follower.start();
    assert.deepEqual(s.runtime.functions.map((f) => f.name).sort(), ['good', 'ledger']);
    assert.deepEqual(s.runtime.loadFailures.map((f) => f.name), ['aa-squatter']);
    const error = s.runtime.loadFailures[0]!.error;
    assert.ok(error instanceof GroupConflictError);
    assert.deepEqual([error.group, error.owner, error.issues.map((i) => i.path)], ['ledger', 'ledger', ['timeoutMs']]);
    const { id } = await s.publisher.publish('ledger.entry', 'l', {});
    assert.equal((await settled(s, 'ledger', id)).status, 'ok');
    await goodStillWorks(s);
  });

  test('loaded into the running runtime (as fnrun dev does with a new file): refused, the victim keeps running', async () => {
    await assert.rejects(async () => s.runtime.upsertFunction(await bundleFunction({ name: 'aa-squatter', entry: squatterFile })), (e: unknown) => {
      assert.ok(e instanceof GroupConflictError);
      assert.equal(e.owner, 'ledger');
      return true;
    });
    const { id } = await s.publisher.publish('ledger.entry', 'l', {});
    assert.equal((await settled(s, 'ledger', id)).status, 'ok');
    assert.deepEqual(s.recorder.of('aa-squatter'), []);
    await goodStillWorks(s);
  });
});

describe('slow top-level code and sandbox restarts', () => {
  let s: Setup;
  before(async () => { s = await setUp('restart', 'restart'); });
  after(() => tearDown(s));

  /** The sandbox process of this file's runtime (the only one running now). */
  function sandboxPid(): number {
    const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    const pids = out.split('\n').filter((l) => l.includes('sandbox/child/child')).map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.equal(pids.length, 1, out);
    return pids[0]!;
  }

  /** Publishes `type` and waits for `fn` to handle it; returns what its handler logged. */
  async function run(fn: string, type: string): Promise<number> {
    const { id } = await s.publisher.publish(type, fn, {});
    const record = await settled(s, fn, id);
    assert.equal(record.status, 'ok', JSON.stringify(record.error));
    return Number(record.logs![0]!.msg);
  }

  test('after a crash, a fast function serves again while a slow one is still running its top level', async () => {
    const firstLoad = await run('a-slow-start', 'slow.run');
    await run('fast', 'fast.run');
    process.kill(sandboxPid(), 'SIGKILL');
    // Both wait for the new sandbox process; each function runs as soon as it is back.
    const [reloadedAt, fastRanAt] = await Promise.all([run('a-slow-start', 'slow.run'), run('fast', 'fast.run')]);
    assert.ok(reloadedAt > firstLoad, 'the slow top level ran again in the new sandbox process');
    assert.ok(fastRanAt < reloadedAt, `fast ran at ${fastRanAt}, after the slow top level ended (at ${reloadedAt}): it waited for it`);
    await goodStillWorks(s);
  });
});
