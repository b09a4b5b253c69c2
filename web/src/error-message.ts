/** An error in words for the page: what went wrong, without the RPC's code prefix or a browser's jargon. */
import { ConnectError } from "@connectrpc/connect";

export function messageOf(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}

/**
 * Whether the device says it is offline. Only an explicit `false` counts: outside a browser (Node 21+ has a
 * `navigator` without `onLine`) nothing is known, and nothing known is not offline.
 */
export const isOffline = (): boolean => typeof navigator !== "undefined" && navigator.onLine === false;

/** "Failed to fetch" means little to a person: say the device is offline when it is. */
export function offlineAware(err: unknown): string {
  if (isOffline()) return "this device is offline; try again once it is back.";
  const message = messageOf(err);
  return /failed to fetch|networkerror|load failed/i.test(message)
    ? "the cluster could not be reached; check the connection and try again."
    : message;
}
