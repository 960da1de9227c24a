import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { defineFunction, NonRetriableError, type Context, type FnEvent, type KeyState } from '../../runtime/sdk.ts';

test('defineFunction returns its argument unchanged', () => {
  const definition = { events: ['post.created'], handler: async () => {} };
  assert.equal(defineFunction(definition), definition);
});

test('the handler is typed by the event data', async () => {
  const emitted: unknown[] = [];
  const fn = defineFunction<{ postId: string }>({
    events: ['post.created'],
    retry: { attempts: 2 },
    async handler(event, ctx) {
      await ctx.emit('thread.updated', event.key, { postId: event.data.postId.toUpperCase() });
    },
  });
  const event: FnEvent<{ postId: string }> = { id: '1-0', partition: 0, type: 'post.created', key: 't1', data: { postId: 'p1' }, time: 0 };
  const noop = () => {};
  const ctx: Context = {
    emit: async (...args) => void emitted.push(args),
    log: { debug: noop, info: noop, warn: noop, error: noop },
    attempt: 1,
    env: {},
    functionName: 'f',
    idempotencyKey: 'fnrun:f:0:1-0',
    state: memoryState(),
  };
  await fn.handler(event, ctx);
  assert.deepEqual(emitted, [['thread.updated', 't1', { postId: 'P1' }]]);
});

test('sdk.ts is sandbox-safe: only type imports', async () => {
  const source = await readFile(new URL('../../runtime/sdk.ts', import.meta.url), 'utf8');
  const imports = source.split('\n').filter((line) => /^\s*(import|export)\b.*\bfrom\b/.test(line));
  for (const line of imports) assert.match(line, /^(import|export) type /, line);
});

/** A ctx.state over a Map, as a user would fake it in a unit test of a handler. */
function memoryState(): KeyState {
  const values = new Map<string, string>();
  return {
    get: async <T>(name: string) => (values.has(name) ? (JSON.parse(values.get(name)!) as T) : undefined),
    set: async (name, value) => void values.set(name, JSON.stringify(value)),
    delete: async (name) => void values.delete(name),
    keys: async () => [...values.keys()].sort(),
  };
}

test('Context types state and idempotencyKey: a counter handler checks against them', async () => {
  const fn = defineFunction<{ postId: string }>({
    events: ['post.created'],
    async handler(_event, ctx) {
      const posts = (await ctx.state.get<number>('posts')) ?? 0;
      await ctx.state.set('posts', posts + 1);
      ctx.log.info(ctx.idempotencyKey);
    },
  });
  const state = memoryState();
  const noop = () => {};
  const ctx: Context = { emit: async () => {}, log: { debug: noop, info: noop, warn: noop, error: noop }, attempt: 1, env: {}, functionName: 'f', idempotencyKey: 'k', state };
  const event: FnEvent<{ postId: string }> = { id: '1-0', partition: 0, type: 'post.created', key: 't1', data: { postId: 'p1' }, time: 0 };
  await fn.handler(event, ctx);
  await fn.handler(event, ctx);
  assert.equal(await state.get('posts'), 2);
  assert.deepEqual(await state.keys(), ['posts']);
});

test('NonRetriableError: an Error named NonRetriableError (subclasses too), with message and cause', () => {
  const cause = new Error('card declined');
  const e = new NonRetriableError('payment refused', { cause });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'NonRetriableError');
  assert.equal(e.message, 'payment refused');
  assert.equal(e.cause, cause);
  assert.match(e.stack ?? '', /^NonRetriableError: payment refused/);
  class Declined extends NonRetriableError {}
  assert.equal(new Declined('x').name, 'NonRetriableError');
  assert.equal(Object.keys(e).length, 0, 'nothing enumerable added');
});
