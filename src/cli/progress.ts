/**
 * A one-line progress bar for a TTY (redrawn in place with \r); on anything else, a plain line
 * now and then, so logs of CI runs stay readable.
 */
export interface ProgressBar {
  update(done: number, total: number, note?: string): void;
  finish(line: string): void;
}

export function progressBar(stream: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): unknown; columns?: number }, label: string): ProgressBar {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  return {
    update(done, total, note) {
      const pct = total > 0 ? Math.min(1, done / total) : 1;
      const text = `${label} ${done}/${total}${note ? ` ${note}` : ''}`;
      if (tty) {
        const width = Math.max(10, Math.min(40, ((stream as { columns?: number }).columns ?? 80) - text.length - 10));
        const filled = Math.round(pct * width);
        stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(pct * 100).toFixed(0).padStart(3)}% ${text}\x1b[K`);
      } else if (Date.now() - lastPlain >= 5000) {
        lastPlain = Date.now();
        stream.write(`${text} (${(pct * 100).toFixed(0)}%)\n`);
      }
    },
    finish(line) {
      stream.write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    },
  };
}
