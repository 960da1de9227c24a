/**
 * `work`'s outcome, or `'timeout'` once `ms` passed first. The timer is cleared either way; `work`
 * itself runs on (a late rejection of it is handled here, not unhandled).
 *
 * One promise and one timer per call, no `Promise.race`: every Redis command a worker sends goes
 * through here (about three per event at a trickle), and the race's extra promises and reactions
 * were a tenth of what the main process allocated per event.
 */
export function withinMs<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return new Promise<T | 'timeout'>((resolve, reject) => {
    const timer = setTimeout(resolve, ms, 'timeout');
    work.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error: unknown) => { clearTimeout(timer); reject(error); },
    );
  });
}
