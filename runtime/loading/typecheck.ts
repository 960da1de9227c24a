/**
 * Type-checking functions, when the user's project has TypeScript. fnrun does not bring its own
 * compiler: the project's `typescript` (resolved from the functions folder, as the project's own
 * `tsc` would be) and its tsconfig.json decide, so `fnrun check`, `fnrun deploy` and `fnrun dev`
 * report what the user's editor and `tsc` report. Without TypeScript, or without a tsconfig.json
 * that includes the functions, nothing is checked and the result says why, in one line.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FunctionTypechecker, type FunctionEntry, type TypecheckReport, type TypeScript } from './typecheck-program.ts';

export type { FunctionEntry, TypecheckReport } from './typecheck-program.ts';

/** A check that ran (`report`), or why none did (`skipped`, one line). */
export type TypecheckOutcome = { report: TypecheckReport; skipped: null } | { report: null; skipped: string };

/** The project's `typescript`, resolved from `functionsDir` upwards; null when it has none. */
export async function loadTypeScript(functionsDir: string): Promise<TypeScript | null> {
  let resolved: string;
  try {
    resolved = createRequire(path.join(path.resolve(functionsDir), 'noop.js')).resolve('typescript');
  } catch {
    return null;
  }
  const mod = (await import(pathToFileURL(resolved).href)) as { default?: TypeScript } & TypeScript;
  return mod.default ?? mod;
}

/** Why nothing was checked, when TypeScript is missing. */
export function noTypeScriptNote(functionsDir: string): string {
  const project = path.relative(process.cwd(), path.dirname(path.resolve(functionsDir))) || '.';
  return `type-checking skipped: TypeScript is not installed in this project (${project}); add it with npm i -D typescript`;
}

/** One line for functions no tsconfig.json includes, or null when every function was checked. */
export function uncoveredNote(report: TypecheckReport, functionsDir: string): string | null {
  if (report.uncovered.length === 0) return null;
  const dir = path.relative(process.cwd(), path.resolve(functionsDir)) || '.';
  return `type-checking skipped for ${report.uncovered.join(', ')}: no tsconfig.json includes ${dir} ` +
    '(fnrun init writes one; a tsconfig.json above it must list it in "include")';
}

/** Type-checks `functions` of `functionsDir` once (for `fnrun check` and `fnrun deploy`). */
export async function typecheckFunctions(functionsDir: string, functions: readonly FunctionEntry[]): Promise<TypecheckOutcome> {
  const ts = await loadTypeScript(functionsDir);
  if (ts === null) return { report: null, skipped: noTypeScriptNote(functionsDir) };
  return { report: new FunctionTypechecker(ts, functionsDir).check(functions), skipped: null };
}
