/**
 * The project's real S3 server (scripts/s3-server.ts) as its own process on a free port, for the gateway's
 * tests that stream through storage; and the helpers those tests share to watch the gateway's memory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createStorage, type Storage } from "@imgc/common";

const repoRoot = resolve(import.meta.dirname, "../../..");

export interface S3Server {
  storage: Storage;
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
  const dataDir = await mkdtemp(join(tmpdir(), "imgc-gateway-s3-"));
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/s3-server.ts", "--port", "0", "--dir", dataDir],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let url: string | undefined;
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { msg?: string; url?: string };
    if (parsed.msg === "ready") {
      url = parsed.url;
      break;
    }
  }
  if (!url) throw new Error("the S3 server did not start");
  const storage = createStorage({
    s3Endpoint: url,
    s3PublicEndpoint: "",
    s3AccessKey: "S3RVER",
    s3SecretKey: "S3RVER",
    s3Region: "us-east-1",
    s3Bucket: "imgc",
  });
  return {
    storage,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * Live memory only: collect first, so garbage socket buffers (V8 lets up to 64 MiB of them pile up before
 * it collects) do not count, while anything the gateway still holds does. Twice: buffers freed by the first
 * collection may still be counted until the next one.
 */
export function liveMemory(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Runs `work` while sampling live memory every 500 ms; resolves with its result and the peak growth. */
export async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const baseline = liveMemory();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, liveMemory());
  }, 500);
  try {
    const result = await work();
    peak = Math.max(peak, liveMemory());
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}
