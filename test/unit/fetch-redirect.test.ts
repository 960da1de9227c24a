import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRedirectStatus, redirectRequest, type RedirectableRequest } from '../../runtime/policy/fetch-redirect.ts';

const base: RedirectableRequest<string> = {
  url: 'https://api.example.com/a/b?q=1#top',
  method: 'POST',
  headers: [['Content-Type', 'application/json'], ['Authorization', 'Bearer x'], ['Cookie', 'a=1'], ['Proxy-Authorization', 'p'], ['X-Keep', '1']],
  body: '{"a":1}',
};

const names = (r: RedirectableRequest<string> | string): string[] => (typeof r === 'string' ? assert.fail(r) : r.headers.map(([n]) => n));

test('redirect statuses', () => {
  assert.deepEqual([300, 301, 302, 303, 304, 305, 306, 307, 308, 200].filter(isRedirectStatus), [301, 302, 303, 307, 308]);
});

test('301/302 turn a POST into a GET without body and body headers; other methods keep theirs', () => {
  for (const status of [301, 302]) {
    const r = redirectRequest(base, status, '/c');
    assert.ok(typeof r !== 'string');
    assert.deepEqual([r.method, r.body, r.url], ['GET', null, 'https://api.example.com/c#top']);
    assert.deepEqual(names(r), ['Authorization', 'Cookie', 'Proxy-Authorization', 'X-Keep']);
    const put = redirectRequest({ ...base, method: 'PUT' }, status, '/c');
    assert.ok(typeof put !== 'string');
    assert.deepEqual([put.method, put.body], ['PUT', '{"a":1}']);
  }
});

test('303 turns anything but GET/HEAD into a GET; 307/308 keep method and body', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = redirectRequest({ ...base, method }, 303, 'c');
    assert.ok(typeof r !== 'string');
    assert.deepEqual([r.method, r.body, r.url], ['GET', null, 'https://api.example.com/a/c#top']);
  }
  const head = redirectRequest({ ...base, method: 'HEAD', body: null }, 303, '/c');
  assert.ok(typeof head !== 'string' && head.method === 'HEAD');
  for (const status of [307, 308]) {
    const r = redirectRequest(base, status, '/c#other');
    assert.ok(typeof r !== 'string');
    assert.deepEqual([r.method, r.body, r.url], ['POST', '{"a":1}', 'https://api.example.com/c#other']);
    assert.equal(names(r).length, 5);
  }
});

test('leaving the origin (host, port or scheme) drops the credentials', () => {
  for (const to of ['https://other.example.com/', 'https://api.example.com:8443/', 'http://api.example.com/', '//cdn.example.com/x']) {
    assert.deepEqual(names(redirectRequest(base, 307, to)), ['Content-Type', 'X-Keep'], to);
  }
  assert.equal(names(redirectRequest(base, 307, 'https://API.example.com:443/x')).length, 5);
});

test('an unparsable Location is refused', () => {
  assert.match(redirectRequest(base, 302, 'http://[bad') as string, /Location "http:\/\/\[bad" is not a valid URL/);
});
