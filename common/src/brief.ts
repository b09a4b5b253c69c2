/**
 * How an error message quotes what a caller sent: escaped (JSON string rules, so control characters and
 * quotes cannot forge log lines or break a header) and cut to a short prefix. A 100 KB job id echoed whole
 * made the error itself too large for gRPC metadata; a short prefix still tells the caller which value it was.
 */
export function brief(text: string, maxChars = 64): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > maxChars ? `${escaped.slice(0, maxChars)}…` : escaped;
}

/** `brief`, in double quotes: `job "abc" not found`. */
export function quoted(text: string, maxChars = 64): string {
  return `"${brief(text, maxChars)}"`;
}
