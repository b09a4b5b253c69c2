/**
 * What a command needs from the outside world, made explicit so tests can hand in fakes: where to write,
 * the environment, the two RPC clients (created on first use) and fetch for downloads.
 */
import type { Client } from "@connectrpc/connect";
import type { ClusterService, JobService } from "@imgc/proto";

export interface Output {
  write(text: string): unknown;
  /** A terminal: progress redraws one line in place. */
  readonly isTTY?: boolean;
  /** A terminal's width: a progress bar is cut to it, since a wrapped line cannot be redrawn in place. */
  readonly columns?: number | undefined;
}

export interface Context {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** JobService on the gateway's gRPC port (IMGC_URL). */
  jobs(): Client<typeof JobService>;
  /** ClusterService on the coordinator (IMGC_COORDINATOR_URL): internal, so not behind the gateway. */
  cluster(): Client<typeof ClusterService>;
  fetch: typeof fetch;
}

export const println = (output: Output, line = "") => output.write(`${line}\n`);
