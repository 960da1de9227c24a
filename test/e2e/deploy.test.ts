import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Keys } from '../../runtime/redis/keys.ts';
import { Registry } from '../../runtime/deploy/registry.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('deploy');
const project = env.dir;
const functions = join(project, 'functions');
mkdirSync(join(functions, 'gamma'), { recursive: true });

interface Row { function: string; file: string; status: string; from: number | null; to: number | null; dryRun: boolean; error?: { message: string; location?: string; fields?: { path: string; message: string }[] } }
interface Summary { name: string; active: number; versions: number[]; manifest: { events: string[] } }

const NS = 'deploy-e2e';
const fnrun = (...args: string[]): Promise<CliResult> => runCli([...args, '--redis', env.redis.url, '--namespace', NS], { cwd: project });
const json = async <T>(...args: string[]): Promise<{ code: number | null; data: T; stderr: string }> => {
  const r = await fnrun(...args, '--json');
  return { code: r.code, data: JSON.parse(r.stdout || 'null') as T, stderr: r.stderr };
};
const byName = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.function, r]));
const source = (events: string, body = '') => `export const config = { events: [${events}] };\nexport default async function handler() {${body}}\n`;

test('deploy, redeploy, change one, failures, dry run, --only, functions, rollback, rm', async () => {
  writeFileSync(join(functions, 'alpha.ts'), source("'post.created'"));
  writeFileSync(join(functions, 'beta.ts'), source("'post.*'"));
  writeFileSync(join(functions, 'gamma', 'index.ts'), source("'thread.updated'"));

  // First deploy: every function is new.
  const first = await fnrun('deploy');
  assert.equal(first.code, 0, first.stderr);
  for (const name of ['alpha', 'beta', 'gamma']) assert.match(first.stdout, new RegExp(`${name}\\s+- → 1\\s+changed`));
  assert.match(first.stdout, /3 changed, 0 unchanged, 0 failed/);

  // Again: nothing changed.
  const again = await json<Row[]>('deploy');
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.data.map((r) => [r.function, r.status, r.from, r.to]), [['alpha', 'unchanged', 1, 1], ['beta', 'unchanged', 1, 1], ['gamma', 'unchanged', 1, 1]]);

  // Edit one: only it changes.
  writeFileSync(join(functions, 'beta.ts'), source("'post.*'", ' /* v2 */ return;'));
  const edited = byName((await json<Row[]>('deploy')).data);
  assert.deepEqual([edited.alpha!.status, edited.beta!.status, edited.gamma!.status], ['unchanged', 'changed', 'unchanged']);
  assert.deepEqual([edited.beta!.from, edited.beta!.to], [1, 2]);

  // A bad manifest and a syntax error: those rows fail (with field, or file:line), the others are fine, exit 1.
  writeFileSync(join(functions, 'bad.ts'), "export const config = { events: [], retry: { attempts: '3' } };\nexport default async () => {};\n");
  writeFileSync(join(functions, 'broken.ts'), "export const config = { events: ['a.b'] };\nexport default async function handler( {\n");
  writeFileSync(join(functions, 'alpha.ts'), source("'post.created'", ' /* v2 */ return;'));
  const failing = await json<Row[]>('deploy');
  assert.equal(failing.code, 1);
  const rows = byName(failing.data);
  assert.equal(rows.bad!.status, 'failed');
  assert.equal(rows.bad!.file, 'functions/bad.ts');
  assert.deepEqual(rows.bad!.error!.fields!.map((f) => f.path).sort(), ['events', 'retry.attempts']);
  assert.equal(rows.broken!.status, 'failed');
  assert.match(rows.broken!.error!.location!, /^functions\/broken\.ts:3:\d+$/);
  assert.deepEqual([rows.alpha!.status, rows.alpha!.to], ['changed', 2], 'the others still deploy');
  const registry = new Registry(env.redis.client(), new Keys(NS));
  assert.equal(await registry.active('bad'), null, 'a failed function uploads nothing');
  assert.equal(await registry.active('broken'), null);
  const text = await fnrun('deploy');
  assert.equal(text.code, 1);
  assert.match(text.stdout, /bad\s+-\s+failed: functions\/bad\.ts: events: .*; retry\.attempts: expected/);
  assert.match(text.stdout, /broken\s+-\s+failed: .*functions\/broken\.ts:3:\d+/);
  assert.match(text.stdout, /0 changed, 3 unchanged, 2 failed \(failed functions uploaded nothing; the others were deployed\)/);
  rmSync(join(functions, 'bad.ts'));
  rmSync(join(functions, 'broken.ts'));

  // --dry-run reports the change and uploads nothing.
  writeFileSync(join(functions, 'gamma', 'index.ts'), source("'thread.updated'", ' /* v2 */ return;'));
  const epoch = await registry.epoch();
  const dry = byName((await json<Row[]>('deploy', '--dry-run')).data);
  assert.deepEqual([dry.gamma!.status, dry.gamma!.from, dry.gamma!.to, dry.gamma!.dryRun], ['changed', 1, 2, true]);
  assert.equal(dry.alpha!.status, 'unchanged');
  assert.equal((await registry.active('gamma'))!.version, 1);
  assert.equal(await registry.epoch(), epoch);

  // --only: repeated or as a comma list; an unknown name is an error.
  const only = await json<Row[]>('deploy', '--only', 'gamma');
  assert.deepEqual(only.data.map((r) => [r.function, r.status, r.to]), [['gamma', 'changed', 2]]);
  assert.deepEqual((await json<Row[]>('deploy', '--only', 'alpha,beta')).data.map((r) => r.function), ['alpha', 'beta']);
  assert.deepEqual((await json<Row[]>('deploy', '--only', 'alpha', '--only', 'gamma')).data.map((r) => r.function), ['alpha', 'gamma']);
  const unknown = await fnrun('deploy', '--only', 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no function named "nope".*found: alpha, beta, gamma/);

  // functions --json and the table.
  const listed = await json<Summary[]>('functions');
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.data.map((f) => [f.name, f.active, f.versions, f.manifest.events]), [
    ['alpha', 2, [2, 1], ['post.created']], ['beta', 2, [2, 1], ['post.*']], ['gamma', 2, [2, 1], ['thread.updated']],
  ]);
  assert.match((await fnrun('functions')).stdout, /beta\s+2\s+\d{4}-\d\d-\d\dT\S+\s+post\.\*\s+2,1/);

  // rollback: the previous version by default, or the one named.
  const back = await fnrun('rollback', 'beta');
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /beta: rolled back from version 2 to 1/);
  assert.equal((await registry.active('beta'))!.version, 1);
  assert.deepEqual((await json<{ from: number; to: number }>('rollback', 'beta', '2')).data, { name: 'beta', from: 1, to: 2 });
  const missing = await fnrun('rollback', 'beta', '7');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no version 7/);

  // rm: refused without --yes, removed with it.
  const refused = await fnrun('rm', 'alpha');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /--yes/);
  assert.notEqual(await registry.active('alpha'), null);
  const removed = await fnrun('rm', 'alpha', '--yes');
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual((await json<Summary[]>('functions')).data.map((f) => f.name), ['beta', 'gamma']);
  assert.equal((await fnrun('rm', 'alpha', '--yes')).code, 1, 'removing an absent function is an error');
});

