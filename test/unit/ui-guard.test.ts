import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { loopbackHosts, refusal, type RequestKind } from '../../runtime/ops/ui/ui-guard.ts';

const HOSTS = loopbackHosts('127.0.0.1', 7400);
const opts = (token: string | null) => ({ allowedHosts: HOSTS, token, readOnlyHint: 'give a token' });
const req = (headers: Record<string, string>) => ({ headers: { host: '127.0.0.1:7400', ...headers } }) as unknown as IncomingMessage;
const check = (kind: RequestKind, headers: Record<string, string>, token: string | null = 'secret-token') => refusal(req(headers), kind, opts(token));

test('loopback servers accept only loopback Host names with their port; other interfaces accept any', () => {
  assert.deepEqual([...HOSTS!].sort(), ['127.0.0.1:7400', '[::1]:7400', 'localhost:7400']);
  assert.equal(loopbackHosts('0.0.0.0', 80), null);
  assert.equal(loopbackHosts('10.0.0.5', 80), null);
  assert.match(check('read', { host: 'evil.example:7400' })!, /DNS rebinding/);
  assert.match(check('read', { host: '127.0.0.1:7401' })!, /Host/);
  assert.equal(check('read', { host: 'localhost:7400' }), null);
});

test('other origins are refused, whatever the kind of request; a top-level navigation to the page is not', () => {
  for (const kind of ['page', 'read', 'mutation'] as const) {
    assert.match(check(kind, { origin: 'http://evil.example' })!, /another origin/, kind);
    assert.match(check(kind, { 'sec-fetch-site': 'cross-site' })!, /cross-site/, kind);
    assert.match(check(kind, { 'sec-fetch-site': 'same-site' })!, /same-site/, kind);
    assert.match(check(kind, { origin: 'null' })!, /another origin/, kind);
  }
  assert.equal(check('page', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }), null);
  assert.match(check('read', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })!, /cross-site/);
  assert.equal(check('read', { 'sec-fetch-site': 'same-origin', origin: 'http://127.0.0.1:7400' }), null);
  assert.equal(check('read', {}), null, 'tools without browser headers may read');
});

test('changes need JSON and the token; without a token configured the UI is read-only', () => {
  const json = { 'content-type': 'application/json' };
  assert.equal(check('mutation', { ...json, 'x-fnrun-token': 'secret-token' }), null);
  assert.match(check('mutation', json)!, /token/);
  assert.match(check('mutation', { ...json, 'x-fnrun-token': 'secret' })!, /wrong UI token/);
  assert.match(check('mutation', { 'content-type': 'text/plain', 'x-fnrun-token': 'secret-token' })!, /application\/json/);
  assert.match(check('mutation', { ...json, 'x-fnrun-token': 'secret-token' }, null)!, /read-only; give a token/);
  assert.equal(check('read', {}, null), null, 'reads stay open in read-only mode');
});
