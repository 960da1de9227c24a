import { isatty } from 'node:tty';

/**
 * Long-running commands wait for SIGINT/SIGTERM, then drain. A drain that hangs must not keep the
 * process forever: after `limitMs` it exits 1, saying why (un-acked events are redelivered).
 */
export async function untilShutdownSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    // Our terminal went away: drain too, and stop what we started (the embedded Redis and the
    // sandbox run in process groups of their own, so the hangup does not reach them). Only with a
    // terminal: under nohup (stdin not a terminal) a hangup must not stop us.
    if (isatty(0)) process.once('SIGHUP', () => resolve());
  });
}

/** Arms the forced exit for a drain that takes longer than `limitMs`. */
export function forceExitAfter(limitMs: number, command: string, hint: string): void {
  const timer = setTimeout(() => {
    process.stderr.write(`fnrun ${command}: shutdown took over ${limitMs / 1000}s${hint}; exiting anyway — un-acked events will be redelivered\n`);
    process.exit(1);
  }, limitMs);
  timer.unref();
}
