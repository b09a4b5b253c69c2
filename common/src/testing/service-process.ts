/**
 * A service process for run-main.test.ts, its behaviour chosen by IMGC_TEST_SERVICE: `config` and `crash` fail
 * to start; `slow` closes only once hurried (with `hurry`) or never; `stuck` never closes but has a close
 * timeout; `ends` stops by itself; `starting` never finishes starting. It prints "up" once its signals are wired.
 */
import { ConfigError } from "../config.js";
import { createLogger } from "../logger.js";
import { runMain } from "../run-main.js";

const mode = process.env.IMGC_TEST_SERVICE ?? "";

void runMain("test", async () => {
  if (mode === "config") throw new ConfigError(['Expected integer between 1 and 64 for IMGC_X but received "0"']);
  if (mode === "crash") throw new Error("boom");
  if (mode === "starting") {
    process.stdout.write("up\n");
    return new Promise<never>(() => setInterval(() => {}, 60_000));
  }
  let finish = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  // runMain wires the signals as soon as this resolves, before any timer fires. The interval stands for a
  // service's open port: it keeps the process alive until runMain exits it.
  setImmediate(() => process.stdout.write("up\n"));
  setInterval(() => {}, 60_000);
  return {
    log: createLogger("test", "info"),
    async close() {
      process.stdout.write("closing\n");
      if (mode === "slow" || mode === "hurry" || mode === "stuck") await finished;
    },
    ...(mode === "hurry"
      ? {
          hurry() {
            process.stdout.write("hurried\n");
            finish();
          },
        }
      : {}),
    ...(mode === "stuck" ? { closeTimeoutMs: 300 } : {}),
    ...(mode === "ends" ? { done: new Promise<void>((resolve) => setTimeout(resolve, 200)) } : {}),
  };
});
