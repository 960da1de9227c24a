/**
 * The sandbox with real isolated-vm (in the child process) and real esbuild bundles of the
 * fixtures in test/fixtures/sandbox. No mocks, no sleeps, no timing thresholds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { SandboxError } from '../../runtime/errors.ts';
import { SandboxHost, type LoadSpec } from '../../runtime/sandbox/host/host.ts';
import type { InvocationResult, SandboxLimits } from '../../runtime/types.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sandbox/', import.meta.url));
const FAST: SandboxLimits = { timeoutMs: 300, memoryMb: 32 };
/** For allocation bombs: a long timeout, so that the memory guards (not the timeout) catch them. */
const PATIENT: SandboxLimits = { timeoutMs: 60_000, memoryMb: 32 };

async function bundle(name: string, limits: SandboxLimits = FAST, id = `${name}@1`): Promise<LoadSpec> {
  const out = await esbuild.build({
    entryPoints: [`${FIXTURES}${name}.ts`],
    bundle: true,
    format: 'iife',
    globalName: '__fnrun_module',
    sourcemap: 'external',
    write: false,
    outdir: '/x',
    platform: 'neutral',
    logLevel: 'silent',
  });
  const file = (ext: string): string => {
    const f = out.outputFiles.find((o) => o.path.endsWith(ext));
    assert.ok(f, `esbuild produced no ${ext}`);
    return f.text;
  };
  return { id, name, code: file('.js'), sourceMap: file('.js.map'), filename: `fnrun:///functions/${name}.js`, limits, env: { REGION: 'eu-west' } };
}

function batch(...items: { data: unknown; attempt?: number }[]): string {
  return JSON.stringify(items.map((it, i) => ({ event: { id: `${i}-0`, type: 'test', key: `k${i}`, data: it.data, time: 1_700_000_000_000 }, attempt: it.attempt ?? 1 })));
}

const data = (...ds: unknown[]): { data: unknown }[] => ds.map((d) => ({ data: d }));

function errorOf(r: InvocationResult | undefined): { name: string; message: string; stack: string; kind: string } {
  assert.ok(r && r.status === 'error', `expected an error result, got ${JSON.stringify(r)}`);
  return r.error;
}

function emitsOf(r: InvocationResult | undefined): { type: string; key: string | null; data: unknown }[] {
  assert.ok(r && r.status === 'ok', `expected an ok result, got ${JSON.stringify(r)}`);
  return r.emits;
}

