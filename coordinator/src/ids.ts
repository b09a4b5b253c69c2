import { randomBytes } from "node:crypto";

/**
 * URL-safe alphabet in ASCII order, so that ids compare like the times they start with: job ids are 7
 * characters of creation time (milliseconds, 42 bits: until the year 2109) then 13 random ones (78 bits), and
 * "newest first" is simply "greatest id first", which makes a stable cursor for ListJobs. (With 8 time
 * characters every id would start with "-", which command lines take for an option.)
 */
const ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

export function newJobId(now = Date.now()): string {
  let time = "";
  let rest = now;
  for (let i = 0; i < 7; i++) {
    time = ALPHABET[rest % 64] + time;
    rest = Math.floor(rest / 64);
  }
  let random = "";
  for (const byte of randomBytes(13)) random += ALPHABET[byte % 64];
  return time + random;
}

/** An item's id: its position in the job, zero-padded to 6 digits (more digits past 999999). */
export function itemId(position: number): string {
  return String(position).padStart(6, "0");
}

export function itemPosition(id: string): number {
  return /^\d{6,}$/.test(id) ? Number(id) : -1;
}

export const chunkKey = (jobId: string, index: number) => `${jobId}.${index}`;
export const resultKey = (jobId: string, item: string) => `${jobId}.${item}`;

/** A random URL-safe id of `length` characters (upload ids). */
export function randomId(length = 16): string {
  let id = "";
  for (const byte of randomBytes(length)) id += ALPHABET[byte % 64];
  return id;
}
