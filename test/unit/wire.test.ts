import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareStreamIds } from '../../runtime/redis/stream-id.ts';
import { decodeEntry, encodeFields, eventJson, isMalformed } from '../../runtime/events/wire.ts';

test('encode then decode round-trips an event', () => {
  const fields = encodeFields('post.created', 'thread-42', '{"a":1}', 1700000000000, { trace: 'x' });
  assert.deepEqual(fields, ['type', 'post.created', 'key', 'thread-42', 'data', '{"a":1}', 'time', '1700000000000', 'headers', '{"trace":"x"}']);
  const decoded = decodeEntry('1-0', fields, 1024);
  assert.ok(!isMalformed(decoded));
  assert.equal(decoded.key, 'thread-42');
  assert.deepEqual(JSON.parse(eventJson(decoded, 3)), { id: '1-0', partition: 3, type: 'post.created', key: 'thread-42', data: { a: 1 }, time: 1700000000000, headers: { trace: 'x' } });
});

test('a key-less event decodes with key null and falls back to the id time', () => {
  const decoded = decodeEntry('1700000000123-4', ['type', 'a.b', 'data', 'null'], 1024);
  assert.ok(!isMalformed(decoded));
  assert.equal(decoded.key, null);
  assert.equal(decoded.time, 1700000000123);
});

test('malformed entries carry a reason', () => {
  const reason = (fields: string[] | null, max = 1024) => {
    const d = decodeEntry('1-0', fields, max);
    return isMalformed(d) ? d.reason : 'ok';
  };
  assert.match(reason(['data', '{}']), /missing field "type"/);
  assert.match(reason(['type', 'a..b', 'data', '{}']), /invalid event type/);
  assert.match(reason(['type', 'a', 'data', '{']), /not valid JSON/);
  assert.match(reason(['type', 'a']), /missing field "data"/);
  assert.match(reason(['type', 'a', 'data', '"ééé"'], 4), /over the 4-byte limit/);
  assert.match(reason(['type', 'a', 'data', '1', 'headers', '{"a":1}']), /headers/);
  assert.match(reason(null), /deleted/);
});

test('stream ids compare numerically, not as strings', () => {
  assert.ok(compareStreamIds('9-0', '10-0') < 0);
  assert.ok(compareStreamIds('10-2', '10-10') < 0);
  assert.equal(compareStreamIds('5-5', '5-5'), 0);
  assert.ok(compareStreamIds('0', '0-1') < 0);
});
