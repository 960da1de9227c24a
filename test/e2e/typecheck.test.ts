/**
 * Type errors reported by fnrun itself, with the project's own TypeScript (this repository's,
 * linked into each temp project's node_modules as an install would put it): `fnrun check` lists
 * them, `fnrun deploy` refuses the function, `fnrun dev` warns while the new code runs. Without
 * TypeScript, or without a tsconfig.json that includes the functions, they say so in one line.
 * (The packaged run in package.test.ts checks functions against fnrun's published types.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.ts';
import { GroupProcess } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('typecheck');
const TYPESCRIPT = dirname(createRequire(import.meta.url).resolve('typescript/package.json'));
const TSCONFIG = JSON.stringify({ compilerOptions: { module: 'preserve', target: 'es2023', lib: ['es2024'], types: [], strict: true, noEmit: true, skipLibCheck: true }, include: ['functions'] });

const GOOD = `export const config = { events: ['order.placed'] };
export default async function handler(event: { data: { total: number } }, ctx: { log: { info(...a: unknown[]): void } }) {
  ctx.log.info('total', event.data.total.toFixed(2));
}
`;
// Line 3, column 9: the error fnrun must point at.
const BAD = `export const config = { events: ['order.placed'] };
export default async function handler(event: { data: { total: number } }) {
  const label: string = event.data.total;
  return label;
}
`;

interface Row { function: string; status: string; error?: { code: string; message: string; location?: string; types?: { file: string; line: number; column: number; code: number }[] } }

function project(name: string, opts: { typescript?: boolean; tsconfig?: boolean } = {}): string {
  const dir = join(env.dir, name);
  mkdirSync(join(dir, 'functions'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"name":"app","private":true,"type":"module"}\n');
  if (opts.tsconfig !== false) writeFileSync(join(dir, 'tsconfig.json'), TSCONFIG);
  if (opts.typescript !== false) {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(TYPESCRIPT, join(dir, 'node_modules', 'typescript'));
  }
  return dir;
}

test('fnrun check lists type errors as file:line:column and exits 1; a correct function passes', async () => {
  const dir = project('check');
  writeFileSync(join(dir, 'functions', 'good.ts'), GOOD);
  writeFileSync(join(dir, 'functions', 'bad.ts'), BAD);
  const all = await runCli(['check'], { cwd: dir });
  assert.equal(all.code, 1, all.stdout + all.stderr);
  assert.match(all.stdout, /^functions\/bad\.ts:3:9: Type 'number' is not assignable to type 'string'\. \(TS2322\)$/m);
  assert.doesNotMatch(all.stdout, /good\.ts/);
  assert.match(all.stdout, /1 type error in 1 of 2 functions/);
  const good = await runCli(['check', 'good'], { cwd: dir });
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /1 function checked: no type errors/);
});

test('fnrun deploy refuses a function with a type error (file:line:column), deploys the others; --no-typecheck skips the check', async () => {
  const dir = project('deploy');
  writeFileSync(join(dir, 'functions', 'good.ts'), GOOD);
  writeFileSync(join(dir, 'functions', 'bad.ts'), BAD);
  const common = ['--redis', env.redis.url, '--namespace', 'typecheck-deploy'];
  const refused = await runCli(['deploy', ...common], { cwd: dir });
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /bad\s+-\s+failed: type error in functions\/bad\.ts: functions\/bad\.ts:3:9: Type 'number' is not assignable to type 'string'/);
  assert.match(refused.stdout, /good\s+- → 1\s+changed/);
  const rows = JSON.parse((await runCli(['deploy', ...common, '--dry-run', '--json'], { cwd: dir })).stdout) as Row[];
  const bad = rows.find((r) => r.function === 'bad')!;
  assert.equal(bad.status, 'failed');
  assert.equal(bad.error?.code, 'ERR_TYPECHECK');
  assert.equal(bad.error?.location, 'functions/bad.ts:3:9');
  assert.deepEqual(bad.error?.types?.map((t) => [t.file, t.line, t.column, t.code]), [['functions/bad.ts', 3, 9, 2322]]);
  const skipped = await runCli(['deploy', ...common, '--no-typecheck'], { cwd: dir });
  assert.equal(skipped.code, 0, skipped.stdout + skipped.stderr);
  assert.match(skipped.stdout, /bad\s+- → 1\s+changed/);
});

test('fnrun dev type-checks a saved function in the background and warns while the new code runs', async () => {
  const dir = project('dev');
  writeFileSync(join(dir, 'functions', 'orders.ts'), GOOD);
  const dev = new GroupProcess(process.execPath, [CLI, 'dev', '--redis', env.redis.url, '--namespace', 'typecheck-dev', '--log', 'json'], { cwd: dir });
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"'), 'orders loaded');
    writeFileSync(join(dir, 'functions', 'orders.ts'), BAD.replace('return label;', 'return `v2 ${label}`;'));
    const reloaded = JSON.parse(await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"reload":true'), 'orders reloaded')) as { version: string };
    const warning = JSON.parse(await dev.waitForLine((l) => l.includes('"kind":"typecheck"') && l.includes('"issues":[{'), 'a type warning')) as { function: string; issues: { file: string; line: number; column: number; code: number }[] };
    assert.equal(warning.function, 'orders');
    assert.deepEqual(warning.issues.map((i) => [i.file, i.line, i.column, i.code]), [['functions/orders.ts', 3, 9, 2322]]);
    // The new version runs regardless.
    const emitted = await runCli(['emit', 'order.placed', '--key', 'o1', '--data', '{"total":5}', '--redis', env.redis.url, '--namespace', 'typecheck-dev']);
    assert.equal(emitted.code, 0, emitted.stderr);
    await waitFor(() => dev.json<{ kind: string; version?: string; status?: string }>().some((l) => l.kind === 'invocation' && l.version === reloaded.version && l.status === 'ok'), { timeoutMs: 30_000, message: 'the new version ran' });
    // Fixed: said once.
    writeFileSync(join(dir, 'functions', 'orders.ts'), GOOD.replace("'total'", "'total (v3)'"));
    await dev.waitForLine((l) => l.includes('"kind":"typecheck"') && l.includes('"issues":[]'), 'errors gone');
    dev.signalGroup('SIGINT');
    assert.equal((await dev.exited).code, 0, dev.stderr);
  } finally {
    await dev.kill();
  }
});

test('without TypeScript in the project, or without a tsconfig.json that includes the functions, nothing is checked and a one-line note says why', async () => {
  const common = ['--redis', env.redis.url, '--namespace', 'typecheck-none'];
  const bare = project('no-typescript', { typescript: false });
  writeFileSync(join(bare, 'functions', 'bad.ts'), BAD);
  const deployed = await runCli(['deploy', ...common], { cwd: bare });
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
  assert.match(deployed.stderr, /^note: type-checking skipped: TypeScript is not installed in this project \(.*\); add it with npm i -D typescript\n$/);
  const check = await runCli(['check'], { cwd: bare });
  assert.equal(check.code, 1);
  assert.match(check.stderr, /^fnrun: type-checking skipped: TypeScript is not installed/);

  const uncovered = project('no-tsconfig', { tsconfig: false });
  writeFileSync(join(uncovered, 'functions', 'bad.ts'), BAD);
  const unchecked = await runCli(['check'], { cwd: uncovered });
  assert.equal(unchecked.code, 1);
  assert.match(unchecked.stderr, /type-checking skipped for bad: no tsconfig\.json includes functions/);
});
