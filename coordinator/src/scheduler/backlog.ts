/**
 * The backlog an autoscaler reads: every chunk not yet delivered to a worker, on the stream or held back by the
 * leader for fairness, per lane and in all. Served by every coordinator on its HTTP port.
 */
import type { LaneName } from "@imgc/common";

/** The path on the coordinator's HTTP port (KEDA's metrics-api scaler reads it: deploy/k8s/60-keda.yaml). */
export const BACKLOG_PATH = "/backlog";
/** The field holding the total (the scaler's valueLocation). */
export const BACKLOG_FIELD = "chunks";

export interface Backlog {
  [BACKLOG_FIELD]: number;
  lanes: Record<LaneName, number>;
}
