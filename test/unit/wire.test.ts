import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareStreamIds } from '../../runtime/redis/stream-id.ts';
import { decodeEntry, encodeFields, eventJson, eventSizeProblem, isMalformed } from '../../runtime/events/wire.ts';

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

test('the key and the headers count toward maxEventBytes with the data, in UTF-8 bytes', () => {
  const reason = (fields: string[], max: number) => {
    const d = decodeEntry('1-0', fields, max);
    return isMalformed(d) ? d.reason : 'ok';
  };
  assert.equal(reason(['type', 'a', 'key', 'k'.repeat(40), 'data', '"x"', 'headers', '{"h":"v"}'], 52), 'ok');
  assert.equal(reason(['type', 'a', 'key', 'k'.repeat(41), 'data', '"x"', 'headers', '{"h":"v"}'], 52), 'event is 53 bytes (data 3, key 41, headers 9), over the 52-byte limit');
  assert.equal(reason(['type', 'a', 'key', 'é'.repeat(10), 'data', '1'], 20), 'event is 21 bytes (data 1, key 20), over the 20-byte limit');
  assert.equal(reason(['type', 'a', 'data', '1', 'headers', `{"h":"${'v'.repeat(30)}"}`], 30), 'event is at least 39 bytes (data 1, headers at least 38), over the 30-byte limit');
});

test('eventSizeProblem counts nothing for small events and never walks a part over the limit', () => {
  assert.equal(eventSizeProblem('{}', 'k', null, 1024), null);
  // 180 MB of key: over the limit by its length alone; the count is a lower bound, said as such.
  const key = 'k'.repeat(180 * 1024 * 1024);
  assert.equal(eventSizeProblem('{}', key, null, 1024 * 1024), `event is at least ${key.length + 2} bytes (data 2, key at least ${key.length}), over the 1048576-byte limit`);
});

test('stream ids compare numerically, not as strings', () => {
  assert.ok(compareStreamIds('9-0', '10-0') < 0);
  assert.ok(compareStreamIds('10-2', '10-10') < 0);
  assert.equal(compareStreamIds('5-5', '5-5'), 0);
  assert.ok(compareStreamIds('0', '0-1') < 0);
  assert.equal(compareStreamIds('5', '5-0'), 0);
  assert.ok(compareStreamIds('1733342400001-0', '1733342400000-99') > 0);
  // Against BigInt arithmetic, over ids whose parts differ in length, digits and presence.
  const parts = ['0', '7', '10', '99', '100', '1733342400000', '1733342400001', '9733342400000'];
  const ids = parts.flatMap((ms) => [ms, ...['0', '1', '9', '10', '123'].map((seq) => `${ms}-${seq}`)]);
  const value = (id: string) => { const [ms, seq = '0'] = id.split('-'); return BigInt(ms!) * 10n ** 20n + BigInt(seq); };
  for (const a of ids) for (const b of ids) assert.equal(Math.sign(compareStreamIds(a, b)), Number(value(a) > value(b)) - Number(value(a) < value(b)), `${a} vs ${b}`);
});
