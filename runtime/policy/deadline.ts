/**
 * Deadlines on promises: one promise and one timer per call, no `Promise.race`. Every Redis command
 * a worker sends goes through here (about three per event at a trickle), and a race's extra
 * promises and reactions were a tenth of what the main process allocated per event.
 */

/**
 * `work`'s outcome, or, once `ms` passed first, what `timedOut` returns (or throws). The timer is
 * cleared either way; `work` itself runs on (a late rejection of it is handled here, not unhandled).
 */
export function withDeadline<T, U>(work: Promise<T>, ms: number, timedOut: () => U): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(timedOut());
      } catch (error) {
        reject(error);
      }
    }, ms);
    work.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error: unknown) => { clearTimeout(timer); reject(error); },
    );
  });
}

/** `work`'s outcome, or `'timeout'` once `ms` passed first. */
export function withinMs<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return withDeadline(work, ms, () => 'timeout' as const);
}
