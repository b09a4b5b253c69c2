/**
 * `npm test`'s first step: the system programs the tests run for real (nats-server, Chromium), installed
 * from the OS packages when missing and possible, or a message that says exactly what to install.
 */
import { chromium, ensureSystemPackage, natsServer } from "./lib/system-packages.js";

const missing = [natsServer, chromium].filter(
  (pkg) => !ensureSystemPackage(pkg, "npm test", (line) => console.error(line)),
);
if (missing.length > 0) process.exit(1);
