/**
 * Where the harness runs NATS and S3: local processes (nats-server, scripts/s3-server.ts) or, when a Docker
 * engine is reachable, containers (nats:2.10, minio/minio). IMGC_TEST_RUNTIME=process|docker forces one.
 */
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export type Runtime = "process" | "docker";

let chosen: Promise<Runtime> | undefined;

export function testRuntime(): Promise<Runtime> {
  chosen ??= detect();
  return chosen;
}

async function detect(): Promise<Runtime> {
  const forced = process.env.IMGC_TEST_RUNTIME;
  if (forced === "process" || forced === "docker") return forced;
  if (forced) throw new Error(`Expected one of process, docker for IMGC_TEST_RUNTIME but received "${forced}"`);
  // testcontainers is heavy to load and slow to give up; only ask it when an engine could be there at all.
  if (!dockerMightBeThere()) return "process";
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return "docker";
  } catch {
    return "process";
  }
}

/** The places testcontainers' runtime strategies look. */
function dockerMightBeThere(): boolean {
  if (process.env.DOCKER_HOST) return true;
  const home = os.homedir();
  const candidates = [
    path.join(home, ".testcontainers.properties"),
    "/var/run/docker.sock",
    path.join(home, ".docker", "run", "docker.sock"),
    path.join(home, ".docker", "desktop", "docker.sock"),
    `/run/user/${os.userInfo().uid}/docker.sock`,
  ];
  if (process.env.XDG_RUNTIME_DIR) candidates.push(path.join(process.env.XDG_RUNTIME_DIR, "docker.sock"));
  return candidates.some((candidate) => existsSync(candidate));
}
