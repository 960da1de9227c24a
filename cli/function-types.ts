/**
 * Type-checks the functions of a folder for `fnrun check` and `fnrun deploy` (see
 * runtime/loading/typecheck.ts: the project's own TypeScript and tsconfig.json decide).
 */
import path from 'node:path';
import { discoverFunctions, TypecheckError, typecheckFunctions, type TypeIssue, uncoveredNote } from '../runtime/internal.ts';

export interface FunctionTypes {
  /** Each checked function's errors (an empty list: none). */
  checked: Record<string, TypeIssue[]>;
  /** The functions with errors, as the errors a deploy reports them with. */
  failures: Map<string, TypecheckError>;
  /** Why some or all functions were not checked (one line each). */
  notes: string[];
}

/** Checks every function of `dir`, or those named in `only`. */
export async function checkFunctionTypes(dir: string, only: readonly string[] = []): Promise<FunctionTypes> {
  const root = path.dirname(path.resolve(dir));
  const functions = (await discoverFunctions(dir)).filter((f) => only.length === 0 || only.includes(f.name));
  const result: FunctionTypes = { checked: {}, failures: new Map(), notes: [] };
  if (functions.length === 0) return result;
  const outcome = await typecheckFunctions(dir, functions);
  if (outcome.report === null) {
    result.notes.push(outcome.skipped);
    return result;
  }
  const note = uncoveredNote(outcome.report, dir);
  if (note !== null) result.notes.push(note);
  result.checked = outcome.report.functions;
  for (const fn of functions) {
    const issues = outcome.report.functions[fn.name];
    if (issues === undefined || issues.length === 0) continue;
    result.failures.set(fn.name, new TypecheckError(path.relative(root, fn.entry).split(path.sep).join('/'), issues));
  }
  return result;
}
