/**
 * Webhook signatures: the coordinator signs each webhook POST, a receiver checks it. The signed text is
 * "<unix seconds>.<raw body>", so a body replayed under a fresh timestamp does not verify, and a receiver that
 * rejects old timestamps bounds how long a captured request stays usable. Within that window a replay is
 * caught by the event id: the same in every attempt of one event (header imgc-event-id, and "id" in the
 * signed body), so a receiver that remembers the ids it handled for the tolerance window handles each once.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const WEBHOOK_TIMESTAMP_HEADER = "imgc-timestamp";
export const WEBHOOK_SIGNATURE_HEADER = "imgc-signature";
/** The event's id, the same across retries: what a receiver deduplicates (and so rejects replays) by. */
export const WEBHOOK_EVENT_ID_HEADER = "imgc-event-id";
/** How old a timestamp verifyWebhook accepts by default. */
export const WEBHOOK_TOLERANCE_S = 300;

/** The imgc-signature value: "v1=" and the hex HMAC-SHA256 of "<timestamp>.<raw body>" under `secret`. */
export function signWebhook(secret: string, timestamp: number, rawBody: string | Buffer): string {
  const hmac = createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody);
  return `v1=${hmac.digest("hex")}`;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string {
  if (headers instanceof Headers) return headers.get(name) ?? "";
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
}

/**
 * True when the request carries a valid signature of `rawBody` (the bytes as received, before any JSON
 * parsing) under `secret`, with a timestamp at most `toleranceS` seconds from `now` (ms).
 */
export function verifyWebhook(
  secret: string,
  headers: HeaderBag,
  rawBody: string | Buffer,
  now: number = Date.now(),
  toleranceS: number = WEBHOOK_TOLERANCE_S,
): boolean {
  const stamp = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  if (!/^\d{1,12}$/.test(stamp)) return false;
  const timestamp = Number(stamp);
  if (Math.abs(now / 1000 - timestamp) > toleranceS) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody));
  // A sender rotating secrets may send several signatures, comma-separated: one match is enough.
  return header(headers, WEBHOOK_SIGNATURE_HEADER)
    .split(",")
    .map((candidate) => Buffer.from(candidate.trim()))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
}