async function waitFor(condition: () => boolean | Promise<boolean>, message: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${message}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

describe('SandboxHost', () => {
  const crashes: string[] = [];
  const host = new SandboxHost({ onCrash: ({ reason }) => crashes.push(reason) });
  const specs: Record<string, LoadSpec> = {};

  /** Loads the fixture once (per limits) and returns its id. */
  async function loaded(name: string, limits: SandboxLimits = FAST): Promise<string> {
    const id = `${name}@${limits.timeoutMs}/${limits.memoryMb}`;
    if (specs[id] === undefined) {
      specs[id] = await bundle(name, limits, id);
      await host.load(specs[id]);
    }
    return id;
  }

  /** After a failure: the same function and another one both still work. */
  async function assertStillWorks(id: string, okData: unknown): Promise<void> {
    const [again] = await host.invoke(id, batch(...data(okData)), 1);
    assert.equal(again?.status, 'ok', `${id} does not work after the failure: ${JSON.stringify(again)}`);
    const other = await loaded('ok');
    const [r] = await host.invoke(other, batch(...data({ n: 1 })), 1);
    assert.equal(r?.status, 'ok');
  }

  async function restartedSince(pid: number): Promise<void> {
    await waitFor(async () => !processExists(pid), `old sandbox process ${pid} to be gone`);
    assert.notEqual((await host.status()).pid, pid);
  }

  before(() => host.start());
  after(() => host.stop());

  test('the sandbox process runs with --no-node-snapshot and this process never loads isolated-vm', async () => {
    const status = await host.status();
    assert.ok(status.execArgv.includes('--no-node-snapshot'), `child execArgv: ${status.execArgv.join(' ')}`);
    assert.notEqual(status.pid, process.pid);
    if (process.platform === 'linux') {
      assert.doesNotMatch(readFileSync('/proc/self/maps', 'utf8'), /isolated[-_]vm/);
    }
  });

  test('runs a batch: per-event emits, logs, attempt, env and functionName', async () => {
    const id = await loaded('ok');
    const results = await host.invoke(id, batch({ data: { n: 1 } }, { data: { n: 2 }, attempt: 3 }), 2);
    assert.equal(results.length, 2);
    assert.deepEqual(emitsOf(results[0]), [{ type: 'order.priced', key: 'k0', data: { n: 1, total: 2, region: 'eu-west' } }]);
    assert.deepEqual(emitsOf(results[1]), [{ type: 'order.priced', key: 'k1', data: { n: 2, total: 4, region: 'eu-west' } }]);
    const r1 = results[1];
    assert.ok(r1?.status === 'ok');
    assert.deepEqual(
      r1.logs.map((l) => [l.level, l.msg]),
      [
        ['info', "order 2 { key: 'k1' }"],
        ['warn', 'attempt 3 of ok'],
      ],
    );
    assert.ok(r1.logs.every((l) => typeof l.time === 'number'));
    assert.equal(typeof r1.durationMs, 'number');
  });

  test('load returns the config of both module forms', async () => {
    assert.deepEqual(await host.load(await bundle('ok', FAST, 'ok-config')), { config: { events: ['order.created'], retry: { attempts: 3 } } });
    const spec = await bundle('define-function', FAST, 'define@1');
    assert.deepEqual(await host.load(spec), { config: { events: ['user.created'], timeoutMs: 1000 } });
    const [r] = await host.invoke(spec.id, batch(...data({ name: 'ada' })), 1);
    assert.deepEqual(emitsOf(r), [{ type: 'user.welcomed', key: null, data: { name: 'ada' } }]);
  });

  test('a handler error fails its event with a stack mapped to the .ts source; the rest is skipped', async () => {
    const id = await loaded('throws');
    const results = await host.invoke(id, batch(...data({ n: 1 }, { n: -1 }, { n: 2 })), 3);
    assert.equal(results[0]?.status, 'ok');
    const err = errorOf(results[1]);
    assert.equal(err.name, 'RangeError');
    assert.equal(err.message, 'negative: -1');
    assert.equal(err.kind, 'handler');
    assert.match(err.stack, /at validate \(.*test\/fixtures\/sandbox\/throws\.ts:8:9\)/);
    assert.match(err.stack, /at handler \(.*test\/fixtures\/sandbox\/throws\.ts:12:3\)/);
    assert.doesNotMatch(err.stack, /fnrun:\/\/\//, 'no bundle or shim frames are left');
    assert.deepEqual(results[2], { status: 'skipped' });
  });

  test('thrown non-Errors become useful messages', async () => {
    const id = await loaded('throws-non-error');
    const expected: Record<string, string> = { string: "'plain string'", object: '{ code: 42 }', null: 'null', undefined: 'undefined' };
    for (const [kind, shown] of Object.entries(expected)) {
      const err = errorOf((await host.invoke(id, batch(...data({ kind })), 1))[0]);
      assert.equal(err.name, 'NonError');
      assert.equal(err.message, `a non-Error value was thrown: ${shown}`);
      assert.equal(err.kind, 'handler');
    }
  });

  test('load fails with ERR_SANDBOX_LOAD when the top level throws or there is no handler', async () => {
    await assert.rejects(host.load(await bundle('top-level-throw')), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.code, 'ERR_SANDBOX_LOAD');
      assert.match(e.message, /broken at load/);
      assert.match(e.message, /top-level-throw\.ts:4:\d+/);
      return true;
    });
    await assert.rejects(host.load(await bundle('no-handler')), { name: 'SandboxError', code: 'ERR_SANDBOX_LOAD', message: /no handler/ });
  });

  for (const mode of ['sync', 'await', 'timer', 'never']) {
    test(`timeoutMs applies per event: an infinite loop (${mode}) fails only its event`, async () => {
      const id = await loaded('infinite-loop');
      const results = await host.invoke(id, batch(...data({ mode: 'ok' }, { mode }, { mode: 'ok' })), 3);
      assert.equal(results[0]?.status, 'ok');
      const err = errorOf(results[1]);
      assert.equal(err.kind, 'timeout');
      assert.equal(err.name, 'TimeoutError');
      assert.match(err.message, /timeoutMs \(300 ms\)/);
      assert.deepEqual(results[2], { status: 'skipped' });
      await assertStillWorks(id, { mode: 'ok' });
    });
  }

  test('a growing heap fails its event with kind memory', async () => {
    const id = await loaded('heap-bomb', PATIENT);
    const results = await host.invoke(id, batch(...data({ mode: 'ok' }, { mode: 'grow' }, { mode: 'ok' })), 3);
    assert.equal(results[0]?.status, 'ok');
    assert.equal(errorOf(results[1]).kind, 'memory');
    assert.deepEqual(results[2], { status: 'skipped' });
    await assertStillWorks(id, { mode: 'ok' });
  });

  for (const mode of ['fill0', 'fill1.5']) {
    test(`a huge single allocation (${mode}) that V8 cannot interrupt: the process is replaced, only its event fails`, async () => {
      const id = await loaded('huge-alloc', PATIENT);
      const pid = (await host.status()).pid;
      const crashesBefore = crashes.length;
      const results = await host.invoke(id, batch(...data({ mode: 'ok' }, { mode }, { mode: 'ok' })), 3);
      assert.deepEqual(emitsOf(results[0]), [{ type: 'survived', key: null, data: { mode: 'ok' } }]);
      const err = errorOf(results[1]);
      assert.ok(err.kind === 'memory' || err.kind === 'crash', `kind ${err.kind}: ${err.message}`);
      assert.deepEqual(results[2], { status: 'skipped' });
      assert.equal(crashes.length, crashesBefore + 1);
      await restartedSince(pid);
      await assertStillWorks(id, { mode: 'ok' });
    });
  }

  test('batches of other functions in flight when the process dies are re-run transparently', async () => {
    const bomb = await loaded('huge-alloc', FAST);
    const slow = await loaded('slow', { timeoutMs: 10_000, memoryMb: 32 });
    const pid = (await host.status()).pid;
    const [bombed, bystander] = await Promise.all([
      host.invoke(bomb, batch(...data({ mode: 'ok' }, { mode: 'fill0' })), 2),
      host.invoke(slow, batch(...data({ ms: 1500 }, { ms: 1 })), 2),
    ]);
    assert.equal(bombed[0]?.status, 'ok');
    assert.ok(['memory', 'crash', 'timeout'].includes(errorOf(bombed[1]).kind));
    assert.deepEqual(bystander.map(emitsOf), [[{ type: 'waited', key: null, data: { ms: 1500 } }], [{ type: 'waited', key: null, data: { ms: 1 } }]]);
    await restartedSince(pid);
  });

  test('a hung sandbox process (no heartbeats) is killed; batches in flight are re-run and succeed', async () => {
    const slow = await loaded('slow', { timeoutMs: 10_000, memoryMb: 32 });
    const ok = await loaded('ok');
    const pid = (await host.status()).pid;
    const crashesBefore = crashes.length;
    const inFlight = Promise.all([host.invoke(slow, batch(...data({ ms: 50 }, { ms: 50 })), 2), host.invoke(ok, batch(...data({ n: 5 })), 1)]);
    process.kill(pid, 'SIGSTOP');
    const [slowResults, okResults] = await inFlight;
    assert.deepEqual(slowResults.map((r) => r.status), ['ok', 'ok']);
    assert.deepEqual(okResults.map((r) => r.status), ['ok']);
    assert.equal(crashes.length, crashesBefore + 1);
    assert.match(crashes.at(-1) ?? '', /heartbeat/);
    await restartedSince(pid);
  });

  test('deep recursion, huge values, bad emits, throwing timers and stray rejections fail only their event', async () => {
    const id = await loaded('misc-failures');
    const outcome = async (mode: string): Promise<InvocationResult | undefined> => (await host.invoke(id, batch(...data({ mode })), 1))[0];
    assert.match(errorOf(await outcome('recurse')).message, /Maximum call stack size exceeded/);
    assert.equal((await outcome('huge-return'))?.status, 'ok', 'return values are not transferred');
    assert.match(errorOf(await outcome('huge-string')).message, /Invalid string length/);
    assert.match(errorOf(await outcome('bad-emit')).message, /ctx\.emit\("cyclic"\): data is not JSON-serialisable/);
    assert.match(errorOf(await outcome('unawaited-bad-emit')).message, /ctx\.emit\("big"\): data is not JSON-serialisable/);
    assert.equal(errorOf(await outcome('timer-throws')).message, 'from a timer');
    const [stray, next] = await host.invoke(id, batch(...data({ mode: 'unhandled-rejection' }, { mode: 'ok' })), 2);
    assert.equal(stray?.status, 'ok');
    assert.equal(next?.status, 'ok');
    await assertStillWorks(id, { mode: 'ok' });
  });

  test('escapes reach nothing of the host', async () => {
    const id = await loaded('escape');
    const found = emitsOf((await host.invoke(id, batch(...data({})), 1))[0])[0]?.data as Record<string, unknown>;
    assert.equal(found.process, 'undefined');
    assert.equal(found.require, 'undefined');
    assert.equal(found.requireInFunction, 'undefined');
    assert.equal(found.module, 'undefined');
    assert.equal(found.Buffer, 'undefined');
    assert.equal(found.fetch, 'undefined');
    assert.equal(found.functionProcess, 'threw ReferenceError');
    assert.equal(found.constructorProcess, 'threw ReferenceError');
    assert.equal(found.thisConstructorProcess, 'threw ReferenceError');
    assert.match(String(found.importFs), /^threw /);
    const globals = found.globals as string[];
    const hostish = /^(ivm|_ivm|isolated.*|Reference|Callback|ExternalCopy|Isolate|Context|process|require|module|exports|Buffer|global|__fnrun.*)$/i;
    assert.deepEqual(globals.filter((g) => hostish.test(g)), []);
  });

  test('Web APIs work inside the isolate', async () => {
    const id = await loaded('web-apis');
    const web = emitsOf((await host.invoke(id, batch(...data({})), 1))[0])[0]?.data as Record<string, unknown>;
    const url = new URL('/a/b?x=1&y=two words#h', 'https://example.com:8443');
    url.searchParams.append('z', 'é&');
    url.pathname = '/c';
    assert.equal(web.href, url.href);
    assert.equal(web.search, url.search);
    assert.equal(web.host, 'example.com:8443');
    assert.equal(web.params, new URLSearchParams({ q: 'a+b c', n: '1' }).toString());
    assert.equal(web.canParse, false);
    assert.deepEqual(web.bytes, [...new TextEncoder().encode('héllo €𝄞')]);
    assert.equal(web.text, 'héllo €𝄞');
    assert.equal(web.invalid, new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xe2, 0x82, 0x62])));
    assert.equal(web.b64, 'aGVsbG8=');
    assert.equal(web.unb64, 'hello');
    assert.match(String(web.uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(web.randomLength, 8);
    assert.equal(web.cloneDate, true);
    assert.equal(web.cloneMap, true);
    assert.equal(web.waited, 'waited');
    assert.equal(web.cleared, 'not fired');
    assert.equal(web.microtask, 'ran');
  });

  test('invoke rejects for an unknown or unloaded function and for a malformed batch', async () => {
    await assert.rejects(host.invoke('nope@1', batch(...data({})), 1), { name: 'SandboxError', code: 'ERR_SANDBOX', message: /not loaded/ });
    const spec = await bundle('ok', FAST, 'to-unload@1');
    await host.load(spec);
    await host.unload(spec.id);
    await assert.rejects(host.invoke(spec.id, batch(...data({ n: 1 })), 1), { name: 'SandboxError', message: /not loaded/ });
    await assert.rejects(host.invoke(await loaded('ok'), batch(...data({ n: 1 })), 2), { name: 'SandboxError', message: /1 events, expected an array of 2/ });
    assert.deepEqual(await host.invoke(await loaded('ok'), '[]', 0), []);
  });
});

test('stop() is idempotent and leaves no sandbox process behind', async () => {
  const host = new SandboxHost();
  await host.start();
  const { pid } = await host.status();
  assert.ok(processExists(pid));
  await Promise.all([host.stop(), host.stop()]);
  await host.stop();
  assert.equal(processExists(pid), false, `sandbox process ${pid} still exists`);
  await assert.rejects(host.invoke('x', '[]', 1), { name: 'SandboxError', message: /stopped/ });
});
