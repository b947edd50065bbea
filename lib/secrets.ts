/**
 * Keeping secrets out of messages, logs and `util.inspect`.
 *
 * Passwords reach us in URLs (`redis://user:pass@host`) and in options (`password`, TLS keys). Every message we
 * build, and every message of an error we pass on, goes through `redact`, which masks URL credentials and any
 * secret a manager has registered.
 */
const MASK = '***';

/** Secrets seen in managers' options, masked wherever they appear in text. Only non-trivial ones are kept. */
const known = new Set<string>();
let knownPattern: RegExp | undefined;

export function registerSecret(secret: unknown): void {
  if (typeof secret !== 'string' || secret.length < 4 || known.has(secret)) return;
  known.add(secret);
  // Longest first, so a secret that contains another is masked whole.
  const alternatives = [...known]
    .sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  knownPattern = new RegExp(alternatives.join('|'), 'g');
}

// scheme://userinfo@  — the userinfo is everything up to the LAST '@' before the path, so a raw '@' in a
// password does not leak its tail.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/** Mask URL credentials and registered secrets in a piece of text. */
export function redact(text: string): string {
  let out = text.replace(URL_CREDENTIALS, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    const user = colon === -1 ? '' : userinfo.slice(0, colon);
    return `${scheme}${user}${userinfo.length ? ':' + MASK : ''}@`;
  });
  if (knownPattern) out = out.replace(knownPattern, MASK);
  return out;
}

/** Copy an error with every message masked (node-redis errors can quote URLs). */
export function redactError<E>(err: E): E {
  if (err instanceof Error) {
    const masked = redact(err.message);
    if (masked !== err.message) {
      err.message = masked;
      if (err.stack) err.stack = redact(err.stack);
    }
    const input = (err as { input?: unknown }).input;
    if (typeof input === 'string') (err as { input?: unknown }).input = redact(input);
  }
  return err;
}
