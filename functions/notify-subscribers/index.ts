/**
 * Example: the typed `defineFunction` form, in a folder (index.ts plus its own modules).
 * Shares the `notifications` group with audit-log: one cursor, run in declared order per event.
 */
import { defineFunction } from 'fnrun';
import { renderMessage } from './render.ts';

export default defineFunction<{ posts: number; lastPostId: string; lastAuthor: string }>({
  events: ['thread.updated'],
  group: { name: 'notifications', mode: 'sequential', order: 1 },
  // To read a host variable, a function lists it (env: ['NOTIFY_CHANNEL']) and the operator
  // allows it: fnrun dev --allow-env NOTIFY_CHANNEL (or --env-file); unlisted, it is undefined.
  async handler(event, ctx) {
    const channel = ctx.env.NOTIFY_CHANNEL ?? 'general';
    console.log(`#${channel}:`, renderMessage(event.key ?? 'unknown', event.data.lastAuthor, event.data.posts));
  },
});
