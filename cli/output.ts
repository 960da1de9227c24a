/** How commands print: human lines, or one JSON document with --json. */
import { escapeControlLines, jsonLine } from './escape.ts';

export class Output {
  /** Set by a command once it parsed --json. */
  json = false;

  /**
   * Prints a result: `text` for people, `data` as JSON with --json. Neither ever holds a raw control
   * character (see escape.ts): commands escape each field of their own, and this is the last net.
   */
  result(data: unknown, text: string): void {
    process.stdout.write(this.json ? `${jsonLine(data)}\n` : `${escapeControlLines(text)}\n`);
  }

  help(text: string): number {
    process.stdout.write(`${text}\n`);
    return 0;
  }
}
