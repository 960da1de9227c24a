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
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';
import type { InvocationResult, NetworkConfig, SandboxLimits } from '../../runtime/types.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sandbox/', import.meta.url));
const FAST: SandboxLimits = { timeoutMs: 300, memoryMb: 32, instances: 1 };
/** For allocation bombs: a long timeout, so that the memory guards (not the timeout) catch them. */
const PATIENT: SandboxLimits = { timeoutMs: 60_000, memoryMb: 32, instances: 1 };
const SLOW: SandboxLimits = { timeoutMs: 10_000, memoryMb: 32, instances: 1 };

/** Runs one chain (its events one after another) and resolves with every event's result. */
function invoke(host: SandboxHost, fnId: string, items: string, count: number, opts: { state?: string | null; readState?: (key: string) => Promise<string> } = {}): Promise<InvocationResult[]> {
  if (count === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const out: InvocationResult[] = [];
    let n = 0;
    host.run({
      fnId, items, count, state: opts.state ?? null, exclusive: false, timeoutMs: 60_000,
      readState: opts.readState ?? (async () => '{}'),
      onResult: (i, r) => {
        out[i] = r;
        if (++n === count) resolve(out);
      },
    });
  });
}

async function bundle(name: string, limits: SandboxLimits = FAST, id = `${name}@1`, network: NetworkConfig = MANIFEST_DEFAULTS.network): Promise<LoadSpec> {
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
  return { id, name, code: file('.js'), sourceMap: file('.js.map'), filename: `fnrun:///functions/${name}.js`, limits, network, env: { REGION: 'eu-west' } };
}

function batch(...items: { data: unknown; attempt?: number; key?: string }[]): string {
  return JSON.stringify(items.map((it, i) => ({ event: { id: `${i}-0`, partition: 0, type: 'test', key: it.key ?? `k${i}`, data: it.data, time: 1_700_000_000_000 }, attempt: it.attempt ?? 1, idem: `test:${i}` })));
}

/**
 * Runs the events until each one completed or failed, running `skipped` ones again (alone when
 * `suspect`), as the runtime's workers do: what a crash cut short through no fault of its own.
 */
