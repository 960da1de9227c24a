/**
 * How `fnrun dev` prints: readable lines (coloured on a terminal), or JSON lines with `--log json`.
 * Everything printed is escaped (escape.ts): errors and runtime messages can carry what producers
 * and handlers wrote.
 */
import { ConfigError, type Logger } from '../runtime/internal.ts';
import type { Palette } from './color.ts';
import { escapeControl } from './escape.ts';

/** `--log`, with `--json` as its short form. */
export function devLogFormat(log: string | undefined, json: boolean): 'pretty' | 'json' {
  if (json && log !== undefined && log !== 'json') throw new ConfigError(`--json means --log json; drop one of --json and --log ${log}`);
  const format = log ?? (json ? 'json' : 'pretty');
  if (format !== 'pretty' && format !== 'json') throw new ConfigError(`--log must be pretty or json, got ${JSON.stringify(format)}`);
  return format;
}

/** Invocation lines already say what happened; the runtime's own lines show only problems. */
export function quietRuntimeLogger(write: (line: string) => void, paint: Palette): Logger {
  const line = (level: 'warn' | 'error') => (obj: object, msg?: string) => {
    if ('eventId' in obj && !('err' in obj)) return; // handler logs and outcomes are printed per invocation
    const err = (obj as { err?: Error }).err;
    write(`${level === 'error' ? paint.red(level) : paint.yellow(level)}: ${escapeControl(`${msg ?? ''}${err ? ` — ${err.message}` : ''}`)}`);
  };
  return { debug: () => {}, info: () => {}, warn: line('warn'), error: line('error') };
}
