/**
 * The imgc CLI: `npm run imgc -- <command>` or, once linked, `imgc <command>`. See `imgc --help`.
 * Talks gRPC to the gateway (IMGC_URL) and, for `workers`, to the coordinator (IMGC_COORDINATOR_URL).
 */
import { runCli } from "./cli.js";
import { createClients } from "./clients.js";

const clients = createClients(process.env);
try {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    jobs: () => clients.jobs(),
    cluster: () => clients.cluster(),
    fetch: globalThis.fetch,
  });
} finally {
  clients.close();
}
