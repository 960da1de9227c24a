/**
 * The package.json part of `fnrun init`: what a project needs to run fnrun (scripts, dev
 * dependencies, Node 24), added to an existing package.json without changing what is there.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, PACKAGE_ROOT } from '../runtime/internal.ts';

type Json = Record<string, unknown>;

/** What init added to, and left alone in, a package.json. */
export interface PackageChanges {
  text: string;
  added: string[];
  /** Entries already set to something else, kept: `{ entry: 'scripts.start', value: 'node server.js' }`. */
  kept: { entry: string; value: string }[];
}

/** The project's package.json with fnrun's entries added; nothing already there changes. */
export function mergePackageJson(existing: string | null, fields: { name: string; typecheck: string }): PackageChanges {
  let pkg: Json;
  try {
    pkg = existing === null ? {} : (JSON.parse(existing) as Json);
  } catch (error) {
    throw new ConfigError(`package.json is not valid JSON (${(error as Error).message}); fix it and run fnrun init again`);
  }
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) throw new ConfigError('package.json is not a JSON object; fix it and run fnrun init again');
  const changes: PackageChanges = { text: '', added: [], kept: [] };
  if (existing === null) Object.assign(pkg, { name: fields.name, version: '0.1.0', private: true, type: 'module' });
  const scripts = { dev: 'fnrun dev', deploy: 'fnrun deploy', start: 'fnrun start', typecheck: fields.typecheck };
  const devDependencies = { fnrun: fnrunSpec(), node: '^24', typescript: '^5.9.3' };
  merge(pkg, 'scripts', scripts, changes);
  merge(pkg, 'devDependencies', devDependencies, changes, (name) => hasDependency(pkg, name));
  merge(pkg, 'engines', { node: '>=24' }, changes);
  // For the project itself, npm then skips checking \`engines\` against the Node that runs npm: the
  // project runs on the Node 24 of its \`node\` dependency, whatever the machine's Node is.
  merge(pkg, 'devEngines', { runtime: { name: 'node', version: '>=24', onFail: 'ignore' } }, changes);
  // npm 11 asks projects to list the dependencies allowed to run install scripts: these need theirs
  // (node fetches its binary; esbuild and isolated-vm check their native parts).
  merge(pkg, 'allowScripts', { node: true, esbuild: true, 'isolated-vm': true }, changes);
  changes.text = `${JSON.stringify(pkg, null, indentOf(existing))}\n`;
  return changes;
}

/** Adds the missing keys of `wanted` to `pkg[field]`; a key already set is kept as it is. */
function merge(pkg: Json, field: string, wanted: Record<string, unknown>, changes: PackageChanges, present = (_key: string) => false): void {
  const current = pkg[field];
  if (current !== undefined && (typeof current !== 'object' || current === null || Array.isArray(current))) {
    changes.kept.push({ entry: field, value: 'not an object' });
    return;
  }
  const target = (current ?? {}) as Json;
  for (const [key, value] of Object.entries(wanted)) {
    if (key in target || present(key)) {
      if (target[key] !== value) changes.kept.push({ entry: `${field}.${key}`, value: typeof target[key] === 'string' ? target[key] : JSON.stringify(target[key]) });
      continue;
    }
    target[key] = value;
    changes.added.push(`${field}.${key}`);
  }
  pkg[field] = target;
}

function hasDependency(pkg: Json, name: string): boolean {
  return ['dependencies', 'optionalDependencies', 'peerDependencies'].some((field) => {
    const deps = pkg[field];
    return typeof deps === 'object' && deps !== null && name in deps;
  });
}

function indentOf(text: string | null): string | number {
  const match = text === null ? null : /^[{[]\r?\n([ \t]+)/.exec(text);
  return match?.[1] ?? 2;
}

/**
 * The dependency spec that installs the fnrun running this command: a version range when it came
 * from the registry, else where it came from (the tarball or folder npm installed it from, the
 * installed package itself, or this checkout), so that `npm install` in the new project works
 * before fnrun is published, or with a build of one's own.
 */
export function fnrunSpec(): string {
  const root = path.resolve(PACKAGE_ROOT);
  const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = root.lastIndexOf(marker);
  if (at === -1) return `file:${root}`; // a checkout of fnrun (or an npm link to one)
  const project = root.slice(0, at);
  const lockPath = path.relative(project, root).split(path.sep).join('/');
  for (const lock of ['package-lock.json', 'node_modules/.package-lock.json', 'npm-shrinkwrap.json']) {
    const file = path.join(project, lock);
    if (!existsSync(file)) continue;
    const entry = lockEntry(file, lockPath);
    if (entry === null) continue;
    const resolved = typeof entry.resolved === 'string' ? entry.resolved : null;
    if (resolved === null) break;
    if (/^https?:\/\/.*\/fnrun\/-\/fnrun-[^/]+\.tgz$/.test(resolved)) return `^${version}`;
    if (/^(git\+|https?:|github:)/.test(resolved)) return resolved;
    return `file:${path.resolve(project, resolved.replace(/^file:/, ''))}`;
  }
  return `file:${root}`; // a global install, or one without a lock file: this very package
}

function lockEntry(file: string, key: string): { resolved?: unknown } | null {
  try {
    const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages?: Record<string, { resolved?: unknown }> };
    return lock.packages?.[key] ?? null;
  } catch {
    return null;
  }
}
