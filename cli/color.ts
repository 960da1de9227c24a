/**
 * Colours for terminal output. On when the stream is a terminal (and TERM is not `dumb`), off with
 * `--no-color` or a non-empty `NO_COLOR` (https://no-color.org); `FORCE_COLOR` (not `0`) turns
 * them on where there is no terminal. The flag wins over both variables.
 */

/** Wraps text in one SGR colour each; identity functions when colours are off. */
export interface Palette {
  readonly enabled: boolean;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
  dim(text: string): string;
}

/** Whether to colour what goes to `stream`. */
export function colorEnabled(stream: { isTTY?: boolean }, noColorFlag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** A palette that colours when `enabled`. */
export function palette(enabled: boolean): Palette {
  const sgr = (code: number) => (text: string) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
  return { enabled, green: sgr(32), yellow: sgr(33), red: sgr(31), dim: sgr(2) };
}
