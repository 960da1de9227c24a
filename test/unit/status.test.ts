import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duration } from '../../cli/status-format.ts';
import { RateWindow } from '../../runtime/policy/rate-window.ts';
import { groupLag, parseGroupsInfo, parseStreamInfo, type GroupInfo, type StreamInfo } from '../../runtime/redis/stream-info.ts';

const stream: StreamInfo = { length: 3, entriesAdded: 5, lastGeneratedId: '50-0', firstId: '20-0', lastId: '50-0' };
const group = (g: Partial<GroupInfo>): GroupInfo => ({ name: 'fn:a', pending: 0, lastDeliveredId: '30-0', entriesRead: null, lag: null, ...g });

test('groupLag: Redis lag when known, exact 0 or length at the ends, else an upper bound', () => {
  assert.deepEqual(groupLag(group({ lag: 7 }), stream), { lag: 7, estimated: false });
  assert.deepEqual(groupLag(group({ lastDeliveredId: '50-0' }), stream), { lag: 0, estimated: false });
  assert.deepEqual(groupLag(group({ lastDeliveredId: '10-5' }), stream), { lag: 3, estimated: false });
  assert.deepEqual(groupLag(group({}), { ...stream, length: 0, firstId: null, lastId: null }), { lag: 0, estimated: false });
  assert.deepEqual(groupLag(group({ entriesRead: 3 }), stream), { lag: 2, estimated: true }, 'entries-added − entries-read');
  assert.deepEqual(groupLag(group({ entriesRead: 0 }), stream), { lag: 3, estimated: true }, 'never more than the length');
  assert.deepEqual(groupLag(group({}), stream), { lag: 3, estimated: true });
});

test('XINFO replies parse, nil counters stay null', () => {
  const s = parseStreamInfo(['length', 2, 'last-generated-id', '9-1', 'entries-added', 4, 'first-entry', ['9-0', ['a', '1']], 'last-entry', ['9-1', ['a', '2']]]);
  assert.deepEqual(s, { length: 2, entriesAdded: 4, lastGeneratedId: '9-1', firstId: '9-0', lastId: '9-1' });
  const [g] = parseGroupsInfo([['name', 'fn:x', 'consumers', 1, 'pending', 2, 'last-delivered-id', '9-0', 'entries-read', null, 'lag', null]]);
  assert.deepEqual(g, { name: 'fn:x', pending: 2, lastDeliveredId: '9-0', entriesRead: null, lag: null });
});

test('RateWindow: no rate from one sample; growth per second over the window; a counter first seen later is measured from then', () => {
  const w = new RateWindow(60_000);
  assert.equal(w.add(0, new Map([['a', 0]])).windowMs, null);
  let r = w.add(2000, new Map([['a', 10], ['b', 5]]));
  assert.equal(r.windowMs, 2000);
  assert.equal(r.perSecond(['a']), 5);
  assert.equal(r.perSecond(['b']), null, 'b has no earlier sample');
  r = w.add(4000, new Map([['a', 30], ['b', 9]]));
  assert.equal(r.perSecond(['a']), 7.5);
  assert.equal(r.perSecond(['a', 'b']), 7.5 + 2);
  // Samples older than the window drop out: from 62 s on, the rate is measured from the sample at 2 s.
  r = w.add(62_000, new Map([['a', 30 + 580], ['b', 9]]));
  assert.equal(r.windowMs, 60_000);
  assert.equal(r.perSecond(['a']), 10);
  assert.equal(w.add(63_000, new Map([['a', 1]])).perSecond(['a']), null, 'a counter that went down (re-created) is left out');
});

test('durations read at a glance', () => {
  assert.deepEqual([850, 4200, 187_000, 7_500_000, 3 * 86_400_000 + 4 * 3_600_000].map(duration), ['850ms', '4.2s', '3m07s', '2h05m', '3d04h']);
});
