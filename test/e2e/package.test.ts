/**
 * fnrun as a user gets it: `npm pack` (which builds dist/), installed from the tarball into a
 * fresh project with the registry's other packages (from the npm cache when it has them), then
 * used the way the README says, with the machine's own PATH (its Node may be older than 24; the
 * project's `node` dependency brings 24 to npm scripts and npx). Every command a user types runs
 * through a shell, as typed; each test builds on the previous one.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GroupProcess, isAlive, sandboxChildOf } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('package', { topology: 'single', setup: packAndInstall });
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL_TIMEOUT_MS = 240_000;
const installer = join(env.dir, 'installer');
const app = join(env.dir, 'app');
let tarball = '';
let packedFiles: string[] = [];

/** The machine's PATH, without the node_modules/.bin folders npm put in front of it for `npm test`. */
const MACHINE_PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules/.bin')).join(delimiter);

/** A user's environment: the machine's PATH, no npm script variables; this file's private Redis. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$|NODE$|NODE_OPTIONS$|NODE_TEST)/i.test(k)));
  // Installs read packages from the npm cache when they are there (the command lines stay as typed).
  return { ...clean, PATH: MACHINE_PATH, FNRUN_REDIS_URL: env.redis.url, npm_config_prefer_offline: 'true', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

/** Runs `command` in a shell, to completion. */
function sh(command: string, cwd: string, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env: userEnv(extraEnv), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Packs the tarball and installs it into a project, before the first test. */
async function packAndInstall(): Promise<void> {
  // prepack builds dist/ first.
  const packed = await sh(`npm pack --json --pack-destination ${JSON.stringify(env.dir)}`, REPO, { PATH: process.env.PATH });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(env.dir, info!.filename);
  packedFiles = info!.files.map((f) => f.path);
  // A project where fnrun was installed the README's way; it then makes a new one with init.
  mkdirSync(installer);
  writeFileSync(join(installer, 'package.json'), '{ "name": "installer", "private": true }\n');
  const installed = await sh(`npm install -D node@24 ${JSON.stringify(tarball)}`, installer, {}, INSTALL_TIMEOUT_MS);
  assert.equal(installed.code, 0, installed.stderr);
}

test('the tarball holds the built package and nothing users do not need', () => {
  for (const file of ['bin/fnrun.js', 'package.json', 'README.md', 'dist/cli/fnrun.js', 'dist/runtime/index.js', 'dist/runtime/index.d.ts', 'dist/runtime/sdk.d.ts',
    'dist/runtime/sdk.source.ts', 'dist/runtime/sandbox/child/child.js', 'dist/runtime/sandbox/isolate/globals.d.ts', 'dist/runtime/redis/lua/commit.lua',
    'dist/runtime/loading/typecheck-worker.js']) {
    assert.ok(packedFiles.includes(file), `${file} is packed`);
  }
  const stray = packedFiles.filter((f) => !/^(bin\/|dist\/(cli|runtime)\/)/.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f));
  assert.deepEqual(stray, [], 'no tests, benches, fixtures or sources');
});

test('on a Node older than 24 the installed bin prints one line saying what to do, and exits 1', async (t) => {
  const old = oldNode();
  if (old === null) return t.skip('no Node older than 24 on this machine');
  const bin = join(installer, 'node_modules', 'fnrun', 'bin', 'fnrun.js');
  const result = await sh(`${JSON.stringify(old.path)} ${JSON.stringify(bin)} --help`, installer);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr.split('\n').length, 2, `one line: ${result.stderr}`);
  assert.match(result.stderr, new RegExp(`needs Node\\.js 24 or newer .* runs on Node ${old.version.replace(/\./g, '\\.')}: add it to your project with \`npm i -D node@24\``));
  // And the same bin through npx runs on the project's Node 24.
  const version = await sh('npx fnrun --version', installer);
  assert.equal(version.stdout, `${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}\n`, version.stderr);
});

