/** The server's shapes, imported as types only (nothing of the runtime is bundled). */
export type { FeedRecord } from '../../runtime/ops/feed/feed-record.ts';
export type { FunctionRow } from '../../runtime/ops/ui/function-rows.ts';
export type { StatusSample } from '../../runtime/ops/ui/status-history.ts';
export type { Status, FunctionStatus, PartitionStatus } from '../../runtime/ops/status-report.ts';
export type { DeadLetter } from '../../runtime/dead-letters/dead-letter-record.ts';
export type { PublishResult } from '../../runtime/events/publisher.ts';

/** What `api/live` says first. */
export interface Hello {
  mode: 'dev' | 'start';
  namespace: string;
  /** No token is configured on the server: nothing can be changed from this UI. */
  readOnly: boolean;
}
