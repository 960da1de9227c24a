/**
 * What a Redis error reply means for fnrun, in one place: every check of an error's text is here.
 */

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Our own scripts refused the write: this process no longer holds the partition's lease, or Redis lost an earlier commit ({@link isLostCommit}). */
export function isFenced(error: unknown): boolean {
  return messageOf(error).startsWith('FENCED');
}

/** The commit script refused a commit because Redis lost the one its worker made before (a failover, a restart without fsync). */
export function isLostCommit(error: unknown): boolean {
  return messageOf(error).startsWith('FENCED LOSTCOMMIT');
}

/** The stream or consumer group does not exist (deleted, or Redis came back without its data). */
export function isNoGroup(error: unknown): boolean {
  return messageOf(error).includes('NOGROUP');
}

/** XGROUP CREATE of a group that exists: success for us. */
export function isBusyGroup(error: unknown): boolean {
  return messageOf(error).includes('BUSYGROUP');
}

/** A command on a key that does not exist, where that means "nothing to do". */
export function isNoSuchKey(error: unknown): boolean {
  return messageOf(error).includes('no such key');
}

/** A demoted primary refusing writes: reconnect, asking the Sentinels again. */
export function isReadOnly(error: unknown): boolean {
  return messageOf(error).startsWith('READONLY');
}
