/**
 * `fnrun init`: a complete project in an empty folder; in an existing one, only what is missing,
 * with package.json merged and no file overwritten; and a template that does not trigger itself.
 * (package.test.ts runs the printed next step verbatim against the packed package.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { partitionFor } from '../../runtime/policy/partitioner.ts';
import { consumerGroupName } from '../../runtime/redis/consumer-groups.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { GroupProcess } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('init', { topology: 'single' });
const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

interface Pkg { name: string; version: string; type?: string; scripts: Record<string, string>; devDependencies: Record<string, string>; dependencies?: Record<string, string>; engines: Record<string, string> }
interface Step { file: string; action: string; detail?: string }

const read = (file: string) => readFileSync(file, 'utf8');
const json = <T>(file: string) => JSON.parse(read(file)) as T;

/** Every file under `dir` with its content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[relative(dir, join(entry.parentPath, entry.name))] = read(join(entry.parentPath, entry.name));
  }
  return out;
}

test('in an empty folder: a complete project, and a next step for it', async () => {
  const dir = join(env.dir, 'empty', 'my-app');
  const result = await runCli(['init', relative(env.dir, dir)], { cwd: env.dir });
  assert.equal(result.code, 0, result.stderr);
  for (const file of ['package.json', 'tsconfig.json', 'functions/hello.ts', '.gitignore', 'README.md']) {
    assert.match(result.stdout, new RegExp(`^created\\s+${file.replace('.', '\\.')}$`, 'm'));
    assert.ok(existsSync(join(dir, file)), file);
  }
  const pkg = json<Pkg>(join(dir, 'package.json'));
  assert.equal(pkg.name, 'my-app');
  assert.equal(pkg.type, 'module');
  assert.deepEqual(pkg.scripts, { dev: 'fnrun dev', deploy: 'fnrun deploy', start: 'fnrun start', typecheck: 'tsc -p .' });
  // Run from this checkout, init points the project at it (package.test.ts: at the tarball).
  assert.deepEqual(pkg.devDependencies, { fnrun: `file:${REPO}`, node: '^24', typescript: '^5.9.3' });
  assert.deepEqual(pkg.engines, { node: '>=24' });
  const tsconfig = json<{ compilerOptions: { types: string[]; strict: boolean }; include: string[] }>(join(dir, 'tsconfig.json'));
  assert.deepEqual(tsconfig.include, ['functions']);
  assert.deepEqual(tsconfig.compilerOptions.types, ['fnrun/globals']);
  assert.equal(tsconfig.compilerOptions.strict, true);
  assert.deepEqual(read(join(dir, '.gitignore')).split('\n'), ['node_modules/', '.fnrun/', '']);
  assert.match(result.stdout, /^next: cd empty\/my-app && npm install && npm run dev$/m);
  assert.match(result.stdout, /^then, from another terminal: cd empty\/my-app && npx fnrun emit greeting\.requested --key ada --data '\{"name":"Ada"\}'$/m);
});

test('in an existing project: package.json merged, every other file kept, and what was left alone listed', async () => {
  const dir = join(env.dir, 'existing');
  mkdirSync(dir, { recursive: true });
  const original = {
    'package.json': `${JSON.stringify({ name: 'shop', version: '2.0.0', scripts: { start: 'node server.js', test: 'node --test' }, dependencies: { fnrun: '^0.1.0' } }, null, 4)}\n`,
    'tsconfig.json': '{ "compilerOptions": { "lib": ["dom"] }, "include": ["src"] }\n',
    'README.md': '# Shop\n',
    '.gitignore': 'dist',
  };
  for (const [file, text] of Object.entries(original)) writeFileSync(join(dir, file), text);
  const result = await runCli(['init', '--json'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const steps = (JSON.parse(result.stdout) as { steps: Step[]; next: string }).steps;
  const byFile = (file: string) => steps.find((s) => s.file === file)?.action;

  const pkg = json<Pkg>(join(dir, 'package.json'));
  assert.match(read(join(dir, 'package.json')), /^\{\n {4}"name": "shop",/, 'keeps its 4-space indentation');
  assert.equal(pkg.version, '2.0.0');
  assert.equal(pkg.type, undefined, 'a package type is not changed under existing code');
  assert.deepEqual(pkg.scripts, { start: 'node server.js', test: 'node --test', dev: 'fnrun dev', deploy: 'fnrun deploy', typecheck: 'tsc -p functions' });
  assert.deepEqual(pkg.dependencies, { fnrun: '^0.1.0' });
  assert.deepEqual(Object.keys(pkg.devDependencies), ['node', 'typescript'], 'fnrun is already a dependency');
  assert.equal(byFile('package.json'), 'updated');
  assert.deepEqual(steps.find((s) => s.file === 'package.json scripts.start'), { file: 'package.json scripts.start', action: 'skipped', detail: 'kept: node server.js' });

  // Its own tsconfig.json stays; the functions get theirs.
  assert.equal(read(join(dir, 'tsconfig.json')), original['tsconfig.json']);
  assert.equal(byFile('tsconfig.json'), undefined);
  assert.equal(byFile('functions/tsconfig.json'), 'created');
  assert.deepEqual(json<{ include: string[] }>(join(dir, 'functions', 'tsconfig.json')).include, ['.']);
  assert.equal(read(join(dir, 'README.md')), original['README.md']);
  assert.equal(byFile('README.md'), 'skipped');
  assert.equal(read(join(dir, '.gitignore')), 'dist\nnode_modules/\n.fnrun/\n');
  assert.equal(byFile('functions/hello.ts'), 'created');

  // Again: nothing left to add, nothing changes.
  const before = snapshot(dir);
  const again = await runCli(['init'], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(snapshot(dir), before);
  assert.doesNotMatch(again.stdout, /^(created|updated)/m);
  assert.match(again.stdout, /^skipped\s+functions\/hello\.ts \(functions\/ already has hello\)$/m);
  assert.match(again.stdout, /^next: npm install && npm run dev$/m);
});

test('the template does not trigger itself: one request runs hello once, and what it emits is read past', async () => {
  const dir = join(env.dir, 'loop');
  assert.equal((await runCli(['init', dir])).code, 0);
  const partitions = 4;
  const common = ['--redis', env.redis.url, '--namespace', 'init-loop', '--partitions', String(partitions)];
  const dev = new GroupProcess(process.execPath, [CLI, 'dev', ...common, '--log', 'json'], { cwd: dir });
  try {
    await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"function":"hello"'), 'hello loaded');
    const emitted = await runCli(['emit', 'greeting.requested', '--key', 'ada', '--data', '{"name":"Ada"}', ...common], { cwd: dir });
    assert.equal(emitted.code, 0, emitted.stderr);
    await dev.waitForLine((l) => l.includes('"kind":"invocation"') && l.includes('"status":"ok"'), 'hello ran');
    // greeting.sent lands in the same partition (same key); hello's cursor must pass it without running.
    const redis = env.redis.client();
    const stream = new Keys('init-loop').partition(partitionFor('ada', partitions)).events;
    const sent = await waitFor(async () => (await redis.xrange(stream, '-', '+')).find(([, fields]) => fields.includes('greeting.sent')), { message: 'greeting.sent published' });
    await waitFor(async () => {
      const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
      const hello = groups.map((g) => Object.fromEntries(chunk(g))).find((g) => g.name === consumerGroupName('function', 'hello'));
      return hello !== undefined && hello['last-delivered-id'] === sent[0] && Number(hello.pending) === 0;
    }, { message: "hello's cursor read past greeting.sent" });
    const runs = dev.json<{ kind: string; function: string; type: string }>().filter((l) => l.kind === 'invocation');
    assert.deepEqual(runs.map((r) => [r.function, r.type]), [['hello', 'greeting.requested']]);
    dev.signalGroup('SIGINT');
    assert.equal((await dev.exited).code, 0, dev.stderr);
  } finally {
    await dev.kill();
  }
});

function chunk(flat: unknown[]): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]]);
  return out;
}
