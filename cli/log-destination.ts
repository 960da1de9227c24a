/**
 * Where `fnrun start` and `fnrun dev --log json` write their JSON log lines: stdout, synchronously
 * (the last lines before an exit are not lost), with DEL and the C1 controls escaped — pino's JSON
 * leaves them raw, and handler log lines reach operators' terminals (see escape.ts).
 */
import { pino } from 'pino';
import { escapeJsonText } from './escape.ts';

/** A pino destination: stdout, synchronous, escaped. */
export function escapedStdout(): { write(line: string): void } {
  const out = pino.destination({ dest: 1, sync: true });
  return { write: (line: string) => { out.write(escapeJsonText(line)); } };
}
