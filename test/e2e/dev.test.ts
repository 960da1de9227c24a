import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Publisher } from '../../runtime/index.ts';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('e2e');

interface Line { kind?: string; function?: string; version?: string; eventId?: string; partition?: number; status?: string; message?: string; file?: string; ms?: number; reload?: boolean; msg?: string }

const counter = (label: string) => `export const config = { events: ['tick.*'] };
export default async function handler(event: { id: string }, ctx: { log: { info(...a: unknown[]): void } }) {
  ctx.log.info('${label}', event.id);
}
`;

test('fnrun dev: handles events, reloads on save with none lost or doubled, survives a syntax error and a bad manifest, exits 0 on SIGTERM', async () => {
  const functions = join(env.dir, 'dev', 'functions');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(functions, 'counter.ts'), counter('v1'));
  const dev = new CliProcess(['dev', '--dir', functions, '--redis', env.redis.url, '--namespace', 'e2e', '--partitions', '4', '--log', 'json'], { cwd: dirname(functions) });
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('counter'), 'counter loaded');
    const v1 = dev.json<Line>().find((l) => l.kind === 'loaded')!.version!;

    const emitted = await runCli(['emit', 'tick.once', '--key', 'k1', '--data', '{"n":1}', '--redis', env.redis.url, '--namespace', 'e2e', '--json']);
    assert.equal(emitted.code, 0, emitted.stderr);
    const first = JSON.parse(emitted.stdout) as { id: string; partition: number };
    // Stream ids are unique per partition: an event is (partition, id).
    const id = `${first.partition}/${first.id}`;
    const key = (l: Line) => `${l.partition}/${l.eventId}`;
    await waitFor(() => dev.json<Line>().some((l) => l.kind === 'invocation' && key(l) === id && l.status === 'ok'), { message: 'emitted event handled' });

    // Publish continuously while the function is edited: every event is handled exactly once.
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'e2e' });
    const ids: string[] = [id];
    let publishing = true;
    const producer = (async () => {
      for (let i = 0; publishing; i++) {
        ids.push(...(await publisher.publishBatch([{ type: 'tick.flow', key: `k${i % 10}`, data: { i } }])).map((r) => `${r.partition}/${r.id}`));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await waitFor(() => ids.length > 50);
    writeFileSync(join(functions, 'counter.ts'), counter('v2'));
    const reloaded = await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"reload":true'), 'reloaded');
    const v2 = (JSON.parse(reloaded) as Line).version!;
    assert.notEqual(v2, v1);
    await waitFor(() => dev.json<Line>().some((l) => l.kind === 'invocation' && l.version === v2), { message: 'new version ran' });

    // A syntax error: reported with file and line; the old version keeps handling events.
    writeFileSync(join(functions, 'counter.ts'), 'export const config = { events: [\'tick.*\'] };\nexport default async function handler( {\n');
    const error = await dev.waitForLine((l) => l.includes('"kind":"error"'), 'build error reported');
    assert.match((JSON.parse(error) as Line).message!, /counter\.ts:\d+:\d+/);
    const seenAtError = ids.length;
    await waitFor(() => ids.length > seenAtError + 20);
    publishing = false;
    await producer;
    await waitFor(() => {
      const handled = new Set(dev.json<Line>().filter((l) => l.kind === 'invocation' && l.status === 'ok').map(key));
      return ids.every((i) => handled.has(i));
    }, { timeoutMs: 30_000, message: 'every published event handled' });
    const runs = dev.json<Line>().filter((l) => l.kind === 'invocation' && l.function === 'counter');
    assert.equal(runs.length, ids.length, 'each event handled exactly once across reloads');
    assert.ok(runs.slice(-20).every((l) => l.version === v2), 'events after the syntax error ran on the last good version');

    // Fix it.
    writeFileSync(join(functions, 'counter.ts'), counter('v3'));
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"reload":true') && !l.includes(v2), 'fixed version loaded');

    // A new file with a bad manifest: named with the field; counter is unaffected.
    writeFileSync(join(functions, 'bad.ts'), 'export const config = { events: [], retry: { attempts: "3" } };\nexport default () => {};\n');
    const bad = await dev.waitForLine((l) => l.includes('"kind":"error"') && l.includes('bad'), 'bad manifest reported');
    const badLine = JSON.parse(bad) as Line;
    assert.match(badLine.message!, /bad\.ts/);
    assert.match(badLine.message!, /events/);
    assert.match(badLine.message!, /retry\.attempts/);
    await publisher.close();
  } finally {
    assert.equal(await dev.stop('SIGTERM'), 0, `SIGTERM exits 0; stderr: ${dev.stderr}`);
  }
});

