/** How commands print: human lines, or one JSON document with --json. */
export class Output {
  /** Set by a command once it parsed --json. */
  json = false;

  /** Prints a result: `text` for people, `data` as JSON with --json. */
  result(data: unknown, text: string): void {
    process.stdout.write(this.json ? `${JSON.stringify(data)}\n` : `${text}\n`);
  }

  help(text: string): number {
    process.stdout.write(`${text}\n`);
    return 0;
  }
}
