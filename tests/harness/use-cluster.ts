/** One cluster for a test file: started before its tests, stopped after, its logs named when a test fails. */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type Cluster, type ClusterOptions, startCluster } from "./cluster.js";

export function useCluster(options: ClusterOptions = {}): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(options);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);
  beforeEach((context) => {
    context.onTestFailed(() => {
      if (cluster) console.error(describeLogs(cluster));
    });
  });
  return () => {
    if (!cluster) throw new Error("the cluster did not start (see the beforeAll error)");
    return cluster;
  };
}

/** Each log file, with the errors and warnings it holds (the last few of each). */
export function describeLogs(cluster: Cluster, perService = 8): string {
  const parts = ["cluster logs:"];
  for (const service of [...cluster.coordinators, ...cluster.workers, cluster.gateway]) {
    const loud = service
      .jsonLogs()
      .filter((line) => typeof line.level === "number" && line.level >= 40)
      .slice(-perService)
      .map((line) => `    ${JSON.stringify(line)}`);
    const state = service.running() ? "running" : "exited";
    parts.push(`  ${service.name} (${state}): ${service.logFile}`, ...loud);
  }
  for (const infra of [cluster.nats, cluster.s3]) if (infra.logFile) parts.push(`  ${infra.url}: ${infra.logFile}`);
  return parts.join("\n");
}
