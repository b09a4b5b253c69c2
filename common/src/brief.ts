/**
 * How an error message quotes what a caller sent: escaped (JSON string rules, so control characters and
 * quotes cannot forge log lines or break a header) and cut to a short prefix. A 100 KB job id echoed whole
 * made the error itself too large for gRPC metadata; a short prefix still tells the caller which value it was.
 */
export function brief(text: string, maxChars = 64): string {
  let shown = "";
  // Character by character (code points, escapes whole), so that the cut never splits either.
  for (const char of text) {
    const escaped = JSON.stringify(char).slice(1, -1);
    if (shown.length + escaped.length > maxChars) return `${shown}…`;
    shown += escaped;
  }
  return shown;
}

/** `brief`, in double quotes: `job "abc" not found`. */
export function quoted(text: string, maxChars = 64): string {
  return `"${brief(text, maxChars)}"`;
}
