/**
 * Every user or environment error of the CLI is one line that says the cause and what to do, with
 * exit 1 — never "internal error" — against a real redis-server (or an address where nothing, or
 * something silent, listens).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('cli-errors', { topology: 'single' });
const cleanups: (() => void)[] = [];
after(() => { for (const c of cleanups.reverse()) c(); });

/** One line on stderr, exit 1, not a bug report; returns the line. */
function userError(result: CliResult, ...patterns: RegExp[]): string {
  assert.equal(result.code, 1, `exit 1 expected; stdout: ${result.stdout}; stderr: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /internal error/);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  for (const p of patterns) assert.match(lines[0]!, p);
  return lines[0]!;
}

/** A TCP port with nothing listening on it (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** A redis-server on a TCP port that requires a password; stopped (its process group) after the file. */
async function passwordRedis(password: string): Promise<number> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no'], { stdio: 'ignore', detached: true });
  cleanups.push(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } });
  await waitFor(() => accepts(port), { timeoutMs: 10_000, message: 'redis-server with a password started' });
  return port;
}

test('an unreachable Redis: the address, the cause and a hint, at once', async () => {
  const port = await freePort();
  userError(await runCli(['status', '--redis', `redis://127.0.0.1:${port}`]), new RegExp(`127\\.0\\.0\\.1:${port}`), /refused/, /is Redis running there\?/);
  userError(await runCli(['emit', 'a.b', '--redis', 'redis://no-such-host.invalid:6379']), /no-such-host\.invalid/, /does not resolve \(DNS/, /check the host name/);
  userError(await runCli(['dlq', 'list', '--redis', `unix://${join(env.dir, 'nothing.sock')}`]), /nothing\.sock/, /no unix socket/);
  // fnrun start fails the same way instead of retrying forever.
  userError(await runCli(['start', '--redis', `redis://127.0.0.1:${port}`]), /refused/);
});

test('a Redis that wants a password: says so, and how to give one; the password is never printed', async () => {
  const port = await passwordRedis('s3cret');
  userError(await runCli(['status', '--redis', `redis://127.0.0.1:${port}`]), /requires a password \(NOAUTH\)/, /redis:\/\/:PASSWORD@host:port/);
  const wrong = userError(await runCli(['status', '--redis', `redis://:nope-nope@127.0.0.1:${port}`]), /password was refused/);
  assert.doesNotMatch(wrong, /nope-nope/);
  assert.match(wrong, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
});

test('a server that never answers: a timeout, not a hang', async () => {
  const silent: Server = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => silent.close());
  const { port } = silent.address() as { port: number };
  userError(await runCli(['functions', '--redis', `redis://127.0.0.1:${port}`]), /no answer within 6 s/, /rediss:\/\//);
});

test('redis:// without a host is an error, not 127.0.0.1', async () => {
  userError(await runCli(['status', '--redis', 'redis://']), /names no host/, /redis:\/\/127\.0\.0\.1:6379/);
  userError(await runCli(['emit', 'a.b', '--redis', 'redis://:6380']), /names no host/);
});

test('a partition count that does not match names the CLI flag', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'mismatch'];
  assert.equal((await runCli(['emit', 'a.b', ...common, '--partitions', '16'])).code, 0);
  userError(await runCli(['emit', 'a.b', ...common, '--partitions', '8']), /has 16 partitions/, /--partitions 8 was given/, /pass --partitions 16/);
  userError(await runCli(['status', ...common, '--partitions', '4']), /pass --partitions 16/);
});

test('fnrun start with a lease TTL too short, and other bad flags, are user errors', async () => {
  userError(await runCli(['start', '--lease-ttl', '100', '--redis', env.redis.url, '--namespace', 'ttl']), /--lease-ttl must be at least 500/);
  userError(await runCli(['start', '--batch-size', '0', '--redis', env.redis.url]), /--batch-size must be a positive integer/);
  userError(await runCli(['dlq', 'list', '--limit', 'many', '--redis', env.redis.url, '--namespace', 'mismatch']), /--limit must be a positive integer/);
});

test('bad paths given to emit --file and init are user errors', async () => {
  userError(await runCli(['emit', '--file', join(env.dir, 'missing.ndjson'), '--redis', env.redis.url, '--namespace', 'files']), /cannot read .*missing\.ndjson: no such file/);
  userError(await runCli(['emit', '--file', env.dir, '--redis', env.redis.url, '--namespace', 'files']), /cannot read .*: it is a folder/);
  const file = join(env.dir, 'a-file');
  writeFileSync(file, 'not a folder');
  userError(await runCli(['init', join(file, 'project')]), /a-file/, /not a folder/);
});

