/**
 * Readiness: the gateway can serve only when the coordinator, NATS and S3 all answer.
 *
 * Each check runs with a deadline, all at once. The report names what failed in a few safe words; the
 * detail (hosts, error text) goes to the log, not to whoever polls /readyz.
 */
import type { Logger } from "@imgc/common";

/** Resolves when the dependency answers; throws otherwise. */
export type Check = (timeoutMs: number) => Promise<void>;

export type CheckStatus = "ok" | "unreachable" | "timeout";

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckStatus>;
}

export async function checkReadiness(
  checks: Record<string, Check>,
  timeoutMs: number,
  log: Logger,
): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckStatus]> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      try {
        const outcome = await Promise.race([check(timeoutMs).then(() => "ok" as const), deadline]);
        if (outcome === "timeout") log.warn({ check: name, timeoutMs }, "readiness check timed out");
        return [name, outcome];
      } catch (err) {
        log.warn({ check: name, err }, "readiness check failed");
        return [name, "unreachable"];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: entries.every(([, status]) => status === "ok"), checks: Object.fromEntries(entries) };
}
