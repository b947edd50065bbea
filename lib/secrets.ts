/**
 * Keeping secrets out of messages, logs and `util.inspect`.
 *
 * Passwords reach us in URLs (`redis://user:pass@host`) and in options (`password`, TLS keys). Masking works by
 * structure, not by hoping a regex matches:
 * - a connection string is shown only as what parses out of it (`showConnectionString`), with the password
 *   replaced; one that does not parse, or whose parts are ambiguous, is never shown at all;
 * - free text (an error message of node-redis) has URL credentials masked up to the last `@` of the URL;
 * - each manager keeps the secrets of its own options (`Secrets`) and masks them in the messages it builds; they
 *   go with the manager (no process-wide list that only grows).
 */
const MASK = '***';

/** Option keys whose values are secrets, wherever they appear in `meta` (v3 and v6 names, TLS). */
const SECRET_KEYS = new Set(['password', 'pass', 'auth_pass', 'passphrase', 'key', 'pfx']);

/** The secrets of one manager: masked in every message built about it. */
export class Secrets {
  readonly #known = new Set<string>();
  #pattern: RegExp | undefined;

  /** Keep `secret` (strings of 4 characters or more; shorter ones would mask ordinary words). */
  add(secret: unknown): void {
    if (Buffer.isBuffer(secret)) secret = secret.toString();
    if (typeof secret !== 'string' || secret.length < 4 || this.#known.has(secret)) return;
    this.#known.add(secret);
    // Longest first, so a secret that contains another is masked whole.
    const alternatives = [...this.#known]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.#pattern = new RegExp(alternatives.join('|'), 'g');
  }

  /** Keep every secret a connection string and (translated) options carry. */
  addFrom(connectionString: string, options: unknown): void {
    const parsed = parse(connectionString);
    if (parsed?.password) {
      this.add(parsed.password);
      try {
        this.add(decodeURIComponent(parsed.password));
      } catch {
        // Not valid percent-encoding: the raw form is kept.
      }
    }
    // The text between "//" and the last "@", for strings the URL parser reads differently than a person would.
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/(.*)@/is.exec(connectionString)?.[1];
    if (userinfo) this.add(userinfo.slice(userinfo.indexOf(':') + 1));
    walk(options, (key, value) => {
      if (SECRET_KEYS.has(key)) this.add(value);
      else if (typeof value === 'string' && /:\/\//.test(value)) this.add(parse(value)?.password);
    });
  }

  /** Mask these secrets in `text` (URL credentials are masked by `redact`). */
  mask(text: string): string {
    return this.#pattern ? text.replace(this.#pattern, MASK) : text;
  }
}

function walk(value: unknown, visit: (key: string, value: unknown) => void, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return;
  for (const [k, v] of Object.entries(value)) {
    visit(k, v);
    walk(v, visit, depth + 1);
  }
}

function parse(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * A connection string as it may be shown: scheme, user, host, port and database from the parsed URL, the password
 * as `***`. A string that does not parse, holds characters the URL parser drops silently (tab, newline), or has an
 * `@` outside its credentials (a password with a raw `/`, `?` or `#` parses into the path) is not shown at all.
 */
export function showConnectionString(connectionString: unknown): string {
  if (typeof connectionString !== 'string') return '(not a string)';
  const hidden = `(a connection string of ${connectionString.length} characters, not shown: it does not parse as a URL)`;
  if (/[\t\n\r]/.test(connectionString.trim())) return hidden;
  const url = parse(connectionString);
  if (!url) return hidden;
  const rest = url.pathname + url.search + url.hash;
  if (/@|%40/i.test(rest)) return hidden;
  const credentials = url.username || url.password ? `${url.username}${url.password ? ':' + MASK : ''}@` : '';
  const authority = url.host || url.hostname;
  return `${url.protocol}//${credentials}${authority}${url.pathname}${url.search ? '?' + MASK : ''}`;
}

// scheme://userinfo@ in free text: the userinfo runs to the LAST '@' before whitespace, so a raw '@', '/', '?' or
// '#' in a password does not leak its tail.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)(\S*)@/gi;

/** Mask URL credentials in a piece of text, and the secrets of `secrets` when given. */
export function redact(text: string, secrets?: Secrets): string {
  let out = text.replace(URL_CREDENTIALS, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    const user = colon === -1 || /[/?#]/.test(userinfo.slice(0, colon)) ? '' : userinfo.slice(0, colon);
    return `${scheme}${user}:${MASK}@`;
  });
  if (secrets) out = secrets.mask(out);
  return out;
}

/** Mask every message of an error in place (node-redis errors can quote URLs), and return it. */
export function redactError<E>(err: E, secrets?: Secrets): E {
  if (err instanceof Error) {
    const masked = redact(err.message, secrets);
    if (masked !== err.message) {
      err.message = masked;
      if (err.stack) err.stack = redact(err.stack, secrets);
    }
    const input = (err as { input?: unknown }).input;
    if (typeof input === 'string') (err as { input?: unknown }).input = redact(input, secrets);
  }
  return err;
}

/**
 * A copy of `meta` to show: values under secret keys (`password`, `auth_pass`, TLS `key`, `passphrase`, `pfx`)
 * become `***`, URLs are shown masked. Functions, Buffers and class instances are kept as they are.
 */
export function maskMeta<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== 'object' || Buffer.isBuffer(value)) {
    return typeof value === 'string' && /:\/\//.test(value) ? (showConnectionString(value) as T) : value;
  }
  if (Array.isArray(value)) return value.map((v) => maskMeta(v, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k) && v != null ? MASK : maskMeta(v, depth + 1);
  return out as T;
}
