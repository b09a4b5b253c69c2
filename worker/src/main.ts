/**
 * Starts a worker: `node --import tsx worker/src/main.ts`, configured by IMGC_* variables (config.ts and
 * docs/protocol.md). Logs {"msg":"ready","workerId":…} once it pulls. SIGTERM or SIGINT drains it (finish held
 * chunks, or release them past IMGC_DRAIN_TIMEOUT_MS), as does {"action":"drain"} on imgc.control.<id>; it then
 * deregisters and exits 0. A second signal releases held chunks at once. A bad configuration exits 2.
 *
 * Node joins the libuv thread pool on exit, so a libvips operation still running for a released item (sharp
 * cannot cancel one) delays the exit until it ends or hits its sharp timeout, at most IMGC_ITEM_TIMEOUT_MS.
 */
import { runMain } from "@imgc/common";
import { build } from "./build.js";
import { loadWorkerConfig } from "./config.js";

await runMain("worker", async () => build(loadWorkerConfig()));
