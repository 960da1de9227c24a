/**
 * The isolate's fetch, Headers, Request, Response and AbortController, in a real isolated-vm
 * isolate, against a real HTTP server and DNS server on 127.0.0.1, through the real bridge and
 * executor. The isolate set-up below is a minimal stand-in for the sandbox's bootstrap (shim.ts):
 * one invocation at a time, owner objects as the shim defines them.
 *
 * isolated-vm wants `--no-node-snapshot`; without it, this file runs itself again with the flag.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const FLAG = '--no-node-snapshot';

if (!process.execArgv.includes(FLAG)) {
  test(`the isolate tests pass in a process started with ${FLAG}`, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // else the child would speak the test runner's protocol to us
    const child = spawn(process.execPath, [FLAG, fileURLToPath(import.meta.url)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const kill = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    process.once('exit', kill);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    process.off('exit', kill);
    assert.equal(code, 0, output);
    assert.match(output, /fail 0/);
  });
} else {
  await defineIsolateTests();
}

async function defineIsolateTests(): Promise<void> {
  const { default: ivm } = await import('isolated-vm');
  const { MANIFEST_DEFAULTS } = await import('../../runtime/loading/manifest.ts');
  const { compileNetworkPolicy } = await import('../../runtime/policy/network-policy.ts');
  const { FetchExecutor } = await import('../../runtime/sandbox/child/fetch-executor.ts');
  const { FetchBridgeHost } = await import('../../runtime/sandbox/child/fetch-bridge.ts');
  const { HostTimers, randomBytesCallback, urlCallback } = await import('../../runtime/sandbox/child/isolate-callbacks.ts');
  const shims = {
    installWeb: (await import('../../runtime/sandbox/isolate/shim-web.ts')).installWeb,
    installEncoding: (await import('../../runtime/sandbox/isolate/shim-encoding.ts')).installEncoding,
    installUrl: (await import('../../runtime/sandbox/isolate/shim-url.ts')).installUrl,
    installTimers: (await import('../../runtime/sandbox/isolate/shim-timers.ts')).installTimers,
    installAbort: (await import('../../runtime/sandbox/isolate/shim-abort.ts')).installAbort,
    installHeaders: (await import('../../runtime/sandbox/isolate/shim-headers.ts')).installHeaders,
    installRequestResponse: (await import('../../runtime/sandbox/isolate/shim-request-response.ts')).installRequestResponse,
    installFetch: (await import('../../runtime/sandbox/isolate/shim-fetch.ts')).installFetch,
  };
  const { startDnsServer } = await import('../helpers/dns-server.ts');
  const { startHttpServer } = await import('../helpers/http-test-server.ts');
  const { waitFor } = await import('../helpers/wait-for.ts');
  type FetchRecord = import('../../runtime/sandbox/child/fetch-executor.ts').FetchRecord;

  // The bootstrap's part that matters here: install order, owners, end() when an invocation ends.
  const SOURCE = `(function (urlOp, randomBytes, sleep, cancelTimer, fetchStart, fetchAbort) {
'use strict';
${Object.entries(shims).map(([name, fn]) => `const ${name} = ${fn.toString()};`).join('\n')}
const g = globalThis;
installWeb(g, randomBytes);
installEncoding(g);
installUrl(g, urlOp);
let current = null;
const fail = (owner, e) => { if (owner.failure === undefined) owner.failure = e; };
const endTimers = installTimers(g, { sleep, cancelTimer }, () => current, fail);
installAbort(g, () => current, fail);
const headers = installHeaders(g);
const bodies = installRequestResponse(g, headers);
const endFetch = installFetch(g, { fetchStart, fetchAbort }, () => current, { headers, bodies });
const AsyncFunction = (async function () {}).constructor;
return async function run(code, id, origin) {
  const inv = { id, done: false, timers: null, fetches: null, failure: undefined };
  current = inv;
  let out;
  try {
    out = { ok: true, value: await new AsyncFunction('ORIGIN', code)(origin) };
  } catch (e) {
    out = { ok: false, name: e && e.name, message: e && e.message, typeError: e instanceof TypeError, domException: e instanceof DOMException, cause: e && e.cause };
  }
  inv.done = true;
  endFetch(inv);
  endTimers(inv);
  current = null;
  if (inv.failure !== undefined) out.failure = String(inv.failure && inv.failure.message);
  return JSON.stringify(out);
};
})`;

  type Outcome = { ok: boolean; value?: unknown; name?: string; message?: string; typeError?: boolean; domException?: boolean; cause?: { kind?: string }; failure?: string };

  let http: Awaited<ReturnType<typeof startHttpServer>>;
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let isolate: import('isolated-vm').Isolate;
  let context: import('isolated-vm').Context;
  let runRef: import('isolated-vm').Reference;
  let bridge: InstanceType<typeof FetchBridgeHost>;
  let executor: InstanceType<typeof FetchExecutor>;
  const timers = new HostTimers();
  const scopes = new Map<number, { signal: AbortSignal; deadline: number }>();
  const records: { invocation: number; record: FetchRecord }[] = [];
  let invocations = 0;

  before(async () => {
    http = await startHttpServer();
    dns = await startDnsServer({ 'private.test': { A: ['127.0.0.1'] } });
    // private.test resolves to 127.0.0.1, listed only on the server's port: on port 1 it is refused.
    const allow = [`127.0.0.1:${http.port}`, 'private.test:1'];
    executor = new FetchExecutor(compileNetworkPolicy({ ...MANIFEST_DEFAULTS.network, allow, maxResponseBytes: 100_000 }), { resolver: { servers: [dns.address] } });
    bridge = new FetchBridgeHost(executor, { scopeOf: (id) => scopes.get(id) ?? null, onRecord: (invocation, record) => records.push({ invocation, record }) });
    isolate = new ivm.Isolate({ memoryLimit: 64 });
    context = await isolate.createContext();
    const factory = (await (await isolate.compileScript(SOURCE, { filename: 'fnrun-internal:///fetch-test-shim.js' })).run(context, { reference: true })) as import('isolated-vm').Reference;
    runRef = (await factory.apply(undefined, [urlCallback, randomBytesCallback, timers.sleep, timers.cancel, bridge.fetchStart, bridge.fetchAbort], { result: { reference: true } })) as import('isolated-vm').Reference;
  });

  after(async () => {
    bridge.release();
    timers.release();
    executor.close();
    isolate.dispose();
    await Promise.all([http.close(), dns.close()]);
  });

  /** Runs `code` (an async function body; `ORIGIN` is the server) as one invocation. */
  async function run(code: string, opts: { deadline?: number } = {}): Promise<Outcome> {
    const id = ++invocations;
    const ended = new AbortController();
    scopes.set(id, { signal: ended.signal, deadline: opts.deadline ?? Date.now() + 30_000 });
    try {
      return JSON.parse((await runRef.apply(undefined, [code, id, http.origin], { result: { promise: true } })) as string) as Outcome;
    } finally {
      // What the child does when an invocation ends: its scope goes, its fetches abort.
      scopes.delete(id);
      ended.abort();
    }
  }

  async function value(code: string): Promise<unknown> {
    const out = await run(code);
    assert.ok(out.ok, `the handler threw: ${out.name}: ${out.message}`);
    assert.equal(out.failure, undefined);
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
      const last = records[records.length - 1]!;
      assert.equal(last.record.status, 200);
      assert.equal(last.record.rule, `127.0.0.1:${http.port}`);
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
      assert.match(errors[1]!, /^TypeError: fetch to "127\.0\.0\.1" was redirected; fetch to "evil\.example" refused/);
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
      const out = await run(`const c = new AbortController(); c.signal.addEventListener('abort', () => { throw new Error('listener broke'); }); c.abort(); return 1;`);
      assert.equal(out.ok, true);
      assert.equal(out.failure, 'listener broke');
    });

    test('the invocation deadline fails a fetch with a TimeoutError', async () => {
      const out = await run(`await fetch(ORIGIN + '/hang');`, { deadline: Date.now() + 200 });
      assert.equal(out.ok, false);
      assert.equal(out.name, 'TimeoutError');
      assert.equal(out.domException, true);
      assert.match(out.message!, /timeoutMs/);
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
      await waitFor(() => bridge.open === 0, { message: 'no fetch left open in the bridge' });
      assert.equal(await context.eval('globalThis.lateRan === undefined'), true, 'nothing of the ended invocation ran');
    });

    test('fetch outside an invocation rejects', async () => {
      const message = await context.eval(`fetch('http://127.0.0.1/').then(() => 'resolved', (e) => e.name + ': ' + e.message)`, { promise: true });
      assert.equal(message, 'TypeError: fetch only works while a handler runs (fnrun aborts open fetches when the invocation ends)');
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
}
