/**
 * Entry of the worker thread that {@link BackgroundTypecheck} starts: it holds one
 * FunctionTypechecker (and so the last program) for the functions folder it was started for, and
 * answers one check at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FunctionTypechecker, type FunctionEntry } from './typecheck-program.ts';
import { loadTypeScript, noTypeScriptNote, type TypecheckOutcome } from './typecheck.ts';

/** What the host sends: check these functions. */
export interface CheckRequest {
  id: number;
  functions: FunctionEntry[];
}

/** What the worker answers. */
export type CheckAnswer = { id: number; outcome: TypecheckOutcome } | { id: number; error: string };

const { functionsDir } = workerData as { functionsDir: string };
const ts = await loadTypeScript(functionsDir);
const checker = ts === null ? null : new FunctionTypechecker(ts, functionsDir);

parentPort!.on('message', ({ id, functions }: CheckRequest) => {
  let answer: CheckAnswer;
  try {
    const outcome: TypecheckOutcome = checker === null
      ? { report: null, skipped: noTypeScriptNote(functionsDir) }
      : { report: checker.check(functions), skipped: null };
    answer = { id, outcome };
  } catch (error) {
    answer = { id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  parentPort!.postMessage(answer);
});
