/**
 * `fnrun check [--dir ./functions] [FN ...]`: type-checks the functions with the project's
 * TypeScript and tsconfig.json, as `fnrun deploy` does before it ships them.
 */
import path from 'node:path';
import { ConfigError, formatTypeIssue } from '../../runtime/internal.ts';
import { checkFunctionTypes } from '../function-types.ts';
import { COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun check [--dir ./functions] [FN ...]

Type-checks every function in --dir (or the ones named) with the TypeScript installed in the
project and the tsconfig.json that includes the functions, and prints each error as
file:line:column. Exit code 1 when there is any, or when nothing could be checked (no TypeScript
in the project, or no tsconfig.json that includes the functions). fnrun deploy runs the same check
and refuses a function with type errors; fnrun dev runs it on every save and warns.

Options:
  --dir DIR     the functions folder (default: ./functions)
${COMMON_HELP}`;

const OPTIONS = { dir: { type: 'string' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  const dir = path.resolve((values.dir as string | undefined) ?? 'functions');
  const result = await checkFunctionTypes(dir, positionals);
  const names = Object.keys(result.checked);
  if (names.length === 0) throw new ConfigError(result.notes[0] ?? `no functions found in ${dir}`);
  const failed = [...result.failures.values()];
  const issues = failed.reduce((n, e) => n + e.issues.length, 0);
  const lines = [
    ...failed.flatMap((e) => e.issues.map(formatTypeIssue)),
    ...result.notes.map((n) => `note: ${n}`),
    issues === 0
      ? `${names.length} function${names.length === 1 ? '' : 's'} checked: no type errors`
      : `${issues} type error${issues === 1 ? '' : 's'} in ${failed.length} of ${names.length} function${names.length === 1 ? '' : 's'}`,
  ];
  out.result({ functions: result.checked, notes: result.notes }, lines.join('\n'));
  return issues === 0 && result.notes.length === 0 ? 0 : 1;
}
