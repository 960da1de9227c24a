/**
 * The handlers' fetch, Headers, Request, Response and AbortController through the real sandbox
 * (SandboxHost, its child process, isolated-vm), against a real HTTP server and a real DNS server
 * on 127.0.0.1. Each case is an async function body run as one invocation of a fixture function
 * (test/fixtures/sandbox/fetch-cases.ts); `ORIGIN` is the HTTP server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';
import { SandboxHost, type LoadSpec } from '../../runtime/sandbox/host/host.ts';
import type { FetchRecord, InvocationResult } from '../../runtime/types.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { startHttpServer } from '../helpers/http-test-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/sandbox/fetch-cases.ts', import.meta.url));

type Outcome = { ok: boolean; value?: unknown; name?: string; message?: string; typeError?: boolean; domException?: boolean; cause?: { kind?: string } };

let http: Awaited<ReturnType<typeof startHttpServer>>;
let dns: Awaited<ReturnType<typeof startDnsServer>>;
let host: SandboxHost;
let code = '';
const loaded = new Map<number, string>();
let lastFetches: FetchRecord[] = [];
let events = 0;

before(async () => {
  http = await startHttpServer();
  dns = await startDnsServer({ 'private.test': { A: ['127.0.0.1'] } });
  // The sandbox process resolves names with this DNS server (it inherits the variable).
  process.env.FNRUN_SANDBOX_DNS_SERVERS = dns.address;
  host = new SandboxHost();
  await host.start();
  const out = await esbuild.build({ entryPoints: [FIXTURE], bundle: true, format: 'iife', globalName: '__fnrun_module', write: false, platform: 'neutral', logLevel: 'silent' });
  code = out.outputFiles[0]!.text;
});

after(async () => {
  await host.stop();
  delete process.env.FNRUN_SANDBOX_DNS_SERVERS;
  await Promise.all([http.close(), dns.close()]);
});

/** The fixture, loaded with `timeoutMs`: private.test resolves to 127.0.0.1 and is listed only on port 1, so it is refused. */
async function fnId(timeoutMs: number): Promise<string> {
  let id = loaded.get(timeoutMs);
  if (id === undefined) {
    id = `fetch-cases@${timeoutMs}`;
    const spec: LoadSpec = {
      id, name: 'fetch-cases', code, sourceMap: null, filename: 'fnrun:///functions/fetch-cases.js', env: {},
      limits: { timeoutMs, memoryMb: 64, instances: 1 },
      network: { ...MANIFEST_DEFAULTS.network, allow: [`127.0.0.1:${http.port}`, 'private.test:1'], maxResponseBytes: 100_000 },
    };
    await host.load(spec);
    loaded.set(timeoutMs, id);
  }
  return id;
}

/** Runs `body` (an async function body) as one invocation; resolves with its result. */
async function runRaw(body: string, timeoutMs = 10_000): Promise<InvocationResult> {
  const fn = await fnId(timeoutMs);
  const items = JSON.stringify([{ event: { id: `${++events}-0`, partition: 0, type: 'x', key: 'k', data: { code: body, origin: http.origin }, time: 0 }, attempt: 1, idem: 'i' }]);
  return new Promise((resolve) => {
    host.run({ fnId: fn, items, count: 1, state: null, exclusive: false, timeoutMs, readState: async () => '{}', onResult: (_i, r) => resolve(r) });
  });
}

function outcomeOf(r: InvocationResult): Outcome {
  assert.ok(r.status === 'ok', `the invocation failed: ${JSON.stringify(r)}`);
  lastFetches = r.fetches ?? [];
  return r.emits[0]!.data as Outcome;
}

async function run(body: string): Promise<Outcome> {
  return outcomeOf(await runRaw(body));
}

async function value(body: string): Promise<unknown> {
  const out = await run(body);
  assert.ok(out.ok, `the handler threw: ${out.name}: ${out.message}`);
  return out.value;
}

