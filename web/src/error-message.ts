/** An error in words for the page: what went wrong, without the RPC's code prefix or a browser's jargon. */
import { ConnectError } from "@connectrpc/connect";

export function messageOf(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}

/** "Failed to fetch" means little to a person: say the device is offline when it is. */
export function offlineAware(err: unknown): string {
  if (typeof navigator !== "undefined" && !navigator.onLine)
    return "this device is offline; try again once it is back.";
  const message = messageOf(err);
  return /failed to fetch|networkerror|load failed/i.test(message)
    ? "the cluster could not be reached; check the connection and try again."
    : message;
}
