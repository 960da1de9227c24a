import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DevSession } from '../../runtime/drivers/dev-session.ts';
import { Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('devsession');

const version = (label: string) => `export const config = { events: ['v.*'] };\nexport default (_e: unknown, ctx: { log: { info(m: string): void } }) => ctx.log.info('${label}');\n`;

test('two saves in quick succession: the last one is live (chokidar throttles the second event)', async () => {
  const functions = join(env.dir, 'functions');
  mkdirSync(functions);
  writeFileSync(join(functions, 'fn.ts'), version('v1'));
  const recorder = new Recorder();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace: 'ds', partitions: 1, logger: createJsonLogger('silent'), onInvocation: recorder.record });
  await runtime.start();
  const events: string[] = [];
  const session = new DevSession(runtime, functions, {
    loaded: (fn) => events.push(`loaded ${fn.name}`),
    failed: (name, _file, error) => events.push(`failed ${name}: ${error.message}`),
    removed: (name) => events.push(`removed ${name}`),
  });
  await session.start();
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'ds' });
  try {
    assert.deepEqual(events, ['loaded fn']);
    writeFileSync(join(functions, 'fn.ts'), version('v2'));
    await waitFor(() => events.length >= 2);
    writeFileSync(join(functions, 'fn.ts'), version('v3'));
    await waitFor(async () => {
      const { id } = await publisher.publish('v.check', 'k', {});
      const r = await waitFor(() => recorder.all.find((x) => x.eventId === id));
      return r.logs?.[0]?.msg === 'v3';
    }, { message: 'v3 live' });

    // A new file starts a function; deleting it stops it.
    writeFileSync(join(functions, 'extra.ts'), version('extra'));
    await waitFor(() => events.includes('loaded extra'), { message: 'extra loaded' });
    unlinkSync(join(functions, 'extra.ts'));
    await waitFor(() => events.includes('removed extra'), { message: 'extra removed' });
    assert.deepEqual(runtime.functions.map((f) => f.name), ['fn']);
  } finally {
    await publisher.close();
    await session.stop();
    await runtime.stop();
  }
});
