import { type Logger, pino } from "pino";

export type { Logger };

/** One JSON line per event on stdout; `service` names the process so merged logs stay readable. */
export function createLogger(service: string, level: string): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid } });
}