describe('fetch in an isolate', () => {
  test('GET with JSON: status, ok, headers, url, json()', async () => {
    const v = await value(`
      const r = await fetch(ORIGIN + '/echo?q=1', { headers: { 'X-Trace': 'abc' } });
      return { status: r.status, ok: r.ok, statusText: r.statusText, type: r.headers.get('Content-Type'), cookies: r.headers.getSetCookie(),
        url: r.url, redirected: r.redirected, used: r.bodyUsed, body: await r.json(), usedAfter: r.bodyUsed, isResponse: r instanceof Response };`);
    const body = (v as { body: { method: string; headers: Record<string, string> } }).body;
    assert.deepEqual({ ...(v as object), body: undefined }, {
      status: 200, ok: true, statusText: 'OK', type: 'application/json', cookies: ['a=1', 'b=2'], url: `${http.origin}/echo?q=1`, redirected: false,
      used: false, body: undefined, usedAfter: true, isResponse: true,
    });
    assert.equal(body.method, 'GET');
    assert.equal(body.headers['x-trace'], 'abc');
    const last = lastFetches.at(-1)!;
    assert.equal(last.status, 200);
    assert.equal(last.rule, `127.0.0.1:${http.port}`);
    assert.equal(last.error, null);
    assert.ok(last.durationMs > 0);
  });

  test('POST bodies: string, JSON, Uint8Array, ArrayBuffer, DataView, URLSearchParams (with default content types)', async () => {
    const v = (await value(`
      const send = async (body, headers) => { const r = await fetch(ORIGIN + '/echo', { method: 'post', body, headers }); const e = await r.json(); return [e.method, e.body, e.headers['content-type'] ?? null]; };
      const bytes = new TextEncoder().encode('bytes!');
      return [
        await send('plain'),
        await send(JSON.stringify({ a: 1 }), { 'content-type': 'application/json' }),
        await send(bytes),
        await send(bytes.buffer),
        await send(new DataView(bytes.buffer, 1, 3)),
        await send(new URLSearchParams({ q: 'a b', n: '1' })),
        await send(new Uint8Array([0x68, 0x69, 0x21]).subarray(1)),
      ];`)) as [string, string, string | null][];
    assert.deepEqual(v, [
      ['POST', 'plain', 'text/plain;charset=UTF-8'],
      ['POST', '{"a":1}', 'application/json'],
      ['POST', 'bytes!', null],
      ['POST', 'bytes!', null],
      ['POST', 'yte', null],
      ['POST', 'q=a+b&n=1', 'application/x-www-form-urlencoded;charset=UTF-8'],
      ['POST', 'i!', null],
    ]);
  });

  test('input as URL or Request; status and text of an error response; arrayBuffer; bodies read once', async () => {
    const v = await value(`
      const r1 = await fetch(new URL('/status/404', ORIGIN));
      const req = new Request(ORIGIN + '/echo', { method: 'PUT', body: 'from request', headers: [['x-a', '1']] });
      const r2 = await fetch(req);
      const e2 = await r2.json();
      const r3 = await fetch(ORIGIN + '/bytes?n=5');
      const buf = await r3.arrayBuffer();
      let again;
      try { await r3.text(); } catch (e) { again = e instanceof TypeError; }
      return { s1: r1.status, ok1: r1.ok, t1: await r1.text(), m2: e2.method, b2: e2.body, h2: e2.headers['x-a'], len: buf.byteLength, isBuf: buf instanceof ArrayBuffer, again };`);
    assert.deepEqual(v, { s1: 404, ok1: false, t1: 'status 404', m2: 'PUT', b2: 'from request', h2: '1', len: 5, isBuf: true, again: true });
  });

  test('without network.allow a function has no network at all: every fetch is refused, naming the field', async () => {
    const id = 'fetch-cases@no-network';
    await host.load({
      id, name: 'fetch-cases', code, sourceMap: null, filename: 'fnrun:///functions/fetch-cases.js', env: {},
      limits: { timeoutMs: 5_000, memoryMb: 64, instances: 1 }, network: MANIFEST_DEFAULTS.network,
    });
    const served = http.requests.length;
    const items = JSON.stringify([{ event: { id: '0-1', partition: 0, type: 'x', key: 'k', data: { code: `return await fetch(ORIGIN + '/echo');`, origin: http.origin }, time: 0 }, attempt: 1, idem: 'i' }]);
    const r = await new Promise<InvocationResult>((resolve) => host.run({ fnId: id, items, count: 1, state: null, exclusive: false, timeoutMs: 5_000, readState: async () => '{}', onResult: (_i, res) => resolve(res) }));
    const out = outcomeOf(r);
    assert.equal(out.typeError, true);
    assert.match(out.message!, /refused: this function has no network access \(network\.allow is empty\); add "127\.0\.0\.1:\d+" to network\.allow/);
    assert.equal(http.requests.length, served, 'nothing reached the server');
  });

  test('an unlisted host rejects with a TypeError naming the host and network.allow; the invocation goes on', async () => {
    const out = await run(`return await fetch('https://evil.example/x');`);
    assert.equal(out.ok, false);
    assert.equal(out.typeError, true);
    assert.equal(out.name, 'TypeError');
    assert.match(out.message!, /fetch to "evil\.example" refused: not in this function's network\.allow; add "evil\.example" to network\.allow/);
    assert.deepEqual(out.cause, { kind: 'refused' });
    const v = await value(`
      const errors = [];
      for (const url of ['http://169.254.169.254/latest/meta-data/', ORIGIN + '/redirect?to=' + encodeURIComponent('http://evil.example/'), 'http://private.test:1/echo', ORIGIN + '/stream']) {
        try { await fetch(url); errors.push('no error'); } catch (e) { errors.push(e.name + ': ' + e.message); }
      }
      const ok = await fetch(ORIGIN + '/echo');
      return { errors, after: ok.status };`);
    const { errors, after: status } = v as { errors: string[]; after: number };
    assert.match(errors[0]!, /^TypeError: fetch to "169\.254\.169\.254" refused/);
    assert.match(errors[1]!, /^TypeError: fetch to "127\.0\.0\.1:\d+" was redirected; fetch to "evil\.example" refused/);
    assert.match(errors[2]!, /^TypeError: fetch to "private\.test" refused: it resolves to 127\.0\.0\.1, a loopback address/);
    assert.match(errors[3]!, /^TypeError: fetch to "127\.0\.0\.1" failed: the response body is over network\.maxResponseBytes \(100000 bytes/);
    assert.equal(status, 200);
  });

  test('bad requests reject with TypeErrors before anything is sent', async () => {
    const served = http.requests.length;
    const v = await value(`
      const tries = [() => fetch('/relative'), () => fetch(ORIGIN, { method: 'CONNECT' }), () => fetch(ORIGIN, { body: 'x' }),
        () => fetch(ORIGIN, { headers: { 'bad name': '1' } }), () => fetch(ORIGIN, { headers: { a: 'x\\r\\ny' } }), () => fetch('http://u:p@127.0.0.1/'),
        () => fetch(ORIGIN, { signal: {} }), () => fetch(ORIGIN, { redirect: 'nope' })];
      const out = [];
      for (const t of tries) { try { await t(); out.push('resolved'); } catch (e) { out.push(e instanceof TypeError); } }
      return out;`);
    assert.deepEqual(v, [true, true, true, true, true, true, true, true]);
    assert.equal(http.requests.length, served);
  });

  test('AbortController aborts a request in flight: AbortError (or the given reason), and the server sees it go', async () => {
    const [hanging, cut] = [http.hanging, http.hangsCut];
    const v = await value(`
      const c = new AbortController();
      const seen = [];
      c.signal.onabort = (e) => seen.push('onabort:' + e.type);
      c.signal.addEventListener('abort', () => seen.push('listener'), { once: true });
      const p = fetch(ORIGIN + '/hang', { signal: c.signal });
      // Abort only once the request is at the server (asked through another fetch: no sleeping).
      while ((await (await fetch(ORIGIN + '/stats')).json()).hanging <= ${hanging});
      c.abort();
      let err;
      try { await p; } catch (e) { err = e; }
      const reasons = [];
      const c2 = new AbortController();
      c2.abort(new Error('mine'));
      try { await fetch(ORIGIN + '/echo', { signal: c2.signal }); } catch (e) { reasons.push(e.message); }
      try { c2.signal.throwIfAborted(); } catch (e) { reasons.push('thrown ' + e.message); }
      try { await fetch(ORIGIN + '/echo', { signal: AbortSignal.abort() }); } catch (e) { reasons.push(e.name); }
      return { name: err.name, dom: err instanceof DOMException, aborted: c.signal.aborted, reason: c.signal.reason.name, seen, reasons };`);
    assert.deepEqual(v, {
      name: 'AbortError', dom: true, aborted: true, reason: 'AbortError', seen: ['onabort:abort', 'listener'], reasons: ['mine', 'thrown mine', 'AbortError'],
    });
    await waitFor(() => http.hangsCut > cut, { message: 'the server to see the aborted request close' });
    assert.ok(http.hanging > hanging);
  });

  test('AbortSignal.timeout and AbortSignal.any', async () => {
    const v = await value(`
      let t;
      try { await fetch(ORIGIN + '/hang', { signal: AbortSignal.timeout(50) }); } catch (e) { t = e.name; }
      const c = new AbortController();
      const any = AbortSignal.any([new AbortController().signal, c.signal]);
      c.abort('why');
      let illegal;
      try { new AbortSignal(); } catch (e) { illegal = e instanceof TypeError; }
      return { t, any: [any.aborted, any.reason], illegal };`);
    assert.deepEqual(v, { t: 'TimeoutError', any: [true, 'why'], illegal: true });
  });

  test('a throwing abort listener fails the invocation', async () => {
    const out = await runRaw(`const c = new AbortController(); c.signal.addEventListener('abort', () => { throw new Error('listener broke'); }); c.abort(); return 1;`);
    assert.equal(out.status, 'error');
    assert.equal(out.status === 'error' && out.error.message, 'listener broke');
  });

  test('the invocation deadline fails a fetch with a TimeoutError', async () => {
    // The fetch runs out of time with its invocation: either it rejects with a TimeoutError the
    // handler sees, or the invocation itself is stopped for timeoutMs; both are the deadline.
    const out = await runRaw(`await fetch(ORIGIN + '/hang');`, 300);
    if (out.status === 'error') assert.equal(out.error.kind, 'timeout');
    else {
      const o = outcomeOf(out);
      assert.equal(o.ok, false);
      assert.equal(o.name, 'TimeoutError');
      assert.equal(o.domException, true);
    }
  });

  test('fetches left open when the invocation ends are aborted on the host', async () => {
    const cut = http.hangsCut;
    const hanging = http.hanging;
    const out = await run(`
      fetch(ORIGIN + '/hang').then(() => { globalThis.lateRan = true; }, () => { globalThis.lateRan = true; });
      while ((await (await fetch(ORIGIN + '/stats')).json()).hanging <= ${hanging});
      return 'returned';`);
    assert.deepEqual(out, { ok: true, value: 'returned' });
    await waitFor(() => http.hangsCut > cut, { message: 'the open fetch to be cut when its invocation ended' });
    assert.ok(http.hanging > hanging);
    assert.equal(await value(`return globalThis.lateRan === undefined;`), true, 'nothing of the ended invocation ran');
  });

  test('fetch after the invocation ended rejects', async () => {
    // Detached work that outlives its invocation (a few microtask turns after the handler returned).
    await value(`(async () => { for (let i = 0; i < 20; i++) await null; fetch(ORIGIN).then(() => { globalThis.late = 'resolved'; }, (e) => { globalThis.late = e.name + ': ' + e.message; }); })(); return 1;`);
    assert.match(String(await value(`return globalThis.late;`)), /^TypeError: fetch (was called after the handler returned|only works while a handler runs)/);
  });

  test('patched prototypes and JSON do not change what is sent', async () => {
    const v = await value(`
      const saved = { stringify: JSON.stringify, toJSON: Object.getOwnPropertyDescriptor(Array.prototype, 'toJSON'), push: Array.prototype.push };
      JSON.stringify = () => '{"url":"http://evil.example/"}';
      Array.prototype.toJSON = function () { return 'tampered'; };
      try {
        const r = await fetch(ORIGIN + '/echo', { method: 'POST', body: 'kept', headers: { 'x-a': 'b' } });
        const e = JSON.parse(new TextDecoder().decode(await r.arrayBuffer()));
        return [e.url, e.body, e.headers['x-a']];
      } finally {
        JSON.stringify = saved.stringify;
        delete Array.prototype.toJSON;
      }`);
    assert.deepEqual(v, ['/echo', 'kept', 'b']);
  });
});

describe('Headers, Request, Response in an isolate', () => {
  test('Headers: case-insensitive, combined, sorted, set-cookie apart, validated; fetched headers immutable', async () => {
    const v = await value(`
      const h = new Headers({ 'X-B': '1', 'x-a': ' padded ' });
      h.append('X-B', '2'); h.append('Set-Cookie', 'a=1'); h.append('set-cookie', 'b=2');
      const out = { b: h.get('x-b'), a: h.get('X-A'), has: h.has('X-a'), none: h.get('nope'), entries: [...h], keys: [...h.keys()], cookies: h.getSetCookie() };
      h.set('x-b', '3'); h.delete('x-a');
      const each = []; h.forEach((v, k) => each.push(k + '=' + v));
      out.after = each;
      out.copy = [...new Headers(h)].length;
      out.fromPairs = new Headers([['a', '1'], ['A', '2']]).get('a');
      for (const bad of [() => h.set('bad name', 'x'), () => h.set('x', 'a\\nb'), () => new Headers([['only-one']])]) { try { bad(); out.bad = (out.bad ?? '') + 'no'; } catch (e) { out.bad = (out.bad ?? '') + (e instanceof TypeError ? 'T' : '?'); } }
      const r = await fetch(ORIGIN + '/echo');
      try { r.headers.set('x', '1'); } catch (e) { out.immutable = e instanceof TypeError; }
      return out;`);
    assert.deepEqual(v, {
      b: '1, 2', a: 'padded', has: true, none: null,
      entries: [['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-a', 'padded'], ['x-b', '1, 2']],
      keys: ['set-cookie', 'set-cookie', 'x-a', 'x-b'], cookies: ['a=1', 'b=2'],
      after: ['set-cookie=a=1', 'set-cookie=b=2', 'x-b=3'], copy: 3, fromPairs: '1, 2', bad: 'TTT', immutable: true,
    });
  });

  test('Response is constructible: status, statusText, headers, json/text/bytes, clone, Response.json, validation', async () => {
    const v = await value(`
      const r = new Response('hello', { status: 201, statusText: 'Made', headers: { 'x-y': 'z' } });
      const c = r.clone();
      const j = Response.json({ a: [1] }, { status: 202 });
      const empty = new Response(null, { status: 204 });
      const out = { status: r.status, ok: r.ok, text: await r.text(), cloneBytes: [...await c.bytes()].length, type: r.headers.get('content-type'), xy: r.headers.get('x-y'),
        statusText: r.statusText, j: [j.status, j.headers.get('content-type'), await j.json()], empty: [empty.status, await empty.text()], url: r.url, redirected: r.redirected };
      for (const bad of [() => new Response('x', { status: 99 }), () => new Response('x', { status: 204 }), () => Response.redirect('/rel')]) {
        try { bad(); out.bad = (out.bad ?? '') + 'no'; } catch (e) { out.bad = (out.bad ?? '') + e.name[0]; }
      }
      const redirect = Response.redirect('https://example.com/x', 307);
      out.redirect = [redirect.status, redirect.headers.get('location')];
      return out;`);
    assert.deepEqual(v, {
      status: 201, ok: true, text: 'hello', cloneBytes: 5, type: 'text/plain;charset=UTF-8', xy: 'z', statusText: 'Made',
      j: [202, 'application/json', { a: [1] }], empty: [204, ''], url: '', redirected: false, bad: 'RTT', redirect: [307, 'https://example.com/x'],
    });
  });

  test('redirects followed inside: url and redirected reflect the final hop', async () => {
    const v = await value(`const r = await fetch(ORIGIN + '/redirect?status=301&to=' + encodeURIComponent('/echo?final=1')); return [r.url, r.redirected, r.status];`);
    assert.deepEqual(v, [`${http.origin}/echo?final=1`, true, 200]);
  });
});