test('dlq: an unknown id is "not found", an unknown function says so, and purge needs --yes', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'dlq-edges'];
  // A namespace where one function ran (its consumer group exists) and left no dead letter.
  const client = env.redis.client();
  assert.equal((await runCli(['emit', 'a.b', ...common, '--partitions', '2'])).code, 0);
  await client.xgroup('CREATE', 'dlq-edges:{p0}:events', 'fn:billing', '$', 'MKSTREAM');
  userError(await runCli(['dlq', 'show', 'billing', '1:1700000000000-0', ...common]), /dead letter 1:1700000000000-0 of function "billing" not found/);
  userError(await runCli(['dlq', 'show', 'billing', '7:1700000000000-0', ...common]), /not found: this namespace has partitions 0 to 1/);
  userError(await runCli(['dlq', 'show', 'billing', '0:99999999999999999999-0', ...common]), /not found/);
  userError(await runCli(['dlq', 'show', 'billing', 'nonsense', ...common]), /invalid dead-letter id/);
  userError(await runCli(['dlq', 'show', 'biling', '1:1700000000000-0', ...common]), /no function "biling"/, /did you mean "billing"\?/);
  userError(await runCli(['dlq', 'list', 'biling', ...common]), /no function "biling" is deployed or seen/, /known: billing/);
  const none = await runCli(['dlq', 'list', 'billing', ...common]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /no dead letters for billing/);
  userError(await runCli(['dlq', 'purge', 'billing', ...common]), /run it again with --yes/, /nothing was deleted/);
  assert.equal((await runCli(['dlq', 'purge', 'billing', '--yes', ...common])).code, 0);
});

test('replay of a function nobody knows refuses, names the known ones and appends nothing', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'replay-edges'];
  for (let i = 0; i < 5; i++) assert.equal((await runCli(['emit', 'order.placed', '--key', `k${i}`, ...common, '--partitions', '1'])).code, 0);
  const client = env.redis.client();
  await client.xgroup('CREATE', 'replay-edges:{p0}:events', 'fn:invoice', '0', 'MKSTREAM');
  const before = await client.xlen('replay-edges:{p0}:events');
  userError(await runCli(['replay', 'invoce', '--from', '1h', ...common]), /no function "invoce"/, /did you mean "invoice"\?/, /known: invoice/);
  assert.equal(await client.xlen('replay-edges:{p0}:events'), before, 'nothing was appended');
  const replayed = await runCli(['replay', 'invoice', '--from', '1h', ...common]);
  assert.equal(replayed.code, 0, replayed.stderr);
  assert.match(replayed.stdout, /replaying 5 events to invoice/);
});

test('emit to a namespace nobody runs warns (on stderr) and still publishes', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'brand-new'];
  const first = await runCli(['emit', 'a.b', ...common]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^published \d+-\d+ \(partition \d+\)/);
  assert.match(first.stderr, /warning: namespace "brand-new" of the Redis at unix:\/\/.* was new/);
  assert.match(first.stderr, /check --namespace and --redis/);
  assert.match((await runCli(['emit', 'a.b', ...common])).stderr, /warning: no function is deployed in namespace "brand-new"/, 'still nobody there');
  // Once a function's consumer group exists (a runtime ran it), emits are quiet.
  const client = env.redis.client();
  for (let p = 0; p < 16; p++) await client.xgroup('CREATE', `brand-new:{p${p}}:events`, 'fn:listener', '$', 'MKSTREAM');
  const quiet = await runCli(['emit', 'a.b', ...common]);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, '');
});

test('--help of emit, replay and dlq lists each of their own flags', async () => {
  const own: Record<string, string[]> = {
    emit: ['--key', '--data', '--dedupe-id', '--file'],
    replay: ['--from', '--to'],
    dlq: ['--limit', '--all', '--yes'],
    start: ['--lease-ttl', '--batch-size', '--http-port'],
    dev: ['--dir', '--log', '--http-port'],
  };
  for (const [command, flags] of Object.entries(own)) {
    const help = await runCli([command, '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of [...flags, '--redis', '--namespace', '--no-color']) {
      assert.match(help.stdout, new RegExp(`^\\s+${flag}\\b`, 'm'), `fnrun ${command} --help describes ${flag}`);
    }
  }
});

test('init into a folder under a missing parent creates it', async () => {
  const dir = join(env.dir, 'deep', 'er', 'project');
  mkdirSync(join(env.dir, 'deep'), { recursive: true });
  const result = await runCli(['init', dir]);
  assert.equal(result.code, 0, result.stderr);
});
