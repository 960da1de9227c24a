/**
 * `fnrun dev`'s type checking: each function that (re)loads is type-checked in the background and
 * its errors are printed as a warning while the new code runs (as Vite's checker plugin does); a
 * function whose errors are gone says so once.
 */
import { BackgroundTypecheck, type DevSessionEvents, formatTypeIssue, type TypecheckOutcome, type TypeIssue, uncoveredNote } from '../runtime/internal.ts';

/** Prints one notice: `data` as a JSON line with --log json, else `text`. */
export type Notice = (data: object, text: string) => void;

export class DevTypecheck {
  readonly #checker: BackgroundTypecheck;
  readonly #notice: Notice;
  readonly #failing = new Set<string>();
  readonly #noted = new Set<string>();

  constructor(functionsDir: string, notice: Notice) {
    this.#notice = notice;
    this.#checker = new BackgroundTypecheck(functionsDir, (outcome) => this.#report(outcome, functionsDir), (error) => {
      notice({ kind: 'typecheck', error: error.message }, `warn: type-checking stopped: ${error.message}`);
    });
  }

  /** `events`, plus a type check of every function that loads. */
  watch(events: DevSessionEvents): DevSessionEvents {
    return {
      ...events,
      loaded: (fn, info) => {
        events.loaded(fn, info);
        this.#checker.request(fn.name);
      },
      removed: (name) => {
        this.#failing.delete(name);
        events.removed(name);
      },
    };
  }

  stop(): Promise<void> {
    return this.#checker.stop();
  }

  #report(outcome: TypecheckOutcome, functionsDir: string): void {
    if (outcome.report === null) return this.#once({ kind: 'typecheck', skipped: outcome.skipped }, `note: ${outcome.skipped}`);
    const note = uncoveredNote(outcome.report, functionsDir);
    if (note !== null) this.#once({ kind: 'typecheck', skipped: note, functions: outcome.report.uncovered }, `note: ${note}`);
    for (const [name, issues] of Object.entries(outcome.report.functions)) {
      const data = { kind: 'typecheck', function: name, issues };
      if (issues.length > 0) {
        this.#failing.add(name);
        this.#notice(data, warning(name, issues));
      } else if (this.#failing.delete(name)) {
        this.#notice(data, `✓ ${name}: no type errors now`);
      }
    }
  }

  /** A note is printed the first time only (they repeat with every check). */
  #once(data: object, text: string): void {
    if (this.#noted.has(text)) return;
    this.#noted.add(text);
    this.#notice(data, text);
  }
}

function warning(name: string, issues: readonly TypeIssue[]): string {
  const count = `${issues.length} type error${issues.length === 1 ? '' : 's'}`;
  return `⚠ ${name}: ${count} (the new code runs anyway):\n${issues.map((i) => `  ${formatTypeIssue(i)}`).join('\n')}`;
}