test('fnrun init makes a project; its printed next step, run as printed, runs a function that fnrun emit sends an event to', async () => {
  const init = await sh('npx fnrun init ../app', installer);
  assert.equal(init.code, 0, init.stderr);
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  assert.equal(pkg.devDependencies.fnrun, `file:${tarball}`, 'the fnrun that ran init');
  const next = /^next: (.+)$/m.exec(init.stdout)?.[1];
  const emit = /^then, from another terminal: (.+)$/m.exec(init.stdout)?.[1];
  assert.equal(next, 'cd ../app && npm install && npm run dev');
  assert.ok(emit !== undefined, init.stdout);

  const dev = new GroupProcess('sh', ['-c', next!], { cwd: installer, env: userEnv() });
  try {
    await dev.waitForLine((l) => l.startsWith('loaded hello'), 'npm install, then hello loaded', INSTALL_TIMEOUT_MS);
    const sandbox = await sandboxChildOf(dev.pid);
    assert.ok(sandbox.argv.includes('--no-node-snapshot'), sandbox.argv.join(' '));
    assert.match(sandbox.argv.at(-1)!, /\/app\/node_modules\/fnrun\/dist\/runtime\/sandbox\/child\/child\.js$/);
    const sent = await sh(emit!, installer);
    assert.equal(sent.code, 0, sent.stderr);
    await dev.waitForLine((l) => l.includes('hello, Ada (key ada, attempt 1)'), 'hello ran');
    // A saved function with a type error: a warning from the type-check worker, and it runs anyway.
    writeFileSync(join(app, 'functions', 'typo.ts'), CORRECT.replace('ctx.emit(', 'ctx.emitt('));
    await dev.waitForLine((l) => l.startsWith('⚠ typo: 1 type error (the new code runs anyway)'), 'a type warning for typo');
    await dev.waitForLine((l) => /^\s+functions\/typo\.ts:5:13: Property 'emitt' does not exist on type 'Context'/.test(l), 'the error, with file:line:column');
    rmSync(join(app, 'functions', 'typo.ts'));
    await dev.waitForLine((l) => l === 'removed typo', 'typo removed');
    dev.signalGroup('SIGINT');
    await dev.exited;
    assert.ok(dev.lines.some((l) => l.startsWith('stopping: finishing the invocations in flight')), dev.lines.join('\n'));
    await waitFor(() => !isAlive(sandbox.pid), { timeoutMs: 10_000, message: 'the sandbox process stopped' });
  } finally {
    await dev.kill();
  }
});

test("functions type-check against fnrun's types: a correct one passes, a wrong one fails (tsc and fnrun check)", async () => {
  const ok = await sh('npm run typecheck', app);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  writeFileSync(join(app, 'functions', 'broken.ts'), BROKEN);
  const tsc = await sh('npm run typecheck', app);
  assert.notEqual(tsc.code, 0);
  assert.match(tsc.stdout, /functions\/broken\.ts\(7,15\): error TS2551: Property 'emitt' does not exist on type 'Context'/);
  const check = await sh('npx fnrun check', app);
  assert.equal(check.code, 1, check.stdout + check.stderr);
  assert.match(check.stdout, /^functions\/broken\.ts:7:15: Property 'emitt' does not exist on type 'Context'\. Did you mean 'emit'\? \(TS2551\)$/m);
  assert.match(check.stdout, /^functions\/broken\.ts:8:11: Type 'number' is not assignable to type 'string'\. \(TS2322\)$/m);
  assert.match(check.stdout, /3 type errors in 1 of 2 functions/);

  // A tsconfig.json as `tsc --init` writes it, in an ES module package: the imports type-check,
  // with no allowImportingTsExtensions and no @types/node.
  const std = join(app, 'standard');
  mkdirSync(std);
  writeFileSync(join(std, 'package.json'), '{ "type": "module" }\n');
  assert.equal((await sh('npx tsc --init', std)).code, 0);
  writeFileSync(join(std, 'fn.ts'), CORRECT);
  const standard = await sh('npx tsc -p .', std);
  assert.equal(standard.code, 0, standard.stdout + standard.stderr);
  writeFileSync(join(std, 'fn.ts'), CORRECT.replace('ctx.emit(', 'ctx.emitt('));
  assert.match((await sh('npx tsc -p .', std)).stdout, /error TS2551: Property 'emitt' does not exist on type 'Context'/);
  rmSync(std, { recursive: true });
});

