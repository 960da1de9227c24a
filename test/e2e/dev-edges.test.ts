/**
 * `fnrun dev` at its edges: the embedded Redis by default, one message per error or removal, an
 * empty or missing folder, `--json`, a second session on the namespace, colours, and producer- or
 * handler-chosen control characters, which never reach the terminal raw.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLI, CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('dev-edges', { topology: 'single' });
const cleanups: (() => void)[] = [];
after(() => { for (const c of cleanups.reverse()) c(); });

/** The environment without anything that picks a Redis or colours for the CLI. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { FNRUN_REDIS_URL: _r, NO_COLOR: _n, FORCE_COLOR: _f, ...rest } = process.env;
  return { ...rest, ...extra };
}

function project(name: string, files: Record<string, string>): string {
  const dir = join(env.dir, name);
  mkdirSync(join(dir, 'functions'), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, 'functions', file), text);
  return dir;
}

const OK = "export const config = { events: ['t.*'] };\nexport default async () => {};\n";
// Every control a terminal acts on, but line feeds (the output's own lines).
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

interface Line { kind?: string; function?: string; status?: string; message?: string; redis?: string; embedded?: boolean; namespace?: string }

test('with no Redis given, dev runs its own embedded Redis, says so, and emit in the folder finds it', async () => {
  const dir = project('embedded', { 'ping.ts': OK });
  const dev = new CliProcess(['dev'], { cwd: dir, env: cleanEnv() });
  try {
    const banner = await dev.waitForLine((l) => l.startsWith('fnrun dev'), 'banner');
    assert.match(banner, /Redis unix:\/\/\S+ \(embedded, data in \.fnrun\/redis\)/);
    assert.match(banner, /namespace fnrun/);
    await dev.waitForLine((l) => l.includes('loaded ping'), 'ping loaded');
    const emitted = await runCli(['emit', 't.x', '--key', 'k'], { cwd: dir, env: cleanEnv() });
    assert.equal(emitted.code, 0, emitted.stderr);
    assert.equal(emitted.stderr, '', 'the embedded Redis is found, and the namespace has a function');
    await dev.waitForLine((l) => /ping\s+t\.x\s+key=k .* ok/.test(l), 'handled on the embedded Redis');
  } finally {
    assert.equal(await dev.stop(), 0);
  }
  // A shared Redis only when named, and the banner says which.
  const shared = new CliProcess(['dev', '--log', 'json', '--namespace', 'named'], { cwd: dir, env: cleanEnv({ FNRUN_REDIS_URL: env.redis.url }) });
  try {
    const started = JSON.parse(await shared.waitForLine((l) => l.includes('"kind":"started"'), 'started')) as Line;
    assert.deepEqual([started.redis, started.embedded, started.namespace], [env.redis.url, false, 'named']);
    // (SIGTERM before the functions are loaded is not handled yet: wait for them.)
    await shared.waitForLine((l) => l.includes('"kind":"loaded"'), 'loaded');
  } finally {
    assert.equal(await shared.stop(), 0);
  }
});

test('one message per failed reload and per removal; a fix back to the running code says so', async () => {
  const dir = project('once', { 'counter.ts': OK });
  const common = ['--redis', env.redis.url, '--namespace', 'once'];
  const dev = new CliProcess(['dev', '--log', 'json', ...common], { cwd: dir });
  const count = (kind: string) => dev.json<Line>().filter((l) => l.kind === kind).length;
  // A later event that went through the whole loop: the dev loop had time to look twice.
  const roundTrip = async (key: string) => {
    assert.equal((await runCli(['emit', 't.after', '--key', key, ...common])).code, 0);
    await waitFor(() => dev.lines.some((l) => l.includes(`"key":"${key}"`) && l.includes('"status":"ok"')), { timeoutMs: 30_000, message: `event ${key} handled` });
  };
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"'), 'loaded');
    writeFileSync(join(dir, 'functions', 'counter.ts'), "export const config = { events: ['t.*'] };\nexport default async () => {\n");
    await dev.waitForLine((l) => l.includes('"kind":"error"'), 'build error');
    await roundTrip('after-error');
    assert.equal(count('error'), 1, 'the build error is printed once');

    writeFileSync(join(dir, 'functions', 'counter.ts'), OK);
    const fixed = JSON.parse(await dev.waitForLine((l) => l.includes('"unchanged":true'), 'fixed')) as Line & { reload: boolean };
    assert.equal(fixed.function, 'counter');

    writeFileSync(join(dir, 'functions', 'other.ts'), OK);
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"function":"other"'), 'other loaded');
    rmSync(join(dir, 'functions', 'other.ts'));
    await dev.waitForLine((l) => l.includes('"kind":"removed"'), 'removed');
    await roundTrip('after-removal');
    assert.equal(count('removed'), 1, 'the removal is printed once');
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});

test('an empty functions folder says what to add; a missing one is an error naming fnrun init and --dir', async () => {
  const dir = project('empty', {});
  const dev = new CliProcess(['dev', '--redis', env.redis.url, '--namespace', 'empty'], { cwd: dir });
  try {
    const hint = await dev.waitForLine((l) => l.startsWith('no functions in'), 'empty-folder hint');
    assert.match(hint, /no functions in functions: add one \(a file such as functions\/hello\.ts .*fnrun init writes an example\), or point --dir/);
    writeFileSync(join(dir, 'functions', 'late.ts'), OK);
    await dev.waitForLine((l) => l.includes('loaded late'), 'a function added later loads');
  } finally {
    assert.equal(await dev.stop(), 0);
  }
  const missing = await runCli(['dev', '--redis', env.redis.url, '--dir', join(env.dir, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^fnrun: no functions folder at .*nowhere: create one with fnrun init .*or point --dir at your functions\n$/);
  assert.match((await runCli(['deploy', '--redis', env.redis.url, '--dir', join(env.dir, 'nowhere')])).stderr, /no functions folder/);
});

test('dev --json prints JSON lines; --json with --log pretty is refused', async () => {
  const dir = project('json', { 'ping.ts': OK });
  const dev = new CliProcess(['dev', '--json', '--redis', env.redis.url, '--namespace', 'json'], { cwd: dir });
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"'), 'a JSON loaded line');
  } finally {
    assert.equal(await dev.stop(), 0);
  }
  const both = await runCli(['dev', '--json', '--log', 'pretty', '--redis', env.redis.url], { cwd: dir });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--json means --log json/);
});

test('a second fnrun dev on the same namespace warns, and so does the first', async () => {
  const dir = project('twice', { 'ping.ts': OK });
  const common = ['--redis', env.redis.url, '--namespace', 'twice'];
  const first = new CliProcess(['dev', ...common], { cwd: dir });
  let second: CliProcess | null = null;
  try {
    await first.waitForLine((l) => l.includes('loaded ping'), 'first loaded');
    assert.ok(!first.lines.some((l) => l.startsWith('warning:')), 'alone: no warning');
    second = new CliProcess(['dev', ...common], { cwd: dir });
    const warning = await second.waitForLine((l) => l.startsWith('warning: another fnrun dev'), 'the second one warns');
    assert.match(warning, new RegExp(`\\(\\S+:${first.child.pid}\\) runs on namespace "twice"`));
    assert.match(warning, /each event reaches only one of them/);
    assert.match(warning, /--namespace/);
    await first.waitForLine((l) => l.startsWith('warning: another fnrun dev') && l.includes(`:${second!.child.pid})`), 'the first one warns at its next heartbeat');
  } finally {
    assert.equal(await second?.stop(), 0);
    assert.equal(await first.stop(), 0);
  }
  // Another namespace: no warning.
  const other = new CliProcess(['dev', '--redis', env.redis.url, '--namespace', 'twice-other'], { cwd: dir });
  try {
    await other.waitForLine((l) => l.includes('loaded ping'), 'loaded');
    assert.ok(!other.lines.some((l) => l.startsWith('warning:')));
  } finally {
    assert.equal(await other.stop(), 0);
  }
});

test('colours: on with a terminal (or FORCE_COLOR), off with --no-color or NO_COLOR', async () => {
  const dir = project('colour', { 'ping.ts': OK });
  const run = async (args: string[], extra: NodeJS.ProcessEnv, key: string) => {
    const dev = new CliProcess(['dev', '--redis', env.redis.url, '--namespace', 'colour', ...args], { cwd: dir, env: cleanEnv(extra) });
    try {
      await dev.waitForLine((l) => l.includes('loaded ping'), 'loaded');
      assert.equal((await runCli(['emit', 't.c', '--key', key, '--redis', env.redis.url, '--namespace', 'colour'])).code, 0);
      return await dev.waitForLine((l) => l.includes(`key=${key}`), 'invocation line');
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  };
  assert.match(await run([], { FORCE_COLOR: '1' }, 'forced'), /\x1b\[32mok\x1b\[0m/);
  assert.doesNotMatch(await run([], {}, 'piped'), /\x1b/, 'not a terminal: no colours');
  assert.doesNotMatch(await run(['--no-color'], { FORCE_COLOR: '1' }, 'flag'), /\x1b/);
  assert.doesNotMatch(await run([], { FORCE_COLOR: '1', NO_COLOR: '1' }, 'env'), /\x1b/);

  // A real terminal: script(1) gives the CLI a pseudo-terminal.
  let output = '';
  const tty = spawn('script', ['-qfec', `${process.execPath} ${CLI} dev --redis ${env.redis.url} --namespace colour`, '/dev/null'], { cwd: dir, env: cleanEnv({ TERM: 'xterm' }), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  cleanups.push(() => { try { process.kill(-tty.pid!, 'SIGKILL'); } catch { /* gone */ } });
  tty.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  await waitFor(() => output.includes('loaded ping'), { timeoutMs: 30_000, message: `dev on a terminal loaded ping; got: ${output}` });
  assert.equal((await runCli(['emit', 't.c', '--key', 'tty', '--redis', env.redis.url, '--namespace', 'colour'])).code, 0);
  await waitFor(() => /key=tty .*\x1b\[32mok\x1b\[0m/.test(output), { timeoutMs: 30_000, message: `a coloured ok on the terminal; got: ${JSON.stringify(output.slice(-400))}` });
  process.kill(-tty.pid!, 'SIGTERM');
});

