/** Text from files, answers and errors made safe to print on one terminal line. */

/** Control characters escaped, bounded length (a hostile file must not drive the terminal). */
export function printable(s: string, max = 300): string {
  const escaped = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/** The first line of an error's message, printable. */
export const errorMessage = (err: unknown): string => printable(err instanceof Error ? err.message.split('\n')[0]! : String(err));