test('emit --file publishes 10,000 lines in one run and dev handles them all', async () => {
  const functions = join(env.dir, 'bulk', 'functions');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(functions, 'sink.ts'), "export const config = { events: ['bulk.*'] };\nexport default async () => {};\n");
  const file = join(env.dir, 'bulk', 'events.ndjson');
  writeFileSync(file, Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ type: 'bulk.item', key: `k${i % 100}`, data: { i } })).join('\n') + '\n');
  const dev = new CliProcess(['dev', '--dir', functions, '--redis', env.redis.url, '--namespace', 'bulk', '--log', 'json']);
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"'), 'sink loaded');
    const result = await runCli(['emit', '--file', file, '--redis', env.redis.url, '--namespace', 'bulk']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /published 10000 events/);
    await waitFor(() => dev.json<Line>().filter((l) => l.kind === 'invocation' && l.status === 'ok').length >= 10_000, { timeoutMs: 60_000, message: '10,000 handled' });
  } finally {
    assert.equal(await dev.stop('SIGINT'), 0);
  }
});

test('dlq list, show (mapped stack), replay to the one function, purge', async () => {
  const functions = join(env.dir, 'dlq', 'functions');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(functions, 'fails.ts'), "export const config = { events: ['pay.*'], retry: { attempts: 1 } };\nexport default async function handler() {\n  throw new Error('card declined');\n}\n");
  writeFileSync(join(functions, 'fine.ts'), "export const config = { events: ['pay.*'] };\nexport default async () => {};\n");
  const common = ['--redis', env.redis.url, '--namespace', 'dlq'];
  const dev = new CliProcess(['dev', '--dir', functions, ...common, '--log', 'json']);
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('fine'), 'loaded');
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('fails'), 'loaded');
    const emitted = JSON.parse((await runCli(['emit', 'pay.settled', '--key', 'o1', '--data', '{"amount":5}', ...common, '--json'])).stdout) as { id: string };
    await waitFor(() => dev.json<Line>().some((l) => l.kind === 'invocation' && l.status === 'dead-lettered'), { message: 'dead-lettered' });

    const list = await runCli(['dlq', 'list', 'fails', ...common, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const letters = JSON.parse(list.stdout) as { id: string; eventId: string }[];
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.eventId, emitted.id);

    const show = await runCli(['dlq', 'show', 'fails', letters[0]!.id, ...common]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /card declined/);
    assert.match(show.stdout, /fails\.ts:3:\d+/);

    const replay = await runCli(['dlq', 'replay', 'fails', letters[0]!.id, ...common, '--json']);
    assert.equal(replay.code, 0, replay.stderr);
    const { eventId } = JSON.parse(replay.stdout) as { eventId: string };
    await waitFor(() => dev.json<Line>().some((l) => l.kind === 'invocation' && l.eventId === eventId && l.status === 'dead-lettered'), { message: 'replayed event ran' });
    assert.ok(!dev.json<Line>().some((l) => l.kind === 'invocation' && l.eventId === eventId && l.function === 'fine'), 'fine did not see the replay');

    const purge = await runCli(['dlq', 'purge', 'fails', '--yes', ...common]);
    assert.match(purge.stdout, /purged 1/);
    const empty = await runCli(['dlq', 'list', 'fails', ...common, '--json']);
    assert.deepEqual(JSON.parse(empty.stdout), []);
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});

test('README quick start: the example functions on the embedded Redis, and the emit line without --redis', async () => {
  const project = join(env.dir, 'quickstart');
  cpSync(fileURLToPath(new URL('../../functions', import.meta.url)), join(project, 'functions'), { recursive: true });
  const dev = new CliProcess(['dev', '--redis', 'embedded'], { cwd: project });
  try {
    const started = await dev.waitForLine((l) => l.includes('embedded'), 'embedded redis started');
    assert.match(started, /\.fnrun\/redis/);
    await dev.waitForLine((l) => l.includes('loaded notify-subscribers'), 'examples loaded');
    const emitted = await runCli(['emit', 'post.created', '--key', 'thread-42', '--data', '{"postId":"p1","author":"ada"}'], { cwd: project });
    assert.equal(emitted.code, 0, emitted.stderr);
    await dev.waitForLine((l) => /count-posts\s+post\.created\s+key=thread-42 .* ok/.test(l), 'count-posts handled it');
    await dev.waitForLine((l) => l.includes('ada posted in thread-42'), 'notify-subscribers got the emitted thread.updated');
    assert.ok(existsSync(join(project, '.fnrun', 'redis')));
  } finally {
    assert.equal(await dev.stop('SIGINT'), 0);
  }
});

test('without redis-server on PATH, dev says how to install it or pass --redis', async () => {
  mkdirSync(join(env.dir, 'no-redis', 'functions'), { recursive: true });
  const result = await runCli(['dev', '--redis', 'embedded', '--dir', join(env.dir, 'no-redis', 'functions')], { env: { ...process.env, PATH: dirname(process.execPath) } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /redis-server was not found on PATH/);
  assert.match(result.stderr, /--redis/);
});

test('unknown flags and commands are errors; --help works', async () => {
  const unknown = await runCli(['emit', 'a.b', '--nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /--nope/);
  assert.equal((await runCli(['frobnicate'])).code, 1);
  for (const cmd of ['dev', 'emit', 'dlq', 'init']) {
    const help = await runCli([cmd, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: fnrun/);
  }
});