test('control characters from handlers and producers are escaped in dev, dlq and status output', async () => {
  const evil = `export const config = { events: ['evil.*'], retry: { attempts: 3, initialDelayMs: 600000, maxDelayMs: 600000 } };
export default async function handler(event: { key: string }, ctx: { log: { info(...a: unknown[]): void }; attempt: number }) {
  ctx.log.info('title \\x1b]0;pwned\\x07 clipboard \\x1b]52;c;aGVsbG8=\\x07 clear \\x1b[2J\\rforged c1 \\u009b31m');
  if (event.key.startsWith('fail')) throw new Error('bad \\x1b[31mred\\x1b[0m \\u009d0;title\\u009c');
}
`;
  const dir = project('escape', { 'evil.ts': evil });
  const common = ['--redis', env.redis.url, '--namespace', 'escape'];
  const dev = new CliProcess(['dev', ...common], { cwd: dir });
  try {
    await dev.waitForLine((l) => l.includes('loaded evil'), 'loaded');
    const crafted = 'fail\x1b]52;c;cHduZWQ=\x07\r';
    assert.equal((await runCli(['emit', 'evil.one', '--key', crafted, '--data', JSON.stringify({ note: 'x\x1b[2J\u009b' }), ...common])).code, 0);
    await dev.waitForLine((l) => l.includes('retry 1'), 'failed once, retry far away');
    const text = dev.lines.join('\n');
    assert.doesNotMatch(text, RAW_CONTROL, 'dev printed no raw control character');
    assert.match(text, /title \\x1b\]0;pwned\\x07 clipboard \\x1b\]52;c;aGVsbG8=\\x07 clear \\x1b\[2J\\rforged c1 \\u009b31m/);
    assert.match(text, /key=fail\\x1b\]52;c;cHduZWQ=\\x07\\r/);
    assert.match(text, /Error: bad \\x1b\[31mred\\x1b\[0m \\u009d0;title\\u009c/);

    // status lists the stuck event with its key; the JSON form keeps the value, escaped.
    const status = await runCli(['status', ...common]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /fail\\x1b\]52;c;cHduZWQ=\\x07\\r/);
    assert.doesNotMatch(status.stdout, RAW_CONTROL);
    const statusJson = await runCli(['status', ...common, '--json']);
    assert.doesNotMatch(statusJson.stdout, RAW_CONTROL);
    assert.ok(JSON.stringify(JSON.parse(statusJson.stdout)).includes(JSON.stringify(crafted).slice(1, -1)));

    // Dead letters: one that fails its only attempt.
    writeFileSync(join(dir, 'functions', 'evil.ts'), evil.replace('attempts: 3', 'attempts: 1'));
    await dev.waitForLine((l) => l.includes('reloaded evil'), 'reloaded');
    assert.equal((await runCli(['emit', 'evil.two', '--key', `${crafted}2`, ...common])).code, 0);
    await dev.waitForLine((l) => l.includes('dead-lettered'), 'dead-lettered');
    const list = await runCli(['dlq', 'list', 'evil', ...common]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, RAW_CONTROL);
    assert.match(list.stdout, /key=fail\\x1b\]52;c;cHduZWQ=\\x07\\r2/);
    const id = list.stdout.split(' ')[0]!;
    const show = await runCli(['dlq', 'show', 'evil', id, ...common]);
    assert.equal(show.code, 0, show.stderr);
    assert.doesNotMatch(show.stdout, RAW_CONTROL);
    assert.match(show.stdout, /error: {7}Error: bad \\x1b\[31mred/);
    assert.doesNotMatch(dev.lines.join('\n'), RAW_CONTROL);
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});
