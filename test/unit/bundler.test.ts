import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { bundleFunction, FunctionBuilder, type FunctionBundle } from '../../runtime/loading/bundler.ts';
import { BundleError } from '../../runtime/errors.ts';

const ROOT = fileURLToPath(new URL('../fixtures/bundler/', import.meta.url));
const fixture = (name: string, file = `${name}.ts`) => ({ name, entry: path.join(ROOT, 'functions', file), root: ROOT });

const temps: string[] = [];
after(() => Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true }))));

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fnrun-bundler-'));
  temps.push(dir);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

/** Runs a bundle the way the sandbox does: a bare global scope, compiled under `filename`. */
function load(bundle: FunctionBundle): Record<string, any> {
  return vm.runInNewContext(`${bundle.code}\n__fnrun_module`, {}, { filename: bundle.filename });
}

async function bundleError(input: Parameters<typeof bundleFunction>[0]): Promise<BundleError> {
  try {
    await bundleFunction(input);
  } catch (error) {
    assert.ok(error instanceof BundleError, String(error));
    assert.equal(error.code, 'ERR_BUNDLE');
    return error;
  }
  assert.fail('expected a BundleError');
}

test('bundles a handler into an IIFE exposing its exports, with a source map relative to root', async () => {
  const bundle = await bundleFunction(fixture('ok'));
  assert.equal(bundle.name, 'ok');
  assert.equal(bundle.filename, 'fnrun:///functions/ok.js');
  assert.match(bundle.code, /var __fnrun_module = \(\(\) => \{/);
  const mod = load(bundle);
  assert.deepEqual(JSON.parse(JSON.stringify(mod.config)), { events: ['post.created'], retry: { attempts: 5 } });
  assert.equal(typeof mod.default, 'function');

  const map = JSON.parse(bundle.sourceMap);
  assert.deepEqual(map.sources, ['functions/ok.ts']);
  assert.match(map.sourcesContent[0], /export default async function handler/);
  assert.equal(bundle.hash, createHash('sha256').update(`ok.ts\0${map.sourcesContent[0]}\0`).digest('hex'), 'the hash covers the sources, named relative to the function folder');
  assert.deepEqual(bundle.warnings, []);
});

test('unchanged source gives the same hash', async () => {
  const [a, b] = await Promise.all([bundleFunction(fixture('ok')), bundleFunction(fixture('ok'))]);
  assert.equal(a.hash, b.hash);
  assert.notEqual(a.hash, (await bundleFunction(fixture('defined'))).hash);
});

test('the hash depends on the code only: not on the checkout path, the folder names or a tsconfig.json above', async () => {
  const files = (prefix: string) => ({
    [`${prefix}/f.ts`]: "import { two } from './_shared/two.ts';\nexport const config = { events: ['a.*'] };\nexport default class { x = two; }",
    [`${prefix}/_shared/two.ts`]: 'export const two = 2;',
  });
  const a = await dirWith(files('app/functions'));
  // Another checkout: other folder names, and a tsconfig.json above that changes the emitted code.
  const b = await dirWith({ ...files('ci/checkout-17/src/handlers'), 'tsconfig.json': '{"compilerOptions":{"alwaysStrict":true,"useDefineForClassFields":false}}' });
  const bundleA = await bundleFunction({ name: 'f', entry: path.join(a, 'app/functions/f.ts'), root: path.join(a, 'app') });
  const bundleB = await bundleFunction({ name: 'f', entry: path.join(b, 'ci/checkout-17/src/handlers/f.ts'), root: b });
  assert.notEqual(bundleA.code, bundleB.code, 'the emitted code differs (paths in comments, the tsconfig)');
  assert.equal(bundleA.hash, bundleB.hash);
  await writeFile(path.join(b, 'ci/checkout-17/src/handlers/_shared/two.ts'), 'export const two = 3;');
  const changed = await bundleFunction({ name: 'f', entry: path.join(b, 'ci/checkout-17/src/handlers/f.ts'), root: b });
  assert.notEqual(changed.hash, bundleA.hash, 'a change in an imported file is a change');
});

test("`import ... from 'fnrun'` resolves to the SDK though fnrun is not installed next to the function", async () => {
  const bundle = await bundleFunction(fixture('defined'));
  assert.deepEqual(JSON.parse(bundle.sourceMap).sources, ['functions/defined.ts', 'fnrun:sdk.ts']);
  const definition = load(bundle).default;
  assert.deepEqual([...definition.events], ['post.*']); // an array of the vm's realm
  assert.equal(definition.group, 'billing');
  const emitted: unknown[] = [];
  await definition.handler({ key: 'k', data: { postId: 'p1' } }, { emit: async (...args: unknown[]) => void emitted.push(args) });
  assert.deepEqual(JSON.parse(JSON.stringify(emitted)), [['thread.updated', 'k', { postId: 'p1' }]]);
});

test('a folder function bundles its sibling modules', async () => {
  const bundle = await bundleFunction({ ...fixture('folder', 'folder/index.ts') });
  assert.deepEqual(JSON.parse(bundle.sourceMap).sources, ['functions/folder/index.ts', 'functions/folder/shout.ts']);
  assert.equal(load(bundle).default({ data: { name: 'ada' } }), 'ADA!');
});

test('a thrown error maps back to its TypeScript line and column', async () => {
  const bundle = await bundleFunction(fixture('throws'));
  const { handler } = load(bundle).default;
  let stack = '';
  try {
    handler({ type: 'x.y' });
  } catch (error) {
    stack = (error as Error).stack ?? '';
  }
  const frame = /fnrun:\/\/\/functions\/throws\.js:(\d+):(\d+)/.exec(stack);
  assert.ok(frame, stack);
  const original = originalPositionFor(new TraceMap(bundle.sourceMap), { line: Number(frame[1]), column: Number(frame[2]) - 1 });
  // `throw new Error(why)` is line 8 of the fixture; V8 points at `new` (column 11, 1-based).
  assert.deepEqual({ source: original.source, line: original.line, column: (original.column ?? -1) + 1 }, { source: 'functions/throws.ts', line: 8, column: 11 });
});

test('importing a Node built-in fails with the file, line, column and the import', async () => {
  const error = await bundleError(fixture('bad-builtin'));
  assert.equal(error.file, 'functions/bad-builtin.ts');
  assert.equal(error.location, 'functions/bad-builtin.ts:1:30');
  assert.equal(
    error.message,
    'cannot bundle functions/bad-builtin.ts: functions/bad-builtin.ts:1:30: "node:fs" is a Node built-in; ' +
      'functions run in a sandbox without Node APIs (no file system, network or process)',
  );
});

test('a built-in imported by a helper module is reported where it is imported', async () => {
  const error = await bundleError(fixture('nested-builtin'));
  assert.equal(error.file, 'functions/nested-builtin.ts');
  assert.equal(error.location, 'functions/_uses-os.ts:2:16');
  assert.match(error.message, /"os" is a Node built-in/);
});

test('bare built-in names are allowed when a package provides them (npm polyfills), node: never', async () => {
  const dir = await dirWith({
    'node_modules/events/package.json': '{ "name": "events", "main": "index.js" }',
    'node_modules/events/index.js': 'module.exports = { EventEmitter: class EventEmitter { polyfill = true } };',
    'functions/uses-events.ts': "import { EventEmitter } from 'events';\nexport default () => new EventEmitter().polyfill;",
    'functions/uses-node-events.ts': "import { EventEmitter } from 'node:events';\nexport default () => EventEmitter;",
    'functions/uses-process.ts': "import process from 'process';\nexport default () => process.env;",
  });
  const ok = await bundleFunction({ name: 'uses-events', entry: path.join(dir, 'functions/uses-events.ts'), root: dir });
  assert.equal(load(ok).default(), true);
  const nodePrefixed = await bundleError({ name: 'x', entry: path.join(dir, 'functions/uses-node-events.ts'), root: dir });
  assert.match(nodePrefixed.message, /"node:events" is a Node built-in/);
  const bare = await bundleError({ name: 'x', entry: path.join(dir, 'functions/uses-process.ts'), root: dir });
  assert.equal(bare.location, 'functions/uses-process.ts:1:21');
  assert.match(bare.message, /"process" is a Node built-in/);
});

test('a syntax error fails with its location', async () => {
  const error = await bundleError(fixture('syntax-error'));
  assert.equal(error.location, 'functions/syntax-error.ts:4:13');
  assert.match(error.message, /syntax-error\.ts:4:13: Unexpected ";"$/);
});

test('the first error is reported with the count of the others; columns count characters', async () => {
  const dir = await dirWith({ 'f.ts': "const s = 'ü'; import a from './nope-a';\nimport b from './nope-b';\nimport c from './nope-c';\nexport default [a, b, c, s];" });
  const error = await bundleError({ name: 'f', entry: path.join(dir, 'f.ts'), root: dir });
  assert.equal(error.location, 'f.ts:1:30');
  assert.match(error.message, /Could not resolve "\.\/nope-a" \(and 2 more errors\)$/);
});

test('a missing entry file is a BundleError', async () => {
  const error = await bundleError({ name: 'gone', entry: path.join(ROOT, 'functions', 'gone.ts'), root: ROOT });
  assert.equal(error.file, 'functions/gone.ts');
});

test('process.env.NODE_ENV is replaced, since there is no process in the sandbox', async () => {
  const dir = await dirWith({ 'f.ts': 'export default () => process.env.NODE_ENV;' });
  assert.equal(load(await bundleFunction({ name: 'f', entry: path.join(dir, 'f.ts'), root: dir })).default(), 'production');
});

test('FunctionBuilder rebuilds incrementally with the same output as bundleFunction', async () => {
  const dir = await dirWith({ 'functions/f.ts': 'export default () => 1;', 'functions/dep.ts': 'export const two = 2;' });
  const input = { name: 'f', entry: path.join(dir, 'functions/f.ts'), root: dir };
  const builder = new FunctionBuilder(input);
  try {
    const first = await builder.build();
    assert.deepEqual(first, await bundleFunction(input));
    assert.equal((await builder.build()).hash, first.hash);

    await writeFile(input.entry, "import { two } from './dep.ts';\nexport default () => two;");
    const second = await builder.build();
    assert.notEqual(second.hash, first.hash);
    assert.equal(load(second).default(), 2);

    await writeFile(input.entry, 'export default () => ;');
    await assert.rejects(builder.build(), (error: unknown) => error instanceof BundleError && error.location === 'functions/f.ts:1:22');

    await writeFile(path.join(dir, 'functions/dep.ts'), 'export const two = 22;');
    await writeFile(input.entry, "import { two } from './dep.ts';\nexport default () => two;");
    const [a, b] = await Promise.all([builder.build(), builder.build()]);
    assert.equal(load(a).default(), 22);
    assert.equal(a.hash, b.hash);
  } finally {
    await builder.dispose();
    await builder.dispose();
  }
  await assert.rejects(builder.build(), /disposed/);
});

const PROJECT = fileURLToPath(new URL('../fixtures/bundler-project/', import.meta.url));
const inProject = (name: string) => ({ name, entry: path.join(PROJECT, 'functions', `${name}.ts`), root: PROJECT });

test('a function imports whatever its own project holds: code, text, JSON', async () => {
  const mod = load(await bundleFunction(inProject('inside')));
  const out = mod.default();
  assert.equal(out.greeting, 'hello from lib');
  assert.equal(out.notes, 'a text file of the project\n');
  assert.deepEqual(JSON.parse(JSON.stringify(out.data)), { inside: true });
  assert.match(out.raw, /export const greeting/);
});

test('an import outside the project fails the build, naming it and where it is imported, whatever the loader', async () => {
  const cases: [name: string, line: number, imported: string, resolved: string][] = [
    ['reads-passwd', 2, '/etc/passwd', '/etc/passwd'],
    ['climbs-out', 2, '../../../../runtime/sdk.ts', path.resolve(PROJECT, '../../../runtime/sdk.ts')],
    ['json-outside', 2, '../../../../package.json', path.resolve(PROJECT, '../../../package.json')],
    ['text-outside', 2, '../../bundler/functions/README.md', path.resolve(PROJECT, '../bundler/functions/README.md')],
  ];
  for (const [name, line, imported, resolved] of cases) {
    const error = await bundleError(inProject(name));
    assert.equal(error.location?.replace(/:\d+$/, ''), `functions/${name}.ts:${line}`, name);
    assert.ok(
      error.message.includes(`${JSON.stringify(imported)} resolves to ${resolved}, outside the function's project (${PROJECT.replace(/\/$/, '')}); a function may import only files of its project and packages of its node_modules`),
      `${name}: ${error.message}`,
    );
  }
});

test('symlinks are followed: one pointing out of the project is refused, one inside is fine', async () => {
  const outside = await dirWith({ 'secret.txt': 'the deploying machine\'s secret', 'lib.ts': 'export const x = 1;' });
  const project = await dirWith({
    'package.json': '{"private":true}',
    'functions/link-out.ts': "import s from '../linked.txt';\nexport default () => s;",
    'functions/dir-out.ts': "import { x } from '../linked-dir/lib.ts';\nexport default () => x;",
    'functions/link-in.ts': "import { y } from '../alias.ts';\nexport default () => y;",
    'real.ts': 'export const y = 2;',
  });
  await symlink(path.join(outside, 'secret.txt'), path.join(project, 'linked.txt'));
  await symlink(outside, path.join(project, 'linked-dir'));
  await symlink(path.join(project, 'real.ts'), path.join(project, 'alias.ts'));
  const build = (name: string) => ({ name, entry: path.join(project, 'functions', `${name}.ts`), root: project });
  for (const [name, real] of [['link-out', 'secret.txt'], ['dir-out', 'lib.ts']] as const) {
    const error = await bundleError(build(name));
    assert.match(error.message, new RegExp(`resolves to ${path.join(outside, real).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, outside the function's project`), name);
  }
  assert.equal(load(await bundleFunction(build('link-in'))).default(), 2);
  // The entry itself, a symlink to a file outside: refused too.
  await symlink(path.join(outside, 'lib.ts'), path.join(project, 'functions', 'entry-out.ts'));
  assert.match((await bundleError(build('entry-out'))).message, /outside the function's project/);
});

test('packages resolve from the project\'s node_modules and from node_modules above it (hoisted installs)', async () => {
  const mono = await dirWith({
    'node_modules/hoisted/package.json': '{"name":"hoisted","main":"index.js"}',
    'node_modules/hoisted/index.js': 'exports.h = "hoisted";',
    'apps/svc/package.json': '{"private":true}',
    'apps/svc/node_modules/local/package.json': '{"name":"local","main":"index.js"}',
    'apps/svc/node_modules/local/index.js': 'exports.l = "local";',
    'apps/svc/functions/f.ts': "import { h } from 'hoisted';\nimport { l } from 'local';\nexport default () => h + ' ' + l;",
    'apps/other/secret.ts': 'export const s = "other app";',
    'apps/svc/functions/g.ts': "import { s } from '../../other/secret.ts';\nexport default () => s;",
  });
  const svc = path.join(mono, 'apps/svc');
  assert.equal(load(await bundleFunction({ name: 'f', entry: path.join(svc, 'functions/f.ts'), root: svc })).default(), 'hoisted local');
  // A sibling folder of the monorepo is not the project's.
  assert.match((await bundleError({ name: 'g', entry: path.join(svc, 'functions/g.ts'), root: svc })).message, /"\.\.\/\.\.\/other\/secret\.ts" resolves to .*apps\/other\/secret\.ts, outside the function's project \(.*apps\/svc\)/);
});

test('the check changes nothing else: the project\'s tsconfig.json still applies (alwaysStrict here)', async () => {
  const project = await dirWith({
    'package.json': '{"private":true}',
    'tsconfig.json': '{"compilerOptions":{"alwaysStrict":true}}',
    'functions/f.ts': 'export default function () { return (function () { return this; })() === undefined; }',
  });
  const bundle = await bundleFunction({ name: 'f', entry: path.join(project, 'functions/f.ts'), root: project });
  assert.match(bundle.code, /"use strict"/);
  assert.equal(load(bundle).default(), true, 'the function body is strict');
});
