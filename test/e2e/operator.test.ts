/**
 * The operator's path: what deploy, rollback and start say, partition moves and Redis outages in
 * the logs, and /metrics — complete from the start, and answering while Redis is down.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('operator', { topology: 'single', appendonly: true });

const FN = (label: string) => `export const config = { events: ['op.*'] };\nexport default async () => { void '${label}'; };\n`;

interface LogLine { level: number; msg: string; partitions?: number[]; reason?: string; httpPort?: number; downMs?: number }

function logs(proc: CliProcess): LogLine[] {
  return proc.json<LogLine>().filter((l) => typeof l.msg === 'string');
}

function functionsDir(name: string, files: Record<string, string>): string {
  const dir = join(env.dir, name, 'functions');
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('deploy names the Redis and namespace; identical code from another checkout is unchanged; rollback to a later version rolls forward', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'ops-deploy'];
  const first = functionsDir('checkout-a', { 'billing.ts': FN('v1') });
  const deployed = await runCli(['deploy', '--dir', first, ...common]);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stdout, new RegExp(`deployed to namespace "ops-deploy" of the Redis at ${env.redis.url.replace(/[/.]/g, '\\$&')}`));

  // The same code in a CI checkout elsewhere: another path, another folder name, a tsconfig.json above.
  const second = join(env.dir, 'ci', 'build-17', 'src', 'handlers');
  cpSync(first, second, { recursive: true });
  writeFileSync(join(env.dir, 'ci', 'tsconfig.json'), '{"compilerOptions":{"alwaysStrict":true,"useDefineForClassFields":false}}');
  const again = await runCli(['deploy', '--dir', second, ...common, '--json'], { cwd: join(env.dir, 'ci') });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual((JSON.parse(again.stdout) as { function: string; status: string }[]).map((r) => [r.function, r.status]), [['billing', 'unchanged']]);

  writeFileSync(join(second, 'billing.ts'), FN('v2'));
  assert.equal((await runCli(['deploy', '--dir', second, ...common])).code, 0);
  assert.match((await runCli(['rollback', 'billing', ...common])).stdout, /billing: rolled back from version 2 to 1/);
  assert.match((await runCli(['rollback', 'billing', '2', ...common])).stdout, /billing: rolled forward from version 1 to 2/);
});

test('fnrun start with nothing deployed says so and how to deploy', async () => {
  const start = new CliProcess(['start', '--redis', env.redis.url, '--namespace', 'ops-empty']);
  try {
    const line = await start.waitForLine((l) => l.includes('no functions are deployed'), 'the warning');
    const warning = JSON.parse(line) as LogLine;
    assert.equal(warning.level, 40);
    assert.match(warning.msg, /namespace "ops-empty" of the Redis at unix:\/\//);
    assert.match(warning.msg, /fnrun deploy --redis <the same URL> --namespace ops-empty/);
  } finally {
    assert.equal(await start.stop(), 0);
  }
});

test('fnrun start logs partition moves and Redis outages; /metrics is complete from the start and answers while Redis is down', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'ops', '--partitions', '8'];
  const dir = functionsDir('ops', { 'ledger.ts': FN('ledger') });
  assert.equal((await runCli(['deploy', '--dir', dir, ...common])).code, 0);
  const a = new CliProcess(['start', ...common, '--lease-ttl', '2000', '--http-port', '0']);
  let b: CliProcess | null = null;
  try {
    const ready = JSON.parse(await a.waitForLine((l) => l.includes('fnrun start: ready'), 'a ready')) as LogLine;
    const metrics = async () => {
      const response = await fetch(`http://127.0.0.1:${ready.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200);
      return response.text();
    };
    await waitFor(() => logs(a).some((l) => l.msg.startsWith('partitions gained: 0, 1, 2, 3, 4, 5, 6, 7 (joined')), { message: 'a gained every partition on joining' });

    // Every series of a deployed function exists before its first event; process and build info too.
    const text = await metrics();
    for (const series of [
      'fnrun_invocations_total{function="ledger",status="ok"} 0',
      'fnrun_invocations_total{function="ledger",status="dead-lettered"} 0',
      'fnrun_invocation_errors_total{function="ledger",kind="timeout"} 0',
      'fnrun_dead_letters_total{function="ledger",reason="malformed"} 0',
      'fnrun_invocation_duration_seconds_bucket{le="300",function="ledger"} 0',
      'fnrun_invocation_duration_seconds_count{function="ledger"} 0',
      'fnrun_owned_partitions 8',
      'fnrun_read_ahead_bytes 0',
      'fnrun_redis_up 1',
    ]) assert.ok(text.includes(`${series}\n`), `${series} in /metrics`);
    assert.match(text, /^fnrun_read_ahead_limit_bytes [1-9]\d*$/m, 'the bound the process reads ahead to (maxBufferedBytesPerProcess)');
    assert.match(text, /^fnrun_build_info\{version="\d+\.\d+\.\d+",nodejs="\d+\.\d+\.\d+"\} 1$/m);
    assert.match(text, /^process_cpu_seconds_total \d/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
    if (hasPromtool()) {
      const lint = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(lint.trim(), '', `promtool check metrics: ${lint}`);
    } else {
      process.stderr.write('promtool not installed: skipping the naming lint of /metrics\n');
    }

    // A second process: a takes note of what it hands over and why, b of what it gains.
    b = new CliProcess(['start', ...common, '--lease-ttl', '2000']);
    await b.waitForLine((l) => l.includes('partitions gained'), 'b gained partitions');
    const handed = await waitFor(() => logs(a).find((l) => l.msg.startsWith('handing partitions over')), { message: 'a hands partitions over' });
    assert.equal(handed.partitions!.length, 4);
    assert.match(handed.reason!, /assigned to another process \(\S+ joined; 2 live now\)/);
    assert.equal(await b.stop(), 0);
    b = null;
    const back = await waitFor(() => logs(a).find((l) => l.msg.startsWith('partitions gained') && /left or stopped heartbeating/.test(l.reason ?? '')), { timeoutMs: 30_000, message: 'a takes them back when b leaves' });
    assert.equal(back.partitions!.length, 4);

    // Redis goes away: one line for the loss, one for the partitions let go; /metrics still answers.
    await env.redis.kill();
    await waitFor(() => logs(a).some((l) => l.msg.startsWith('Redis connection lost')), { message: 'the loss is logged' });
    const down = await metrics();
    assert.ok(down.includes('fnrun_redis_up 0\n'), 'the gauge says Redis is unreachable');
    assert.ok(down.includes('fnrun_invocations_total{function="ledger",status="ok"} 0\n'), 'what the process knows is still served');
    assert.doesNotMatch(down, /^fnrun_lag_events\{/m, 'lag is unknown, not stale');
    const lost = await waitFor(() => logs(a).find((l) => l.msg.startsWith('partitions lost')), { timeoutMs: 30_000, message: 'the partitions are let go' });
    assert.match(lost.reason!, /leases not renewed for \d+\.\d s \(Redis unreachable/);
    assert.equal(logs(a).filter((l) => l.msg.startsWith('Redis connection lost')).length, 1, 'one line per outage, not per reconnect attempt');

    await env.redis.restart();
    const restored = await waitFor(() => logs(a).find((l) => l.msg.startsWith('Redis connection back after')), { timeoutMs: 30_000, message: 'the return is logged' });
    assert.ok(restored.downMs! > 0);
    await waitFor(() => logs(a).some((l) => l.msg.startsWith('partitions gained') && l.reason === 'acquired again after this process had lost them'), { timeoutMs: 30_000, message: 'partitions taken again' });
    await waitFor(async () => (await metrics()).includes('fnrun_redis_up 1\n'), { message: 'the gauge is back to 1' });
  } finally {
    if (b) await b.stop();
    assert.equal(await a.stop(), 0, a.stderr);
  }
});
