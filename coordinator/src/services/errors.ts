/** Maps domain failures onto RPC codes; nothing but a ConnectError leaves a service. */
import { Code, ConnectError } from "@connectrpc/connect";
import { type Logger, StorageError } from "@imgc/common";
import { ManifestError } from "../scheduler/manifest.js";
import { TooManyItemsError } from "../scheduler/sources.js";

export function notFound(what: string): ConnectError {
  return new ConnectError(`${what} not found`, Code.NotFound);
}

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof TooManyItemsError) {
    return new ConnectError(`${err.message}; split it into several jobs`, Code.InvalidArgument);
  }
  if (err instanceof ManifestError) return new ConnectError(err.message, Code.InvalidArgument);
  if (StorageError.is(err)) {
    if (err.kind === "not-found") return new ConnectError(err.message, Code.InvalidArgument);
    if (err.kind === "unavailable") return new ConnectError("object storage is unavailable", Code.Unavailable);
    return new ConnectError("object storage refused the request", Code.FailedPrecondition);
  }
  if (/TIMEOUT|CONNECTION_|503|no responders/i.test(String((err as { code?: string })?.code ?? ""))) {
    return new ConnectError("the job store is unavailable", Code.Unavailable);
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/**
 * Runs handler bodies, turning any failure into a ConnectError with a real code. A failure of a dependency
 * (storage, NATS) is logged here with its cause, since the caller only sees the code and a generic message;
 * Internal errors are logged by the gRPC bridge.
 */
export function createGuard(log?: Logger) {
  return async function guarded<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const mapped = toConnectError(err);
      // The caller's own mistakes (a manifest refused or unreadable, too many items) are no dependency failing.
      const callers = err instanceof ManifestError || err instanceof TooManyItemsError;
      if (!(err instanceof ConnectError) && !callers && mapped.code !== Code.Internal) {
        log?.warn({ err, code: Code[mapped.code] }, "a dependency failed");
      }
      throw mapped;
    }
  };
}
