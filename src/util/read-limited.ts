/**
 * Reads a WHATWG byte stream into one buffer, at most `limit` bytes: beyond it the stream is
 * cancelled (so a hostile peer's remaining bytes are never read) and `tooLarge()` is thrown.
 * Other read failures propagate for the caller to translate. When `signal` aborts (a deadline)
 * the stream is cancelled and the read rejects with the signal's reason.
 */
export async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number, tooLarge: () => Error, signal?: AbortSignal): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  let onAbort: (() => void) | undefined;
  const aborted = signal
    ? new Promise<never>((_, reject) => {
        onAbort = () => {
          void reader.cancel().catch(() => undefined);
          reject(signal.reason);
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      })
    : undefined;
  aborted?.catch(() => undefined);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await (aborted ? Promise.race([reader.read(), aborted]) : reader.read());
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        void reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(value);
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}
