import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { discoverFunctions } from '../../runtime/loading/discover.ts';
import { ConfigError } from '../../runtime/errors.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/bundler/functions/', import.meta.url));
const temps: string[] = [];
after(() => Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true }))));

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fnrun-discover-'));
  temps.push(dir);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

test('finds files and folders with an index, sorted by name, skipping helpers, types, tests and dotfiles', async () => {
  const found = await discoverFunctions(FIXTURES);
  assert.deepEqual(found.map((f) => f.name), ['bad-builtin', 'defined', 'folder', 'nested-builtin', 'ok', 'syntax-error', 'throws']);
  assert.equal(found.find((f) => f.name === 'folder')!.entry, path.join(FIXTURES, 'folder', 'index.ts'));
  assert.equal(found.find((f) => f.name === 'ok')!.entry, path.join(FIXTURES, 'ok.ts'));
});

test('accepts .ts, .mts, .js and .mjs; ignores other extensions and folders without an index', async () => {
  const dir = await dirWith({
    'a.ts': '', 'b.mts': '', 'c.js': '', 'd.mjs': '', 'e.cjs': '', 'f.json': '', 'g.d.mts': '', 'h.spec.ts': '',
    'i/index.js': '', 'j/main.ts': '', 'node_modules/index.js': '',
  });
  assert.deepEqual((await discoverFunctions(dir)).map((f) => f.name), ['a', 'b', 'c', 'd', 'i']);
});

test('follows symlinks to files and folders', async () => {
  const dir = await dirWith({ 'real/x.ts': '', 'real/y/index.ts': '' });
  const fns = path.join(dir, 'functions');
  await mkdir(fns);
  await symlink(path.join(dir, 'real/x.ts'), path.join(fns, 'x.ts'));
  await symlink(path.join(dir, 'real/y'), path.join(fns, 'y'));
  await symlink(path.join(dir, 'missing.ts'), path.join(fns, 'dangling.ts'));
  assert.deepEqual((await discoverFunctions(fns)).map((f) => f.name), ['x', 'y']);
});

test('invalid names and duplicates fail together, with a rename suggestion', async () => {
  const dir = await dirWith({ 'sendEmail.ts': '', 'ok.ts': '', 'dup.ts': '', 'dup/index.ts': '', 'has space.js': '' });
  await assert.rejects(discoverFunctions(dir), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /function name "sendEmail" is invalid: .*rename it to "send-email"/);
    assert.match(error.message, /function name "has space" is invalid: .*rename it to "has-space"/);
    assert.match(error.message, /function "dup" is defined twice: .*dup\.ts and .*dup\/index\.ts; keep one/);
    return true;
  });
});

test('a missing directory is a clear error', async () => {
  await assert.rejects(discoverFunctions(path.join(tmpdir(), 'fnrun-no-such-dir')), /functions directory not found/);
});
