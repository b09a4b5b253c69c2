/**
 * How sizes and savings read, for people, everywhere: the web page, the CLI's tables and progress, the gateway's
 * limits, the workers' notes ("Resized from … to fit 50 KB") and errors. The job report keeps raw integers
 * (machines read report.csv); these are for the words around them.
 *
 * Decision (issue 14): decimal SI units, 1 KB = 1000 bytes (B, KB, MB, GB, TB), as file managers and the web page
 * show sizes and as max_bytes targets are written ("50 KB", not 48.8 KiB). Below 1000 the exact count in words
 * ("512 bytes", "1 byte"); above, at most three significant digits with no trailing zeros ("1.5 KB", "85.3 KB",
 * "792 KB", "8.3 GB"), rounded into the next unit when they would read 1000 ("1 MB", never "1000 KB"). A saving
 * has one decimal, as report.csv's saving_percent, with a trailing ".0" dropped, and a true minus sign (U+2212)
 * for smaller, "+" for larger: "−81.7%", "+3%", "0%". One style in every client: the CLI's output already holds
 * "→" and "·", and a script wants the exact `inputBytes`/`outputBytes` of `--json` or the CSV, not these words.
 */

const UNITS = ["KB", "MB", "GB", "TB"] as const;

/** 1536 → "1.54 KB", 999_950 → "1 MB", 512 → "512 bytes"; a negative or unreadable size reads "—". */
export function formatBytes(bytes: number | bigint): string {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return "—";
  const whole = Math.round(n);
  if (whole < 1000) return whole === 1 ? "1 byte" : `${whole} bytes`;
  let unit = 0;
  let scale = 1000;
  while (whole >= scale * 1000 && unit < UNITS.length - 1) {
    scale *= 1000;
    unit++;
  }
  let shown = threeDigits(whole, scale);
  // 999_950 bytes is 999.95 KB, which rounds to 1000: that is 1 MB.
  if (shown >= 1000 && unit < UNITS.length - 1) {
    scale *= 1000;
    unit++;
    shown = threeDigits(whole, scale);
  }
  return `${shown} ${UNITS[unit]}`;
}

/**
 * `whole` / `scale` to three significant digits (past the largest unit, to a whole number: "1152922 TB"). Rounded
 * on integers, not with toFixed, which reads 9.995 as the binary 9.99499… and would show 9995 bytes as "9.99 KB".
 */
function threeDigits(whole: number, scale: number): number {
  const per = whole >= 100 * scale ? 1 : whole >= 10 * scale ? 10 : 100;
  return Math.round(whole / (scale / per)) / per;
}

/**
 * A limit stated exactly, with the figure people read: "67108864 bytes (67.1 MB)"; "999 bytes" alone, where the
 * two would say the same.
 */
export function formatExactBytes(bytes: number | bigint): string {
  const shown = formatBytes(bytes);
  const exact = `${bytes} ${bytes === 1 || bytes === 1n ? "byte" : "bytes"}`;
  return shown === exact ? exact : `${exact} (${shown})`;
}

/**
 * The size change from `before` to `after`: "−81.7%" smaller, "+3%" larger, "0%" the same to one decimal, and ""
 * when there is no basis (`before` 0 or less, or either unreadable).
 */
export function formatSaving(before: number | bigint, after: number | bigint): string {
  const b = Number(before);
  const a = Number(after);
  if (!(b > 0) || !(a >= 0) || !Number.isFinite(b) || !Number.isFinite(a)) return "";
  const ratio = (b - a) / b;
  const shown = Math.abs(ratio * 100)
    .toFixed(1)
    .replace(/\.0$/, "");
  if (shown === "0") return "0%";
  return ratio > 0 ? `\u2212${shown}%` : `+${shown}%`;
}
