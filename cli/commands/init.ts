/**
 * `fnrun init [DIR]`: makes DIR (default: the current folder) a project that runs fnrun. An empty
 * folder gets a complete project; an existing one gets what it lacks (package.json entries are
 * merged in) and keeps every file and value it has. It prints what it did, what it left alone, and
 * a next step that works as printed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, discoverFunctions } from '../../runtime/internal.ts';
import { mergePackageJson } from '../init-package.ts';
import { EXAMPLE_EMIT, GITIGNORE_LINES, HELLO, readme, tsconfig } from '../init-templates.ts';
import { parseCommand } from '../options.ts';
import { fsUserError, makeDirectories } from '../fs-errors.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun init [DIR]

Makes DIR (default: the current folder, created if missing) a project that runs fnrun:
  package.json   type module; scripts dev, deploy, start, typecheck; dev dependencies fnrun,
                 typescript and node (Node 24 for npm scripts and npx); engines node >= 24
  tsconfig.json  type-checks functions/ against fnrun's types and the sandbox's globals
                 (functions/tsconfig.json when the project has a tsconfig.json of its own)
  functions/hello.ts, .gitignore (node_modules/, .fnrun/), README.md

In an existing project it adds only what is missing: package.json entries are merged in (a script
or dependency already there is kept), .gitignore lines appended, and no file is overwritten. It
lists what it left alone and prints the next step.`;

interface Step {
  file: string;
  action: 'created' | 'updated' | 'skipped';
  detail?: string;
}

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, positionals } = parseCommand(argv, {});
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 1) throw new ConfigError('usage: fnrun init [DIR]');
  const dir = path.resolve(positionals[0] ?? '.');
  makeDirectories(path.join(dir, 'functions'));
  const steps: Step[] = [];
  const at = (name: string) => path.join(dir, name);

  // A tsconfig.json of the project's own (for its other code) stays; the functions get their own.
  const ownTsconfig = existsSync(at('tsconfig.json'));
  const tsconfigFile = ownTsconfig ? 'functions/tsconfig.json' : 'tsconfig.json';
  const packageFile = at('package.json');
  const hadPackage = existsSync(packageFile);
  const pkg = mergePackageJson(hadPackage ? readFileSync(packageFile, 'utf8') : null, {
    name: packageName(dir),
    typecheck: ownTsconfig ? 'tsc -p functions' : 'tsc -p .',
  });
  if (!hadPackage || pkg.added.length > 0) {
    writeFileSync(packageFile, pkg.text);
    steps.push({ file: 'package.json', action: hadPackage ? 'updated' : 'created', ...(hadPackage ? { detail: `added ${pkg.added.join(', ')}` } : {}) });
  }
  for (const kept of pkg.kept) steps.push({ file: `package.json ${kept.entry}`, action: 'skipped', detail: `kept: ${kept.value}` });

  create(steps, dir, tsconfigFile, tsconfig(ownTsconfig ? '.' : 'functions'));
  const functions = await discoverFunctions(at('functions'));
  if (functions.length === 0) create(steps, dir, 'functions/hello.ts', HELLO);
  else steps.push({ file: 'functions/hello.ts', action: 'skipped', detail: `functions/ already has ${functions.map((f) => f.name).join(', ')}` });
  gitignore(steps, dir);
  create(steps, dir, 'README.md', readme(packageName(dir)));

  const usesOurDev = !pkg.kept.some((k) => k.entry === 'scripts.dev');
  const cd = path.relative(process.cwd(), dir);
  const next = `${cd === '' ? '' : `cd ${shellQuote(cd)} && `}npm install && ${usesOurDev ? 'npm run dev' : 'npx fnrun dev'}`;
  const text = [
    ...steps.map((s) => `${s.action.padEnd(8)} ${s.file}${s.detail ? ` (${s.detail})` : ''}`),
    '',
    `next: ${next}`,
    `then, from another terminal: ${cd === '' ? '' : `cd ${shellQuote(cd)} && `}${EXAMPLE_EMIT}`,
  ].join('\n');
  out.result({ dir, steps, next }, text);
  return 0;
}

/** Writes `file` unless it exists. */
function create(steps: Step[], dir: string, file: string, text: string): void {
  const full = path.join(dir, file);
  if (existsSync(full)) {
    steps.push({ file, action: 'skipped', detail: 'exists; not overwritten' });
    return;
  }
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, text, { flag: 'wx' });
  steps.push({ file, action: 'created' });
}

/** Creates .gitignore, or appends the lines it lacks. */
function gitignore(steps: Step[], dir: string): void {
  const file = path.join(dir, '.gitignore');
  if (!existsSync(file)) return create(steps, dir, '.gitignore', `${GITIGNORE_LINES.join('\n')}\n`);
  const text = readFileSync(file, 'utf8');
  const have = new Set(text.split(/\r?\n/).map((l) => l.trim().replace(/^\//, '')));
  const missing = GITIGNORE_LINES.filter((l) => !have.has(l) && !have.has(l.replace(/\/$/, '')));
  if (missing.length === 0) return;
  appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}${missing.join('\n')}\n`);
  steps.push({ file: '.gitignore', action: 'updated', detail: `added ${missing.join(', ')}` });
}

/** A valid npm package name from the folder's name. */
function packageName(dir: string): string {
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9._~-]+/g, '-').replace(/^[._-]+|-+$/g, '');
  return name === '' ? 'fnrun-app' : name.slice(0, 214);
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
