/**
 * Keeping the connection string's credentials out of every message: vendor errors and warnings
 * repeat the URL they were given, userinfo included.
 */

/** Replaces every secret, and any URL userinfo, in a vendor message; then truncates it. */
export function redact(message: string, secrets: readonly string[] = [], maxLength = 200): string {
  let out = message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, '$1***@');
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}

/** The credentials of a connection string (userinfo, user, password, decoded forms), to keep them out of messages. */
export function secretsOf(connectionString: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(connectionString);
  if (!m || !m[1]) return [];
  const userinfo = m[1];
  const out = new Set<string>([userinfo]);
  const colon = userinfo.indexOf(':');
  const password = colon >= 0 ? userinfo.slice(colon + 1) : '';
  if (password) {
    out.add(password);
    try {
      out.add(decodeURIComponent(password));
    } catch {
      /* not percent-encoded */
    }
  }
  // Longest first, so a password inside the userinfo is never half-replaced.
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}
