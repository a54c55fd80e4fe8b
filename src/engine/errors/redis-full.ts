/**
 * Whether Redis refused a write for lack of memory (maxmemory with noeviction): an OOM reply, or a
 * transaction it discarded because a queued command got one (EXECABORT, with the OOM among
 * ioredis' previousErrors). A script's first write gets the OOM reply too, and then the script
 * has changed nothing, so the same write can simply be sent again once Redis has room. The API
 * answers it 503 STORAGE_FULL; a worker holds a finished command's outcome and writes it again.
 */
export function isRedisFull(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  const messages = [
    error.message,
    ...(Array.isArray(previous) ? previous.map((e) => String((e as Error)?.message)) : []),
  ];
  return messages.some((message) => /^OOM |\bOOM command not allowed\b/.test(message));
}
