/**
 * The dispatcher's slots without a sandbox: chains are handed to a runner that keeps them until
 * the test settles them. What it checks: `concurrency` bounds the chains in flight, and those
 * waiting for room are woken in order, one per freed slot, passing it on when they take nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionHandle } from '../../runtime/loading/function-handle.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import type { ChainRequest } from '../../runtime/sandbox/host/host.ts';
import { Dispatcher } from '../../runtime/worker/dispatcher.ts';

function handle(name: string, concurrency: number): FunctionHandle {
  const manifest = { ...parseManifest(`${name}.ts`, { events: ['**'] }), concurrency };
  return { name, version: 'v1', manifest, file: `${name}.ts`, sandboxId: `${name}@v1`, matches: () => true };
}

function setup(concurrency: number) {
  const fn = handle('f', concurrency);
  const running: ChainRequest[] = [];
  const dispatcher = new Dispatcher({ run: (req) => { running.push(req); } });
  const start = () => dispatcher.run(fn, { items: () => '[]', count: 1, state: null, exclusive: false, onResult: () => {}, readState: async () => '{}' });
  /** Ends the oldest chain in flight. */
  const finish = () => running.shift()!.onResult(0, { status: 'ok', emits: [], logs: [], durationMs: 0 });
  return { fn, dispatcher, running, start, finish };
}

test('room: none once concurrency chains are in flight; each freed slot wakes the next asker, in order', () => {
  const { fn, dispatcher, running, start, finish } = setup(2);
  assert.equal(dispatcher.hasRoom(fn), true);
  void start();
  void start();
  assert.equal(dispatcher.hasRoom(fn), false);
  const woken: string[] = [];
  dispatcher.whenRoom(fn, () => { woken.push('a'); void start(); });
  dispatcher.whenRoom(fn, () => { woken.push('b'); void start(); });
  finish();
  assert.deepEqual(woken, ['a'], 'one slot freed, one asker woken, and it took the slot');
  assert.equal(running.length, 2);
  finish();
  assert.deepEqual(woken, ['a', 'b']);
  assert.equal(dispatcher.hasRoom(fn), false);
});

test('room: an asker that takes nothing passes the slot to the next; a taken-back request is not woken', () => {
  const { fn, dispatcher, running, start, finish } = setup(1);
  void start();
  const woken: string[] = [];
  dispatcher.whenRoom(fn, () => { woken.push('idle'); });
  const cancel = dispatcher.whenRoom(fn, () => { woken.push('stopped'); });
  dispatcher.whenRoom(fn, () => { woken.push('busy'); void start(); });
  dispatcher.whenRoom(fn, () => { woken.push('later'); void start(); });
  cancel();
  finish();
  assert.deepEqual(woken, ['idle', 'busy'], 'the idle one passed it on; the one taken back was skipped; the slot is taken again');
  assert.equal(running.length, 1);
  assert.equal(dispatcher.hasRoom(fn), false);
});

test('room: asked while a slot is free, the asker is woken at once (not from inside its own call)', async () => {
  const { fn, dispatcher } = setup(1);
  let woken = false;
  dispatcher.whenRoom(fn, () => { woken = true; });
  assert.equal(woken, false, 'not re-entered');
  await Promise.resolve();
  assert.equal(woken, true);
});

test('a chain handed in without room waits its turn, and takes the freed slot before any asker', () => {
  const { fn, dispatcher, running, start, finish } = setup(1);
  void start();
  void start(); // a later member's chain of a run in flight: it waits in the dispatcher
  let woken = false;
  dispatcher.whenRoom(fn, () => { woken = true; });
  finish();
  assert.equal(running.length, 1, 'the waiting chain started');
  assert.equal(woken, false, 'no room left for the asker');
  finish();
  assert.equal(woken, true);
});
