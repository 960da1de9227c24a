/**
 * The functions folder of `dev` and `deploy`: a missing one is an error that says how to get one,
 * an empty one a notice that says what to put there.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../runtime/internal.ts';

function shown(dir: string): string {
  return path.relative(process.cwd(), dir) || '.';
}

/** Throws a ConfigError when `dir` is not a folder, saying how to make or name one. */
export function requireFunctionsDir(dir: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    throw new ConfigError(`no functions folder at ${shown(dir)}: create one with fnrun init (an example function in functions/), or point --dir at your functions`);
  }
  if (!isDirectory) throw new ConfigError(`${shown(dir)} is a file, not a functions folder: point --dir at the folder that holds your functions`);
}

/** What to say when `dir` holds no function. */
export function noFunctionsHint(dir: string): string {
  return `no functions in ${shown(dir)}: add one (a file such as ${path.join(shown(dir), 'hello.ts')} exporting config and a handler; ` +
    'fnrun init writes an example), or point --dir at your functions';
}
