/**
 * `fnrun deploy` as a library call: finds the functions of a folder, bundles each, validates it by
 * loading it in a sandbox, and stores the changed ones in the registry. Each function stands
 * alone: one that fails to build, load or validate is reported and uploads nothing; the others
 * still deploy.
 */
import path from 'node:path';
import { bundleFunction, type FunctionBundle } from '../loading/bundler.ts';
import { discoverFunctions } from '../loading/discover.ts';
import { BundleError, ConfigError, FnrunError, ManifestError, TypecheckError, type ManifestIssue, type TypeIssue } from '../errors.ts';
import { resolveGroups, type GroupMember } from '../policy/group-owners.ts';
import { loadFunction } from '../loading/function-loader.ts';
import { EnvAccess } from '../loading/env-policy.ts';
import type { FunctionSummary, Registry } from './registry.ts';
import { SandboxHost } from '../sandbox/host/host.ts';
import type { Manifest } from '../types.ts';
import type { Redis } from '../redis/redis.ts';
import type { Keys } from '../redis/keys.ts';
import { consumerGroupOf, ensureConsumerGroups } from '../redis/consumer-groups.ts';

export interface DeployOptions {
  /** The functions folder. Source paths are stored relative to the folder above it. */
  dir: string;
  registry: Registry;
  /** Deploy only these functions. @defaultValue every function in `dir` */
  only?: readonly string[];
  /** Build and validate, and report what would change, without uploading. @defaultValue false */
  dryRun?: boolean;
  /** Where to create a deployed function's consumer groups, so its cursor starts at the deploy. */
  streams?: { redis: Redis; keys: Keys; partitions: number };
  /** Functions to report as failed with these errors, without building them (a type check refused them). */
  refused?: ReadonlyMap<string, FnrunError>;
}

/** The outcome for one function. */
export interface DeployRow {
  function: string;
  /** The entry file, relative to the folder above the functions folder (`functions/hello.ts`). */
  file: string;
  status: 'changed' | 'unchanged' | 'failed';
  /** The version active before (null: none). A failed function's stays active. */
  from: number | null;
  /** The version active after; with `dryRun`, the number a deploy would give. Null when failed. */
  to: number | null;
  hash: string | null;
  dryRun: boolean;
  /**
   * Why it failed: a bundle or type error's `location` (file:line:column of the first), a
   * manifest's `fields`, a type check's `types`.
   */
  error?: { code: string; message: string; location?: string; fields?: readonly ManifestIssue[]; types?: readonly TypeIssue[] };
  /** esbuild warnings (they do not fail the deploy). */
  warnings: string[];
}

type Built = { bundle: FunctionBundle; manifest: Manifest } | { error: FnrunError; file: string };

/** Deploys the functions of `opts.dir`; resolves with one row per function, sorted by name. */
export async function deployFunctions(opts: DeployOptions): Promise<DeployRow[]> {
  const root = path.dirname(path.resolve(opts.dir));
  const functions = select(await discoverFunctions(opts.dir), opts.only, opts.dir);
  const sandbox = new SandboxHost();
  let built: Built[];
  try {
    await sandbox.start();
    built = await Promise.all(functions.map((fn) => {
      const refused = opts.refused?.get(fn.name);
      return refused === undefined ? build(sandbox, fn.name, fn.entry, root) : { error: refused, file: relativeTo(root, fn.entry) };
    }));
  } finally {
    await sandbox.stop();
  }
  const deployed = await opts.registry.list();
  const groupWarnings = checkGroups(built, deployed);
  const rows: DeployRow[] = [];
  for (const [i, b] of built.entries()) {
    if ('error' in b) {
      const name = functions[i]!.name;
      rows.push(failedRow(name, b.file, b.error, deployed.find((d) => d.name === name)?.active ?? null, opts.dryRun === true));
      continue;
    }
    const base = { function: b.bundle.name, file: b.bundle.entry, hash: b.bundle.hash, dryRun: opts.dryRun === true, warnings: [...b.bundle.warnings, ...(groupWarnings.get(b.bundle.name) ?? [])] };
    if (opts.dryRun) {
      const current = deployed.find((d) => d.name === b.bundle.name);
      const unchanged = current?.hash === b.bundle.hash;
      const to = unchanged ? current!.active : (current?.versions[0] ?? 0) + 1;
      rows.push({ ...base, status: unchanged ? 'unchanged' : 'changed', from: current?.active ?? null, to });
    } else {
      if (opts.streams) await ensureConsumerGroups(opts.streams.redis, opts.streams.keys, opts.streams.partitions, consumerGroupOf(b.bundle.name, b.manifest.group), b.manifest.startFrom);
      const result = await opts.registry.deploy(b.bundle, b.manifest);
      rows.push({ ...base, status: result.status, from: result.from, to: result.to });
    }
  }
  return rows;
}

