import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { defineFunction, type Context, type FnEvent } from '../../runtime/sdk.ts';

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
  };
  await fn.handler(event, ctx);
  assert.deepEqual(emitted, [['thread.updated', 't1', { postId: 'P1' }]]);
});

test('sdk.ts is sandbox-safe: only type imports', async () => {
  const source = await readFile(new URL('../../runtime/sdk.ts', import.meta.url), 'utf8');
  const imports = source.split('\n').filter((line) => /^\s*(import|export)\b.*\bfrom\b/.test(line));
  for (const line of imports) assert.match(line, /^(import|export) type /, line);
});
