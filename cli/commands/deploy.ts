/**
 * `fnrun deploy [--dir ./functions] [--only FN ...] [--dry-run]`.
 */
import path from 'node:path';
import { ConfigError, connectRedis, deployFunctions, type DeployRow, Keys, redactRedisUrl, Registry, resolvePartitions } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import { noFunctionsHint, requireFunctionsDir } from '../functions-dir.ts';
import type { Output } from '../output.ts';
import { formatTable } from '../table.ts';
import { checkFunctionTypes } from '../function-types.ts';

export const HELP = `Usage: fnrun deploy [--dir ./functions] [--only FN ...] [--dry-run]

Bundles every function in --dir, loads each in a sandbox to validate it (its manifest, and that
its top level runs), and stores the changed ones (by content hash) as a new version in the
registry in Redis; running fnrun start processes pick them up without a restart.

Each function stands alone: one that fails to build or validate is reported as failed (with the
file and line, or the manifest field) and uploads nothing; the others still deploy. The exit
code is 1 when any failed.

When the project has TypeScript, the functions are first type-checked as fnrun check does; a
function with type errors fails (file:line:column and the error) unless --no-typecheck.

Options:
  --dir DIR     the functions folder (default: ./functions)
  --only FN     deploy only FN; repeat it or give a comma list (--only a,b)
  --dry-run     build and validate, and report what would change; upload nothing
  --no-typecheck  do not type-check (deploy functions that have type errors)
${COMMON_HELP}`;

const OPTIONS = { dir: { type: 'string' }, only: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean' }, 'no-typecheck': { type: 'boolean' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])} (use --only FN to pick functions)`);
  const only = ((values.only as string[] | undefined) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const dryRun = values['dry-run'] === true;
  const dir = path.resolve((values.dir as string | undefined) ?? 'functions');
  requireFunctionsDir(dir);
  const url = await clientRedisUrl(common);
  const redis = await connectRedis(url, 'fnrun-cli');
  try {
    const keys = new Keys(common.namespace);
    // A real deploy creates each function's consumer groups (its cursor starts at the deploy), so
    // it fixes a new namespace's partition count, as fnrun start and publishers would.
    const partitions = dryRun ? null : await resolvePartitions(redis, keys, common.partitions);
    const types = values['no-typecheck'] === true ? null : await checkFunctionTypes(dir, only);
    for (const note of types?.notes ?? []) process.stderr.write(`note: ${note}\n`);
    const rows = await deployFunctions({ dir, registry: new Registry(redis, keys), only, dryRun, refused: types?.failures, ...(partitions === null ? {} : { streams: { redis, keys, partitions } }) });
    const target = `namespace "${keys.namespace}" of the Redis at ${redactRedisUrl(url)}`;
    out.result(rows, rows.length === 0 ? noFunctionsHint(dir) : `${report(rows, dryRun)}\n${dryRun ? 'checked against' : 'deployed to'} ${target}`);
    return rows.some((r) => r.status === 'failed') ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}

function report(rows: DeployRow[], dryRun: boolean): string {
  const version = (r: DeployRow) => {
    const from = r.from === null ? '-' : String(r.from);
    if (r.status === 'failed') return from;
    return r.status === 'unchanged' ? from : `${from} → ${r.to}`;
  };
  const table = formatTable(
    ['FUNCTION', 'VERSION', 'STATUS'],
    rows.map((r) => [r.function, version(r), r.status === 'failed' ? `failed: ${reason(r)}` : r.status]),
  );
  const warnings = rows.flatMap((r) => r.warnings.map((w) => `warning: ${r.function}: ${w}`));
  const count = (s: DeployRow['status']) => rows.filter((r) => r.status === s).length;
  const failed = count('failed');
  const summary = `${count('changed')} changed, ${count('unchanged')} unchanged, ${failed} failed` +
    (dryRun ? ' (dry run: nothing uploaded)' : failed > 0 ? ' (failed functions uploaded nothing; the others were deployed)' : '');
  return [table, ...warnings, summary].join('\n');
}

/** One line: the manifest fields, else the message (a bundle error's already has file:line:column). */
function reason(r: DeployRow): string {
  const fields = r.error?.fields;
  if (fields !== undefined) return `${r.file}: ${fields.map((f) => `${f.path || '(config)'}: ${f.message}`).join('; ')}`;
  return (r.error?.message ?? '').split('\n').join(' ');
}
