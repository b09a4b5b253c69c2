/**
 * The integration-test harness: real nats-server, S3 and imgc processes on free loopback ports, one log file
 * each under a per-run temp folder, all stopped on teardown.
 */

export { generateImages } from "../../scripts/lib/generated-images.js";
export { type Cluster, type ClusterOptions, startCluster, testTimings } from "./cluster.js";
export { corpusDir, corpusFiles } from "./corpus.js";
export { type InfraHandle, type S3Handle, startNats, startS3, storageFor } from "./infra.js";
export { allResults, codeOf, terminalJobStates, waitForJob } from "./jobs.js";
export { logPath, scratchDir, testRunDir } from "./run-dir.js";
export { type Runtime, testRuntime } from "./runtime.js";
export { type Service, type ServiceKind, startService } from "./service.js";
export { type Fixture, listKeys, type Uploaded, uploadFixtures } from "./uploads.js";
export { describeLogs, useCluster } from "./use-cluster.js";
