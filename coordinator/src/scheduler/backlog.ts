/**
 * The backlog an autoscaler reads: every chunk not yet delivered to a worker, on the stream or held back by the
 * leader for fairness, per lane and in all, for one kind of work or for every kind. Served by every coordinator
 * on its HTTP port: `/backlog` counts every kind, `/backlog/<kind>` (compress, detect) one, so that compressing
 * and detecting workers scale apart.
 */
import { LANES, type LaneName, TASK_KINDS, type TaskKindName } from "@imgc/common";
import type { TaskKind } from "@imgc/proto";

/** The path on the coordinator's HTTP port (KEDA's metrics-api scaler reads it: deploy/k8s/60-keda.yaml). */
export const BACKLOG_PATH = "/backlog";
/** The field holding the total (the scaler's valueLocation). */
export const BACKLOG_FIELD = "chunks";

export interface Backlog {
  [BACKLOG_FIELD]: number;
  lanes: Record<LaneName, number>;
  /** Per kind (`/backlog` only). */
  kinds?: Record<TaskKindName, number>;
}

/** The backlog paths: every kind, then one per kind. */
export function backlogRoutes(backlog: (kind?: TaskKind) => Promise<Backlog>): Record<string, () => Promise<Backlog>> {
  return Object.fromEntries([
    [BACKLOG_PATH, () => backlog()],
    ...TASK_KINDS.map(({ kind, name }) => [`${BACKLOG_PATH}/${name}`, () => backlog(kind)]),
  ]);
}

/** The backlog from each lane's pending chunks (stream and held back), of `kind` or of every kind. */
export async function backlogOf(
  pending: (lane: LaneName, kind: TaskKind) => Promise<{ pending: number }>,
  kind?: TaskKind,
): Promise<Backlog> {
  const kinds = TASK_KINDS.filter((k) => kind === undefined || k.kind === kind);
  const lanes = Object.fromEntries(LANES.map((lane) => [lane.name, 0])) as Record<LaneName, number>;
  const perKind = Object.fromEntries(TASK_KINDS.map((k) => [k.name, 0])) as Record<TaskKindName, number>;
  await Promise.all(
    kinds.flatMap((k) =>
      LANES.map(async (lane) => {
        const n = (await pending(lane.name, k.kind)).pending;
        lanes[lane.name] += n;
        perKind[k.name] += n;
      }),
    ),
  );
  const total = Object.values(lanes).reduce((sum, n) => sum + n, 0);
  return kind === undefined ? { chunks: total, lanes, kinds: perKind } : { chunks: total, lanes };
}
