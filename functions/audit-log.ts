/**
 * Example: a catch-all in the `notifications` group, after notify-subscribers. `**` matches every
 * event type; old events go straight to the dead letters instead of being retried.
 */
import type { Context, FnEvent } from 'fnrun';

export const config = {
  events: ['thread.**', 'post.**'],
  group: { name: 'notifications', mode: 'sequential', order: 2 },
  maxEventAgeMs: 24 * 60 * 60 * 1000,
  deadLetter: true,
};

export default function handler(event: FnEvent, ctx: Context) {
  ctx.log.info(`${event.type} key=${event.key} attempt=${ctx.attempt}`);
}
