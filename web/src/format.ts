/** How numbers read on the page. Sizes arrive as bigint (uint64 in protobuf-es) or as a File's number. */

const units = ["B", "KB", "MB", "GB", "TB"];

/** 1536 → "1.5 KB" (decimal units, as file managers show them). */
export function formatBytes(bytes: bigint | number): string {
  let value = Number(bytes);
  if (!Number.isFinite(value) || value < 0) return "—";
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/**
 * The saving from `before` to `after`: "−81.7%" when smaller, "+3%" when larger, "" when unknown. One decimal,
 * as the CSV report has it, so that the page and the report read the same.
 */
export function formatSaving(before: bigint | number, after: bigint | number): string {
  const b = Number(before);
  const a = Number(after);
  if (!(b > 0) || !(a >= 0)) return "";
  const ratio = (b - a) / b;
  const shown = Math.abs(ratio * 100)
    .toFixed(1)
    .replace(/\.0$/, "");
  if (shown === "0") return "0%";
  return ratio > 0 ? `−${shown}%` : `+${shown}%`;
}

/** 75_000 → "1:15"; 3_725_000 → "1:02:05". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** 12.345 → "12.3", 0.5 → "0.50": enough precision to read a rate at a glance. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "0";
  return perSecond >= 10 ? perSecond.toFixed(0) : perSecond >= 1 ? perSecond.toFixed(1) : perSecond.toFixed(2);
}
