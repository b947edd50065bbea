/**
 * Text that came from Redis (item data, keys, names, error messages quoting them), made safe to print on a
 * terminal: no character of it can move the cursor, start an escape sequence, forge a line or hide text.
 */

/**
 * Control, format, private-use and unassigned characters (`\p{C}`: DEL, the C1 controls such as U+009B, which
 * terminals take as CSI, U+202E which reverses text) and the line and paragraph separators U+2028/U+2029. In JSON
 * text only those that `JSON.stringify` leaves raw can occur, since it escapes U+0000–U+001F itself: so a line
 * break or indentation of pretty-printed JSON (structure, not data) is never touched.
 */
const INVISIBLE = /[\p{C}\u2028\u2029]/gu;

/** `c` (one character, perhaps a surrogate pair) as `\uXXXX` escapes, valid in a JSON string. */
function escapeChar(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** `text` with every control, invisible or line-separating character written as `\uXXXX`. */
export function escapeInvisible(text: string): string {
  return text.replace(INVISIBLE, escapeChar);
}

/**
 * `JSON.stringify(value, null, indent)` with every control, invisible or line-separating character inside its
 * strings (keys included) escaped as `\uXXXX`: still valid JSON, parsing to the same value.
 */
export function jsonText(value: unknown, indent?: number): string {
  const json = JSON.stringify(value, null, indent);
  // Outside strings JSON holds only ASCII punctuation, digits, letters and (indented) spaces and line feeds; the
  // line feeds are structure, and inside strings JSON.stringify already escaped every character below U+0020.
  return json === undefined ? String(json) : json.replace(INVISIBLE, (c) => (c < ' ' ? c : escapeChar(c)));
}

/** A JSON string whose every control, invisible or line-separating character is escaped (`\u009b`, `\u2028`). */
export function quoted(text: string): string {
  return jsonText(text);
}

/**
 * A name or key as printed by `list` and `watch`: bare when it is plain (no whitespace, quote, backslash, control
 * or invisible character), else as a JSON string, so that no name can forge a line or reach the terminal as an
 * escape sequence.
 */
export function nameText(text: string): string {
  return text !== '' && /^[^\s"\\\p{C}]+$/u.test(text) ? text : quoted(text);
}
