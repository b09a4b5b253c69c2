/**
 * The life of a service process, one shape for the coordinator, the worker and the gateway: their main.ts is
 * `runMain(name, () => build(config))`. A bad configuration prints `imgc <name>: <problems>` and exits 2; any
 * other failure to start prints its stack and exits 1. SIGTERM or SIGINT closes the service gracefully and exits
 * 0; so does the service ending by itself (a worker drained by a control message). A second signal hurries the
 * close where the service has a faster way (a worker releases its held chunks), else exits 1 at once. A signal
 * while it is still starting exits 0 at once.
 */
import { ConfigError } from "./config.js";
import type { Logger } from "./logger.js";

export interface Service {
  log: Logger;
  /** Stops gracefully: lets the work in flight finish, closes every connection and port. */
  close(): Promise<void>;
  /** What a second signal does instead of exiting at once. */
  hurry?(): void;
  /** Past this after the first signal the process exits anyway: a stuck close must not hold its slot. */
  closeTimeoutMs?: number;
  /** Settles when the service has stopped by itself; the process then closes it and exits. */
  done?: Promise<void>;
}

export async function runMain(name: string, start: () => Promise<Service>): Promise<void> {
  // Wired before the start, so that no signal can arrive between the "ready" line and the handlers (it would
  // kill the process outright). One during the start exits at once: there is nothing to finish yet.
  let service: Service | undefined;
  let closing: Promise<void> | undefined;
  const close = (running: Service) => {
    closing ??= running.close().then(
      () => {
        running.log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        running.log.error({ err }, "stopping failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (service === undefined) process.exit(0);
    const { log } = service;
    if (closing === undefined) {
      log.info({ signal }, "stopping");
      const { closeTimeoutMs } = service;
      if (closeTimeoutMs !== undefined) {
        setTimeout(() => {
          log.error({ ms: closeTimeoutMs }, "stopping took too long; exiting");
          process.exit(0);
        }, closeTimeoutMs).unref();
      }
      close(service);
    } else if (service.hurry) {
      log.warn({ signal }, "second signal: hurrying");
      service.hurry();
    } else {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    service = await start();
  } catch (err) {
    const config = ConfigError.is(err);
    process.stderr.write(
      `imgc ${name}: ${config ? err.message : `failed to start: ${(err as Error)?.stack ?? String(err)}`}\n`,
    );
    process.exit(config ? 2 : 1);
  }
  const running = service;
  running.done?.then(
    () => close(running),
    () => close(running),
  );
}
