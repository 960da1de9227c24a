import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InvocationRecord } from '../../runtime/loading/function-handle.ts';
import { FEED_LIMITS, feedFilter, parseFeedMessage, toFeedRecord, type FeedRecord } from '../../runtime/ops/feed/feed-record.ts';
import { InvocationLog, RATE_SECONDS } from '../../runtime/ops/ui/invocation-log.ts';

const base: InvocationRecord = { function: 'billing', version: '3', partition: 2, eventId: '5-0', type: 'order.placed', key: 'k1', attempt: 1, status: 'ok', durationMs: 2 };
const at = (time: number, patch: Partial<FeedRecord> = {}): FeedRecord => ({ ...base, time, source: 'p', ...patch });

test('toFeedRecord caps logs, messages, stacks and fetches; keeps the rest as it is', () => {
  const long = 'x'.repeat(FEED_LIMITS.stackChars + 10);
  const r = toFeedRecord({
    ...base, status: 'retry', retryInMs: 200,
    error: { name: 'Error', message: long, stack: long, kind: 'handler' },
    logs: Array.from({ length: 60 }, (_, i) => ({ level: 'info', msg: i === 0 ? long : `l${i}`, time: i })),
    fetches: Array.from({ length: 70 }, (_, i) => ({ host: `h${i}`, rule: null, status: 200, error: null, redirects: 0, durationMs: 1 })),
  } as InvocationRecord, 99, 'src');
  assert.equal(r.time, 99);
  assert.equal(r.source, 'src');
  assert.equal(r.retryInMs, 200);
  assert.equal(r.logs!.length, FEED_LIMITS.logs);
  assert.equal(r.logsDropped, 10);
  assert.equal(r.logs![0]!.msg.length, FEED_LIMITS.logChars + 1);
  assert.equal(r.error!.stack.length, FEED_LIMITS.stackChars + 1);
  assert.equal(r.error!.message.length, FEED_LIMITS.messageChars + 1);
  assert.equal(r.fetches!.length, FEED_LIMITS.fetches);
  assert.equal('fetches' in toFeedRecord(base, 1, 's'), false, 'no fetches: no field');
});

test('parseFeedMessage takes only feed messages, and only their well-formed records', () => {
  assert.equal(parseFeedMessage('not json'), null);
  assert.equal(parseFeedMessage('{"hello":1}'), null);
  const m = parseFeedMessage(JSON.stringify({ source: 's', dropped: 2, records: [at(1), { function: 3 }, null] }));
  assert.equal(m!.records.length, 1);
  assert.equal(m!.dropped, 2);
});

test('feedFilter: by function, key and outcome; failed is every outcome but ok', () => {
  const records = [at(1), at(2, { status: 'retry', key: 'k2' }), at(3, { function: 'email', status: 'dead-lettered' }), at(4, { status: 'dropped', key: null })];
  const ids = (f: Parameters<typeof feedFilter>[0]) => records.filter(feedFilter(f)).map((r) => r.time);
  assert.deepEqual(ids({}), [1, 2, 3, 4]);
  assert.deepEqual(ids({ fn: 'billing' }), [1, 2, 4]);
  assert.deepEqual(ids({ key: 'k1' }), [1, 3]);
  assert.deepEqual(ids({ status: 'failed' }), [2, 3, 4]);
  assert.deepEqual(ids({ fn: 'billing', status: 'retry', key: 'k2' }), [2]);
});

test('InvocationLog counts per second over the last minute, and keeps the last outcome and error per function', () => {
  const log = new InvocationLog(3);
  const t0 = 1_000_000_000_000;
  log.add([at(t0), at(t0 + 10), at(t0 + 1000, { status: 'retry', error: { name: 'Error', message: 'no', stack: 'Error: no\n at f (functions/b.ts:1:1)', kind: 'handler' } })]);
  log.add([at(t0 + 2000), at(t0 + 2500, { function: 'email' })]);
  const s = log.stats('billing', t0 + 2999)!;
  assert.equal(s.perSecond.length, RATE_SECONDS);
  assert.deepEqual(s.perSecond.slice(-3), [2, 1, 1]);
  assert.equal(s.total, 4);
  assert.equal(s.failures, 1);
  assert.equal(s.lastStatus, 'ok');
  assert.equal(s.lastError!.error.message, 'no');
  assert.deepEqual(log.stats('billing', t0 + (RATE_SECONDS + 5) * 1000)!.perSecond.every((n) => n === 0), true, 'old seconds fall out');
  assert.equal(log.stats('nobody', t0), null);
  assert.deepEqual(log.recent().map((r) => r.time), [t0 + 1000, t0 + 2000, t0 + 2500], 'the latest, oldest first');
});