test('a function that disagrees on its group mode with the deployed owner fails, naming both; changing the whole group together works', async () => {
  const dir = join(project, 'groups', 'functions');
  mkdirSync(dir, { recursive: true });
  const member = (mode: string) => `export const config = { events: ['pay.*'], group: { name: 'billing', mode: '${mode}' } };\nexport default async () => {};\n`;
  const common = ['--dir', dir, '--redis', env.redis.url, '--namespace', 'groups', '--json'];
  writeFileSync(join(dir, 'invoice.ts'), member('parallel'));
  assert.equal((await runCli(['deploy', ...common])).code, 0);

  writeFileSync(join(dir, 'receipt.ts'), member('sequential'));
  const conflict = await runCli(['deploy', '--only', 'receipt', ...common]);
  assert.equal(conflict.code, 1);
  const [row] = JSON.parse(conflict.stdout) as Row[];
  assert.equal(row!.status, 'failed');
  assert.deepEqual(row!.error!.fields!.map((f) => f.path), ['group.mode']);
  // invoice deployed first: it owns the group, and the refusal names both.
  assert.match(row!.error!.fields![0]!.message, /^function "receipt" puts group "billing" in "sequential" mode but group "billing"'s owner "invoice" has "parallel"/);

  writeFileSync(join(dir, 'invoice.ts'), member('sequential'));
  const together = await runCli(['deploy', ...common]);
  assert.equal(together.code, 0, together.stdout);
  assert.deepEqual((JSON.parse(together.stdout) as Row[]).map((r) => r.status), ['changed', 'changed']);
});

test('deploy, functions, rollback and rm have --help', async () => {
  for (const cmd of ['deploy', 'functions', 'rollback', 'rm']) {
    const help = await runCli([cmd, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: fnrun/);
  }
});
