/**
 * The sandbox's fetch executor against real HTTP servers on 127.0.0.1 and a real DNS server
 * (UDP on 127.0.0.1) that the executor's resolver is pointed at. No mocks, no sleeps.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';
import { compileNetworkPolicy } from '../../runtime/policy/network-policy.ts';
import { FetchError, type FetchErrorKind } from '../../runtime/sandbox/child/fetch-error.ts';
import { FetchExecutor, type FetchRecord, type FetchRequestData, type FetchResponseData } from '../../runtime/sandbox/child/fetch-executor.ts';
import type { NetworkConfig } from '../../runtime/types.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { startHttpServer, type TestHttpServer } from '../helpers/http-test-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

let a: TestHttpServer;
let b: TestHttpServer;
let dns: DnsServer;
const executors: FetchExecutor[] = [];

before(async () => {
  [a, b] = await Promise.all([startHttpServer(), startHttpServer()]);
  dns = await startDnsServer({
    'private.test': { A: ['127.0.0.1'] },
    'metadata.test': { A: ['169.254.169.254'] },
    'mixed.test': { A: ['93.184.216.34', '10.0.0.7'] },
    'mapped.test': { AAAA: ['::ffff:127.0.0.1'] },
    'ula.test': { AAAA: ['fd00::1'] },
    'pinned.test': { A: ['127.0.0.1'] },
  });
});
after(async () => {
  for (const e of executors) e.close();
  await Promise.all([a.close(), b.close(), dns.close()]);
});

function executor(network: Partial<NetworkConfig>): FetchExecutor {
  const e = new FetchExecutor(compileNetworkPolicy({ ...MANIFEST_DEFAULTS.network, allow: [], ...network }), { resolver: { servers: [dns.address] } });
  executors.push(e);
  return e;
}

function req(url: string, init: Partial<FetchRequestData> = {}): FetchRequestData {
  return { url, method: 'GET', headers: [], body: null, ...init };
}

const text = (r: FetchResponseData): string => Buffer.from(r.body).toString('utf8');
const json = (r: FetchResponseData): { method: string; url: string; headers: Record<string, string>; body: string } => JSON.parse(text(r));
const header = (r: FetchResponseData, name: string): string[] => r.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

async function failure(p: Promise<unknown>, kind: FetchErrorKind, message: RegExp): Promise<FetchError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FetchError, `expected a FetchError, got ${String(e)}`);
    assert.ok(e instanceof TypeError);
    assert.equal(e.name, 'TypeError');
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, message);
    return e;
  }
  assert.fail('expected the fetch to fail');
}

describe('allowed hosts', () => {
  test('GET: status, headers (repeated ones kept), JSON body, final URL, a record for the metrics', async () => {
    const records: FetchRecord[] = [];
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const r = await e.execute(req(`${a.origin}/echo?x=1#frag`, { headers: [['X-Trace', 'abc'], ['accept', 'application/json']] }), { onRecord: (rec) => records.push(rec) });
    assert.equal(r.status, 200);
    assert.equal(r.statusText, 'OK');
    assert.equal(r.url, `${a.origin}/echo?x=1`);
    assert.equal(r.redirected, false);
    assert.deepEqual(header(r, 'set-cookie'), ['a=1', 'b=2']);
    assert.deepEqual(header(r, 'x-echo'), ['yes']);
    const echo = json(r);
    assert.equal(echo.method, 'GET');
    assert.equal(echo.url, '/echo?x=1');
    assert.equal(echo.headers['x-trace'], 'abc');
    assert.equal(echo.headers.accept, 'application/json');
    assert.equal(echo.headers['user-agent'], 'fnrun');
    assert.equal(echo.headers.host, `127.0.0.1:${a.port}`);
    assert.equal(records.length, 1);
    const rec = records[0]!;
    assert.deepEqual({ ...rec, durationMs: 0 }, { host: `127.0.0.1:${a.port}`, rule: `127.0.0.1:${a.port}`, status: 200, error: null, redirects: 0, durationMs: 0 });
    assert.ok(rec.durationMs > 0 && Number.isFinite(rec.durationMs));
  });

  test('POST with a JSON body; the method is normalised; Host and Content-Length are the connection\'s own', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const body = new TextEncoder().encode(JSON.stringify({ hello: 'wörld' }));
    const r = await e.execute(req(`${a.origin}/echo`, { method: 'post', body, headers: [['content-type', 'application/json'], ['Host', 'evil.example'], ['content-length', '1']] }));
    const echo = json(r);
    assert.equal(echo.method, 'POST');
    assert.deepEqual(JSON.parse(echo.body), { hello: 'wörld' });
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers['content-length'], String(body.byteLength));
    assert.equal(echo.headers.host, `127.0.0.1:${a.port}`);
    const patch = await e.execute(req(`${a.origin}/echo`, { method: 'patch' }));
    assert.equal(json(patch).method, 'PATCH'); // node:http sends every method uppercase
  });

  test('a non-2xx status is a response, not an error; status text is kept; gzip is decoded', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const r = await e.execute(req(`${a.origin}/status/418?text=I%27m%20a%20teapot`));
    assert.equal(r.status, 418);
    assert.equal(r.statusText, "I'm a teapot");
    assert.equal(text(r), 'status 418');
    const g = await e.execute(req(`${a.origin}/gzip`));
    assert.equal(JSON.parse(text(g)).compressed, true);
    const head = await e.execute(req(`${a.origin}/bytes?n=100`, { method: 'HEAD' }));
    assert.equal(head.body.byteLength, 0);
  });

  test('a listed name resolves through the configured DNS server once per fetch, and connects to the checked address', async () => {
    const e = executor({ allow: [`pinned.test:${a.port}`, `127.0.0.1:${a.port}`] });
    const before = dns.queries.filter((q) => q.startsWith('pinned.test ')).length;
    const r = await e.execute(req(`http://pinned.test:${a.port}/echo`));
    assert.equal(json(r).headers.host, `pinned.test:${a.port}`);
    const asked = dns.queries.filter((q) => q.startsWith('pinned.test ')).slice(before);
    assert.deepEqual(asked.sort(), ['pinned.test A', 'pinned.test AAAA']);
  });

  test('an IPv6 literal listed in brackets', async () => {
    const server = createHttpServer((rq, rs) => rs.end(`v6 ${rq.headers.host}`));
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const e = executor({ allow: [`[::1]:${port}`] });
      assert.equal(text(await e.execute(req(`http://[::1]:${port}/`))), `v6 [::1]:${port}`);
      assert.equal(text(await e.execute(req(`http://[0:0::1]:${port}/`))), `v6 [::1]:${port}`);
      await failure(e.execute(req(`http://127.0.0.1:${port}/`)), 'refused', /not in this function's network\.allow/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('localhost resolves to loopback without DNS when listed literally', async () => {
    const e = executor({ allow: [`localhost:${a.port}`] });
    const count = dns.queries.length;
    const r = await e.execute(req(`http://localhost:${a.port}/echo`));
    assert.equal(r.status, 200);
    assert.equal(dns.queries.length, count);
  });
});

describe('refusals (each names the host and network.allow, and the executor goes on)', () => {
  test('no network at all by default', async () => {
    const e = executor({});
    await failure(e.execute(req(`${a.origin}/echo`)), 'refused', /fetch to "127\.0\.0\.1" \(port \d+\) refused: this function has no network access \(network\.allow is empty\); add "127\.0\.0\.1:\d+" to network\.allow/);
    assert.equal(a.requests.filter((r) => r.url === '/echo?never').length, 0);
  });

  test('an unlisted host, an unlisted port, and a scheme other than http(s)', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`, 'api.example.com'] });
    const unlisted = await failure(e.execute(req('https://evil.example/steal')), 'refused', /fetch to "evil\.example" refused: not in this function's network\.allow; add "evil\.example" to network\.allow/);
    assert.doesNotMatch(unlisted.message, /port/);
    await failure(e.execute(req(`http://127.0.0.1:${b.port}/echo`)), 'refused', new RegExp(`add "127\\.0\\.0\\.1:${b.port}"`));
    await failure(e.execute(req('file:///etc/passwd')), 'invalid', /only http: and https: URLs can be fetched/);
    await failure(e.execute(req('/relative')), 'invalid', /not a valid absolute URL/);
    await failure(e.execute(req(`http://u:p@127.0.0.1:${a.port}/echo`)), 'invalid', /includes credentials/);
    await failure(e.execute(req(`${a.origin}/echo`, { method: 'CONNECT' })), 'invalid', /CONNECT method is not allowed/);
    await failure(e.execute(req(`${a.origin}/echo`, { method: 'GET X' })), 'invalid', /not a valid HTTP method/);
    await failure(e.execute(req(`${a.origin}/echo`, { headers: [['x', 'a\r\nInjected: 1']] })), 'invalid', /fetch to "127\.0\.0\.1"/);
    assert.equal((await e.execute(req(`${a.origin}/echo`))).status, 200);
  });

  test('the metadata IP, literally or through a listed name', async () => {
    const e = executor({ allow: ['metadata.test', `127.0.0.1:${a.port}`] });
    await failure(e.execute(req('http://169.254.169.254/latest/meta-data/')), 'refused', /fetch to "169\.254\.169\.254" refused: not in this function's network\.allow/);
    await failure(
      e.execute(req('http://metadata.test/latest/meta-data/')),
      'refused',
      /fetch to "metadata\.test" refused: it resolves to 169\.254\.169\.254, a link-local address, .*SSRF and DNS-rebinding protection.*add "169\.254\.169\.254" to network\.allow/,
    );
  });

  test('a listed name resolving to a private address (DNS rebinding) is refused; listing the IP allows it', async () => {
    const refused = executor({ allow: [`private.test:${a.port}`, `mapped.test:${a.port}`, `mixed.test:${a.port}`, `ula.test:${a.port}`] });
    const served = a.requests.length;
    await failure(refused.execute(req(`http://private.test:${a.port}/echo`)), 'refused', new RegExp(`"private\\.test" refused: it resolves to 127\\.0\\.0\\.1, a loopback address.*add "127\\.0\\.0\\.1:${a.port}"`));
    await failure(refused.execute(req(`http://mapped.test:${a.port}/echo`)), 'refused', /resolves to 127\.0\.0\.1, a loopback address/);
    await failure(refused.execute(req(`http://mixed.test:${a.port}/echo`)), 'refused', /resolves to 10\.0\.0\.7, a private address/);
    await failure(refused.execute(req(`http://ula.test:${a.port}/echo`)), 'refused', /resolves to fd00::1, a private address.*add "\[fd00::1\]:\d+"/);
    await failure(refused.execute(req(`http://nowhere.test:${a.port}/echo`)), 'refused', /not in this function's network\.allow/);
    assert.equal(a.requests.length, served, 'nothing reached the server');
    const allowed = executor({ allow: [`private.test:${a.port}`, `127.0.0.1:${a.port}`, `nxdomain.test:${a.port}`] });
    assert.equal((await allowed.execute(req(`http://private.test:${a.port}/echo`))).status, 200);
    await failure(allowed.execute(req(`http://nxdomain.test:${a.port}/echo`)), 'dns', /fetch to "nxdomain\.test" failed: the name does not resolve/);
  });

  test('an oversized response body fails, the socket is cut as soon as the cap is passed; so does an oversized request body', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`], maxResponseBytes: 100_000, maxRequestBytes: 10 });
    const cut = a.streamsCut;
    await failure(e.execute(req(`${a.origin}/stream`)), 'too-large', /fetch to "127\.0\.0\.1" failed: the response body is over network\.maxResponseBytes \(100000 bytes; more bytes arrived\); raise network\.maxResponseBytes/);
    await waitFor(() => a.streamsCut > cut, { message: 'the endless stream to be cut by the client' });
    await failure(e.execute(req(`${a.origin}/bytes?n=100001`)), 'too-large', /it declares 100001 bytes/);
    assert.equal((await e.execute(req(`${a.origin}/bytes?n=100000`))).body.byteLength, 100_000);
    await failure(e.execute(req(`${a.origin}/echo`, { method: 'POST', body: new Uint8Array(11) })), 'too-large', /the request body is 11 bytes, over network\.maxRequestBytes \(10\)/);
  });
});

describe('redirects', () => {
  test('followed to an allowed host, re-checked at every hop; credentials dropped across origins only', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
    const to = encodeURIComponent(`${b.origin}/echo`);
    const creds: [string, string][] = [['authorization', 'Bearer s3cret'], ['cookie', 'sid=1'], ['x-keep', 'yes']];
    const r = await e.execute(req(`${a.origin}/redirect?to=${to}`, { headers: creds }));
    assert.equal(r.redirected, true);
    assert.equal(r.url, `${b.origin}/echo`);
    const echo = json(r);
    assert.equal(echo.headers.authorization, undefined);
    assert.equal(echo.headers.cookie, undefined);
    assert.equal(echo.headers['x-keep'], 'yes');
    const same = json(await e.execute(req(`${a.origin}/redirect?to=%2Fecho`, { headers: creds })));
    assert.equal(same.headers.authorization, 'Bearer s3cret');
    assert.equal(same.headers.cookie, 'sid=1');
  });

  test('303 (and 302 after POST) become a GET without body; 307/308 keep method and body', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const body = new TextEncoder().encode('payload');
    const post = (status: number): FetchRequestData => req(`${a.origin}/redirect?status=${status}&to=%2Fecho`, { method: 'POST', body, headers: [['content-type', 'text/plain']] });
    for (const status of [302, 303]) {
      const echo = json(await e.execute(post(status)));
      assert.equal(echo.method, 'GET', String(status));
      assert.equal(echo.body, '');
      assert.equal(echo.headers['content-type'], undefined);
    }
    for (const status of [307, 308]) {
      const echo = json(await e.execute(post(status)));
      assert.equal(echo.method, 'POST', String(status));
      assert.equal(echo.body, 'payload');
    }
    const put303 = json(await e.execute(req(`${a.origin}/redirect?status=303&to=%2Fecho`, { method: 'PUT', body })));
    assert.equal(put303.method, 'GET');
  });

  test('a redirect to an unlisted host, or to a listed name on a private address, is refused', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`, `private.test:${b.port}`] });
    await failure(
      e.execute(req(`${a.origin}/redirect?to=${encodeURIComponent('http://evil.example/x')}`)),
      'refused',
      /fetch to "127\.0\.0\.1:\d+" was redirected; fetch to "evil\.example" refused: not in this function's network\.allow; add "evil\.example"/,
    );
    await failure(e.execute(req(`${a.origin}/redirect?to=${encodeURIComponent('http://169.254.169.254/')}`)), 'refused', /"169\.254\.169\.254" refused/);
    await failure(e.execute(req(`${a.origin}/redirect?to=${encodeURIComponent(`http://private.test:${b.port}/echo`)}`)), 'refused', /resolves to 127\.0\.0\.1, a loopback address/);
    await failure(e.execute(req(`${a.origin}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`)), 'invalid', /only http: and https:/);
  });

  test('at most maxRedirects; manual returns the 3xx; error fails', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`], maxRedirects: 2 });
    const chain = (n: number): string => {
      let url = '/echo';
      for (let i = 0; i < n; i++) url = `/redirect?to=${encodeURIComponent(url)}`;
      return `${a.origin}${url}`;
    };
    const records: FetchRecord[] = [];
    assert.equal((await e.execute(req(chain(2)), { onRecord: (r) => records.push(r) })).status, 200);
    assert.equal(records[0]!.redirects, 2);
    await failure(e.execute(req(chain(3)), { onRecord: (r) => records.push(r) }), 'redirect', /more than network\.maxRedirects \(2\) redirects/);
    assert.equal(records[1]!.error, 'redirect');
    const manual = await e.execute(req(chain(1), { redirect: 'manual' }));
    assert.equal(manual.status, 302);
    assert.deepEqual(header(manual, 'location'), ['/echo']);
    assert.equal(text(manual), 'redirecting');
    await failure(e.execute(req(chain(1), { redirect: 'error' })), 'redirect', /redirect: 'error'/);
  });
});

describe('https', () => {
  test('TLS verifies the certificate against the name, not the pinned address', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fnrun-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=secure.test', '-addext', 'subjectAltName=DNS:secure.test'], { stdio: 'ignore' });
      const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (rq, rs) => rs.end(`tls ok ${rq.headers.host}`));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      dns.records.set('secure.test', { A: ['127.0.0.1'] });
      dns.records.set('other.test', { A: ['127.0.0.1'] });
      try {
        const allow = [`secure.test:${port}`, `other.test:${port}`, `127.0.0.1:${port}`];
        const trusted = new FetchExecutor(compileNetworkPolicy({ ...MANIFEST_DEFAULTS.network, allow }), { resolver: { servers: [dns.address] }, ca: cert });
        executors.push(trusted);
        assert.equal(text(await trusted.execute(req(`https://secure.test:${port}/`))), `tls ok secure.test:${port}`);
        await failure(trusted.execute(req(`https://other.test:${port}/`)), 'network', /fetch to "other\.test" failed: .*(altnames|does not match)/i);
        await failure(trusted.execute(req(`https://127.0.0.1:${port}/`)), 'network', /fetch to "127\.0\.0\.1" failed/);
        const untrusted = executor({ allow });
        await failure(untrusted.execute(req(`https://secure.test:${port}/`)), 'network', /self-signed certificate/);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pooled connections', () => {
  test('an idempotent request on a pooled connection the server reset goes again on a fresh one; a POST does not', async () => {
    // Answers the first request of each connection (keep-alive) and resets the connection on the second.
    let connections = 0;
    const server = createNetServer((socket) => {
      connections++;
      let requests = 0;
      socket.on('data', (chunk: Buffer) => {
        if (!chunk.includes('\r\n\r\n')) return;
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        else socket.resetAndDestroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const e = executor({ allow: [`127.0.0.1:${port}`] });
      const url = `http://127.0.0.1:${port}/`;
      assert.equal(text(await e.execute(req(url))), 'ok');
      assert.equal(text(await e.execute(req(url))), 'ok', 'the GET went again on a new connection');
      assert.equal(connections, 2);
      await failure(e.execute(req(url, { method: 'POST', body: new Uint8Array(1) })), 'network', /fetch to "127\.0\.0\.1" failed: .*ECONNRESET/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('abort, deadline, concurrency', () => {
  test('a signal aborts a request in flight (the server sees the connection go)', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const controller = new AbortController();
    const [hanging, cut] = [a.hanging, a.hangsCut];
    const records: FetchRecord[] = [];
    const p = e.execute(req(`${a.origin}/hang`), { signal: controller.signal, onRecord: (r) => records.push(r) });
    await waitFor(() => a.hanging > hanging, { message: 'the request to reach the server' });
    controller.abort(new Error('invocation ended'));
    const error = await failure(p, 'aborted', /fetch was aborted/);
    assert.equal((error.cause as Error).message, 'invocation ended');
    await waitFor(() => a.hangsCut > cut, { message: 'the server to see the connection closed' });
    assert.equal(records[0]!.error, 'aborted');
    await failure(e.execute(req(`${a.origin}/echo`), { signal: AbortSignal.abort() }), 'aborted', /aborted/);
  });

  test('the deadline fails a request with kind timeout', async () => {
    const e = executor({ allow: [`127.0.0.1:${a.port}`] });
    const cut = a.hangsCut;
    await failure(e.execute(req(`${a.origin}/hang`), { deadline: Date.now() + 200 }), 'timeout', /the invocation's time \(timeoutMs\) ran out/);
    await waitFor(() => a.hangsCut > cut, { message: 'the server to see the connection closed' });
    await failure(e.execute(req(`${a.origin}/echo`), { deadline: Date.now() - 1 }), 'timeout', /timed out/);
  });

  test('at most maxConcurrent requests run at once; the others wait their turn', async () => {
    const e = executor({ allow: [`127.0.0.1:${b.port}`], maxConcurrent: 2 });
    const hanging = b.hanging;
    const all = [1, 2, 3, 4].map(() => e.execute(req(`${b.origin}/hang`)));
    await waitFor(() => b.hanging === hanging + 2, { message: 'two requests to reach the server' });
    assert.equal(e.active, 2);
    assert.equal(b.hanging, hanging + 2);
    b.release();
    await waitFor(() => b.hanging === hanging + 4, { message: 'the waiting two to go out' });
    b.release();
    const done = await Promise.all(all);
    assert.deepEqual(done.map(text), ['released', 'released', 'released', 'released']);
    assert.equal(e.active, 0);
  });
});