async function settle(host: SandboxHost, fnId: string, items: string, count: number): Promise<InvocationResult[]> {
  const all = JSON.parse(items) as unknown[];
  const out: InvocationResult[] = [];
  let exclusive = false;
  while (out.length < count) {
    const rest = all.slice(out.length, exclusive ? out.length + 1 : count);
    const results = await new Promise<InvocationResult[]>((resolve) => {
      const got: InvocationResult[] = [];
      let n = 0;
      host.run({
        fnId, items: JSON.stringify(rest), count: rest.length, state: null, exclusive, timeoutMs: 60_000, readState: async () => '{}',
        onResult: (i, r) => { got[i] = r; if (++n === rest.length) resolve(got); },
      });
    });
    exclusive = false;
    for (const r of results) {
      if (r.status === 'skipped') {
        exclusive = r.suspect === true;
        break;
      }
      out.push(r);
      if (r.status === 'error') while (out.length < count) out.push({ status: 'skipped' });
    }
  }
  return out;
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
    const [again] = await invoke(host, id, batch(...data(okData)), 1);
    assert.equal(again?.status, 'ok', `${id} does not work after the failure: ${JSON.stringify(again)}`);
    const other = await loaded('ok');
    const [r] = await invoke(host, other, batch(...data({ n: 1 })), 1);
    assert.equal(r?.status, 'ok');
  }

  async function restartedSince(pid: number): Promise<void> {
    await waitFor(async () => !processExists(pid), `old sandbox process ${pid} to be gone`);
    // A status request that meets a child's death is rejected (status is not retried): after a
    // memory bomb the watchdog can restart the process once more, so ask until one answers.
    let now: number | null = null;
    await waitFor(async () => (now = (await host.status().catch(() => null))?.pid ?? null) !== null, 'a sandbox process answering status');
    assert.notEqual(now, pid);
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
    const results = await invoke(host, id, batch({ data: { n: 1 } }, { data: { n: 2 }, attempt: 3 }), 2);
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
    const [r] = await invoke(host, spec.id, batch(...data({ name: 'ada' })), 1);
    assert.deepEqual(emitsOf(r), [{ type: 'user.welcomed', key: null, data: { name: 'ada' } }]);
  });

  test('a handler error fails its event with a stack mapped to the .ts source; the rest is skipped', async () => {
    const id = await loaded('throws');
    const results = await invoke(host, id, batch(...data({ n: 1 }, { n: -1 }, { n: 2 })), 3);
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
      const err = errorOf((await invoke(host, id, batch(...data({ kind })), 1))[0]);
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
      const results = await invoke(host, id, batch(...data({ mode: 'ok' }, { mode }, { mode: 'ok' })), 3);
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
    const results = await invoke(host, id, batch(...data({ mode: 'ok' }, { mode: 'grow' }, { mode: 'ok' })), 3);
    assert.equal(results[0]?.status, 'ok');
    assert.equal(errorOf(results[1]).kind, 'memory');
    assert.deepEqual(results[2], { status: 'skipped' });
    await assertStillWorks(id, { mode: 'ok' });
  });

  for (const mode of ['fill0', 'fill1.5']) {
    test(`a huge single allocation (${mode}) that V8 cannot interrupt fails only its event (the isolate, or the whole process if the thread stays stuck, is replaced)`, async () => {
      const id = await loaded('huge-alloc', PATIENT);
      const results = await settle(host, id, batch(...data({ mode: 'ok' }, { mode }, { mode: 'ok' })), 3);
      assert.deepEqual(emitsOf(results[0]), [{ type: 'survived', key: null, data: { mode: 'ok' } }]);
      const err = errorOf(results[1]);
      assert.ok(err.kind === 'memory' || err.kind === 'crash', `kind ${err.kind}: ${err.message}`);
      assert.deepEqual(results[2], { status: 'skipped' });
      await assertStillWorks(id, { mode: 'ok' });
    });
  }

  test('events of other functions in flight when the process dies come back skipped (uncharged) and succeed when run again', async () => {
    const bomb = await loaded('huge-alloc', FAST);
    const slow = await loaded('slow', SLOW);
    const pid = (await host.status()).pid;
    const [bombed, bystander] = await Promise.all([
      settle(host, bomb, batch(...data({ mode: 'ok' }, { mode: 'fill0' })), 2),
      settle(host, slow, batch(...data({ ms: 1500 }, { ms: 1 })), 2),
    ]);
    assert.equal(bombed[0]?.status, 'ok');
    assert.ok(['memory', 'crash', 'timeout'].includes(errorOf(bombed[1]).kind));
    assert.deepEqual(bystander.map(emitsOf), [[{ type: 'waited', key: null, data: { ms: 1500 } }], [{ type: 'waited', key: null, data: { ms: 1 } }]]);
    await restartedSince(pid);
  });

  test('a hung sandbox process (no heartbeats) is killed; events in flight come back skipped and succeed when run again', async () => {
    const slow = await loaded('slow', SLOW);
    const ok = await loaded('ok');
    const pid = (await host.status()).pid;
    const crashesBefore = crashes.length;
    const inFlight = Promise.all([settle(host, slow, batch(...data({ ms: 50 }, { ms: 50 })), 2), settle(host, ok, batch(...data({ n: 5 })), 1)]);
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
    const outcome = async (mode: string): Promise<InvocationResult | undefined> => (await invoke(host, id, batch(...data({ mode })), 1))[0];
    assert.match(errorOf(await outcome('recurse')).message, /Maximum call stack size exceeded/);
    assert.equal((await outcome('huge-return'))?.status, 'ok', 'return values are not transferred');
    assert.match(errorOf(await outcome('huge-string')).message, /Invalid string length/);
    assert.match(errorOf(await outcome('bad-emit')).message, /ctx\.emit\("cyclic"\): data is not JSON-serialisable/);
    assert.match(errorOf(await outcome('unawaited-bad-emit')).message, /ctx\.emit\("big"\): data is not JSON-serialisable/);
    assert.equal(errorOf(await outcome('timer-throws')).message, 'from a timer');
    const [stray, next] = await invoke(host, id, batch(...data({ mode: 'unhandled-rejection' }, { mode: 'ok' })), 2);
    assert.equal(stray?.status, 'ok');
    assert.equal(next?.status, 'ok');
    await assertStillWorks(id, { mode: 'ok' });
  });

  test('many chains run at once in one isolate, interleaved at their awaits', async () => {
    const id = await loaded('concurrent', SLOW);
    const chains = Array.from({ length: 50 }, (_, k) => invoke(host, id, batch({ data: { mode: 'wait', ms: 30 }, key: `k${k}` }, { data: { mode: 'wait', ms: 30 }, key: `k${k}` }), 2));
    const results = (await Promise.all(chains)).flat();
    assert.ok(results.every((r) => r.status === 'ok'), JSON.stringify(results.find((r) => r.status !== 'ok')));
    const most = Math.max(...results.map((r) => (emitsOf(r)[0]!.data as { maxInFlight: number }).maxInFlight));
    assert.ok(most > 1, `invocations overlapped (at most ${most} at once)`);
  });

  test('a sync infinite loop fails only its own invocation; the others in flight in the same isolate complete', async () => {
    const id = await loaded('concurrent', { timeoutMs: 500, memoryMb: 32, instances: 1 });
    const waiting = Array.from({ length: 10 }, (_, k) => settle(host, id, batch({ data: { mode: 'wait', ms: 50 }, key: `w${k}` }), 1));
    const spinning = invoke(host, id, batch({ data: { mode: 'spin' }, key: 's' }, { data: { mode: 'wait' }, key: 's' }), 2);
    const [spin, ...others] = await Promise.all([spinning, ...waiting]);
    assert.equal(errorOf(spin![0]).kind, 'timeout');
    assert.deepEqual(spin![1], { status: 'skipped' });
    for (const [r] of others) assert.equal(r?.status, 'ok', 'an invocation beside the loop was not charged');
  });

  test('work a handler leaves running after it returns does not blame the next invocation', async () => {
    const id = await loaded('concurrent', { timeoutMs: 300, memoryMb: 32, instances: 1 });
    const [detached] = await invoke(host, id, batch({ data: { mode: 'detached' }, key: 'd' }), 1);
    assert.equal(detached?.status, 'ok');
    const [next] = await settle(host, id, batch({ data: { mode: 'wait' }, key: 'n' }), 1);
    assert.equal(next?.status, 'ok', `the next invocation was blamed: ${JSON.stringify(next)}`);
  });

  test('an invocation whose output exceeds the caps fails at once with a clear error', async () => {
    const id = await loaded('concurrent', SLOW);
    const [flood] = await invoke(host, id, batch({ data: { mode: 'flood' }, key: 'f' }), 1);
    assert.match(errorOf(flood).message, /at most 1000 events|exceed/);
  });

  test('state: the snapshot sent along is read, writes come back, the next event of the chain sees them, a lazy read asks the host', async () => {
    const id = await loaded('concurrent', SLOW);
    const counted = await invoke(host, id, batch({ data: { mode: 'count', n: 2 }, key: 'a' }, { data: { mode: 'count', n: 3 }, key: 'a' }), 2, { state: JSON.stringify({ n: '10' }) });
    assert.deepEqual(counted.map((r) => (r.status === 'ok' ? r.state : r.status)), [{ n: '12' }, { n: '15' }]);
    const asked: string[] = [];
    const [lazy] = await invoke(host, id, batch({ data: { mode: 'count' }, key: 'b' }), 1, { readState: async (key) => { asked.push(key); return JSON.stringify({ n: '41' }); } });
    assert.deepEqual(asked, ['b']);
    assert.deepEqual(lazy?.status === 'ok' && lazy.state, { n: '42' });
  });

  test('a lazy load boots nothing until its first chain, which boots its isolates and runs', async () => {
    const spec = { ...(await bundle('concurrent', { timeoutMs: 9_000, memoryMb: 32, instances: 2 }, 'lazy@1')), lazy: true };
    assert.deepEqual(await host.load(spec), { config: null });
    assert.equal((await host.status()).heapUsedBytes[spec.id], undefined, 'no isolate yet');
    const results = (await Promise.all(Array.from({ length: 8 }, (_, k) => invoke(host, spec.id, batch({ data: { mode: 'cpu', ms: 20 }, key: `c${k}` }), 1)))).flat();
    assert.ok(results.every((r) => r.status === 'ok'), JSON.stringify(results));
    assert.ok((await host.status()).heapUsedBytes[spec.id]! > 0, 'booted on the first chain');
    const later = (await Promise.all(Array.from({ length: 8 }, (_, k) => invoke(host, spec.id, batch({ data: { mode: 'cpu', ms: 20 }, key: `d${k}` }), 1)))).flat();
    assert.equal(new Set(later.map((r) => (emitsOf(r)[0]!.data as { isolateId: string }).isolateId)).size, 2, 'both isolates booted and run events');
  });

  test('a lazy load whose top level throws fails each of its events with the load error', async () => {
    const spec = { ...(await bundle('top-level-throw', FAST, 'lazy-broken@1')), lazy: true };
    await host.load(spec);
    const results = await invoke(host, spec.id, batch(...data({ n: 1 }, { n: 2 })), 2);
    assert.match(errorOf(results[0]).message, /could not be initialised: .*broken at load/);
    assert.deepEqual(results[1], { status: 'skipped' }, 'the rest of the chain runs again, and fails in turn');
    assert.match(errorOf((await invoke(host, spec.id, batch(...data({ n: 2 })), 1))[0]).message, /could not be initialised/);
  });

  test('instances: a CPU-bound function runs on several isolates at once', async () => {
    const id = await loaded('concurrent', { timeoutMs: 9_000, memoryMb: 32, instances: 2 });
    const results = (await Promise.all(Array.from({ length: 8 }, (_, k) => invoke(host, id, batch({ data: { mode: 'cpu', ms: 20 }, key: `c${k}` }), 1)))).flat();
    const isolates = new Set(results.map((r) => (emitsOf(r)[0]!.data as { isolateId: string }).isolateId));
    assert.equal(isolates.size, 2, 'both isolates ran events');
  });

  test('escapes reach nothing of the host', async () => {
    const id = await loaded('escape');
    const found = emitsOf((await invoke(host, id, batch(...data({})), 1))[0])[0]?.data as Record<string, unknown>;
    assert.equal(found.process, 'undefined');
    assert.equal(found.require, 'undefined');
    assert.equal(found.requireInFunction, 'undefined');
    assert.equal(found.module, 'undefined');
    assert.equal(found.Buffer, 'undefined');
    assert.equal(found.fetch, 'function', "the sandbox's own fetch, checked against network.allow (fetch.test.ts)");
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
    const web = emitsOf((await invoke(host, id, batch(...data({})), 1))[0])[0]?.data as Record<string, unknown>;
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

  test('events of an unknown or unloaded function fail with a clear error', async () => {
    assert.match(errorOf((await invoke(host, 'nope@1', batch(...data({})), 1))[0]).message, /not loaded/);
    const spec = await bundle('ok', FAST, 'to-unload@1');
    await host.load(spec);
    await host.unload(spec.id);
    const [first, second] = await invoke(host, spec.id, batch(...data({ n: 1 }, { n: 2 })), 2);
    assert.match(errorOf(first).message, /not loaded/);
    assert.deepEqual(second, { status: 'skipped' });
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
  assert.deepEqual(await invoke(host, 'x', batch(...data({})), 1), [{ status: 'skipped' }], 'nothing runs once stopped');
});