function select<F extends { name: string }>(found: F[], only: readonly string[] | undefined, dir: string): F[] {
  if (only === undefined || only.length === 0) return found;
  const unknown = only.filter((name) => !found.some((f) => f.name === name));
  if (unknown.length > 0) {
    throw new ConfigError(`no function named ${unknown.map((n) => `"${n}"`).join(', ')} in ${dir} (found: ${found.map((f) => f.name).join(', ') || 'none'})`);
  }
  return found.filter((f) => only.includes(f.name));
}

/** Bundles one function and loads it in the sandbox, which validates its manifest. */
async function build(sandbox: SandboxHost, name: string, entry: string, root: string): Promise<Built> {
  // Stored and reported relative to `root`, so that where the deploy runs changes neither.
  const file = relativeTo(root, entry);
  try {
    const bundle = { ...(await bundleFunction({ name, entry, root })), entry: file };
    // No host environment: validation must not depend on (or see) the deploying machine's, and
    // which names a function may read is for the operator of `fnrun start` to allow.
    const handle = await loadFunction(sandbox, bundle, `deploy-${bundle.hash.slice(0, 12)}`, EnvAccess.forValidation());
    await sandbox.unload(handle.sandboxId);
    return { bundle, manifest: handle.manifest };
  } catch (error) {
    // Only the function's own faults are per-function; a broken sandbox fails the whole deploy.
    if (error instanceof FnrunError && error.userError) return { error, file };
    throw error;
  }
}

/**
 * A shared group's owner is the member that joined it first (README "Consumer groups"): deployed
 * members keep their registry order, and the functions that join in this deploy come after them,
 * in the order it stores them (by name). A function whose manifest conflicts with its group's owner
 * fails, naming both. A new version of an owner that no longer fits deployed members deploys, with
 * a warning that they stop running. Returns those warnings by function.
 *
 * Two deploys racing can both pass this check; the runtimes then decide from the registry.
 */
function checkGroups(built: Built[], deployed: FunctionSummary[]): Map<string, string[]> {
  const replaced = new Set(built.flatMap((b) => ('bundle' in b ? [b.bundle.name] : [])));
  const members: GroupMember[] = deployed.filter((d) => !replaced.has(d.name)).map((d) => ({ name: d.name, manifest: d.manifest, rank: d.joinOrder }));
  const candidates = new Map<string, number>();
  let next = Math.max(0, ...deployed.map((d) => d.joinOrder)) + 1;
  built.forEach((b, i) => {
    if (!('bundle' in b)) return;
    const current = deployed.find((d) => d.name === b.bundle.name);
    const stays = current !== undefined && (current.manifest.group?.name ?? null) === (b.manifest.group?.name ?? null);
    members.push({ name: b.bundle.name, manifest: b.manifest, rank: stays ? current.joinOrder : next++, file: b.bundle.entry });
    candidates.set(b.bundle.name, i);
  });
  const { groups, refused } = resolveGroups(members);
  const warnings = new Map<string, string[]>();
  for (const [name, conflict] of refused) {
    const i = candidates.get(name);
    if (i !== undefined) {
      built[i] = { error: conflict, file: (built[i] as { bundle: FunctionBundle }).bundle.entry };
      continue;
    }
    const owner = groups.find((g) => g.name === conflict.group)!.owner;
    if (!candidates.has(owner)) continue; // the deployed state conflicts already; the runtimes refuse it
    const list = warnings.get(owner) ?? [];
    list.push(`deployed function "${name}" does not fit this version of group "${conflict.group}"'s owner and stops running: ${conflict.issues.map((x) => `${x.path}: ${x.message}`).join('; ')}`);
    warnings.set(owner, list);
  }
  return warnings;
}

function failedRow(name: string, file: string, error: FnrunError, active: number | null, dryRun: boolean): DeployRow {
  const detail: DeployRow['error'] = { code: error.code, message: error.message };
  if (error instanceof BundleError && error.location !== undefined) detail.location = error.location;
  if (error instanceof ManifestError) detail.fields = error.issues;
  if (error instanceof TypecheckError) {
    detail.types = error.issues;
    const first = error.issues.find((i) => i.file !== null);
    if (first !== undefined) detail.location = `${first.file}:${first.line}:${first.column}`;
  }
  return { function: name, file, status: 'failed', from: active, to: null, hash: null, dryRun, error: detail, warnings: [] };
}

function relativeTo(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}