test('fnrun deploy refuses the function with type errors; fnrun start runs the deployed one and exits 0 on SIGTERM, nothing run twice', async () => {
  const deploy = await sh('npx fnrun deploy', app);
  assert.equal(deploy.code, 1, deploy.stdout + deploy.stderr);
  assert.match(deploy.stdout, /broken\s+-\s+failed: type error in functions\/broken\.ts: functions\/broken\.ts:7:15: Property 'emitt'/);
  assert.match(deploy.stdout, /hello\s+- → 1\s+changed/);
  rmSync(join(app, 'functions', 'broken.ts'));

  const events = join(app, 'events.ndjson');
  writeFileSync(events, Array.from({ length: 40 }, (_, i) => JSON.stringify({ type: 'greeting.requested', key: `k${i % 8}`, data: { name: `n${i}` } })).join('\n'));
  // The production command the README gives (Node 24 first on PATH, as on a Node 24 machine).
  const production = { ...userEnv(), PATH: `${join(app, 'node_modules', '.bin')}${delimiter}${MACHINE_PATH}` };
  const runs: string[] = [];
  for (const [round, stop] of [[0, 'process'], [1, 'group']] as const) {
    const start = new GroupProcess(join(app, 'node_modules', '.bin', 'fnrun'), ['start'], { cwd: app, env: production });
    try {
      await start.waitForLine((l) => l.includes('fnrun start: ready'), 'fnrun start ready');
      const sandbox = await sandboxChildOf(start.pid);
      assert.ok(sandbox.argv.includes('--no-node-snapshot'));
      const handled = () => start.json<{ msg?: string; partition: number; eventId: string }>().filter((l) => l.msg?.startsWith('hello, n'));
      if (round === 0) {
        assert.equal((await sh(`npx fnrun emit --file ${JSON.stringify(events)}`, app)).code, 0);
        await waitFor(() => handled().length > 0, { timeoutMs: 60_000, message: 'events handled' });
      } else {
        await waitFor(() => runs.length + handled().length >= 40, { timeoutMs: 60_000, message: `all 40 handled across both runs (${runs.length} + ${handled().length})` });
      }
      if (stop === 'process') start.signal('SIGTERM');
      else start.signalGroup('SIGTERM');
      assert.deepEqual(await start.exited, { code: 0, signal: null }, `SIGTERM to the ${stop}: ${start.stderr}`);
      runs.push(...handled().map((l) => `${l.partition}/${l.eventId}`));
      await waitFor(() => !isAlive(sandbox.pid), { timeoutMs: 10_000, message: 'the sandbox process stopped' });
    } finally {
      await start.kill();
    }
  }
  assert.equal(runs.length, 40, 'every event ran');
  assert.equal(new Set(runs).size, 40, 'none ran twice');
});

const BROKEN = `import { defineFunction } from 'fnrun';
import type { Context, FnEvent } from 'fnrun';

export default defineFunction<{ n: number }>({
  events: ['broken.run'],
  async handler(event: FnEvent<{ n: number }>, ctx: Context) {
    await ctx.emitt('broken.done', event.key, {});
    const label: string = event.data.n;
    console.log(label, process.env.HOME);
  },
});
`;

const CORRECT = `import { defineFunction, NonRetriableError } from 'fnrun';
import type { Context, FnEvent } from 'fnrun';

export async function handle(event: FnEvent<{ n: number }>, ctx: Context): Promise<void> {
  await ctx.emit('counted', event.key, { n: event.data.n + ctx.attempt, idempotencyKey: ctx.idempotencyKey });
  if (!Number.isInteger(event.data.n)) throw new NonRetriableError('n must be an integer');
  const last: number | undefined = await ctx.state.get<number>('last');
  await ctx.state.set('last', Math.max(last ?? 0, event.data.n));
}

export default defineFunction<{ n: number }>({ events: ['count'], handler: handle });
`;

/** A `node` on the machine's PATH older than 24, or null. */
function oldNode(): { path: string; version: string } | null {
  for (const dir of MACHINE_PATH.split(delimiter)) {
    const candidate = join(dir, 'node');
    if (dir === '' || !existsSync(candidate)) continue;
    try {
      const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      if (Number(version.split('.')[0]) < 24) return { path: candidate, version };
    } catch { /* not runnable */ }
  }
  return null;
}
