/**
 * What the live workers can do, per kind of work: how many workers and slots each kind has (dispatch depth,
 * chunking, queue stats), and the notice of a job that asks for a kind nobody live can do. Such a job waits: its
 * chunks stay on their kind's subjects until a capable worker comes.
 */
import { capabilitiesOf, TASK_KINDS } from "@imgc/common";
import type { TaskKind, WorkerStatus } from "@imgc/proto";

/** What a kind of work is, in a notice. */
const DOING: Record<(typeof TASK_KINDS)[number]["name"], string> = {
  compress: "compress images",
  detect: "detect objects",
};

/** The live workers that can do `kind`. */
export function capableOf(workers: readonly WorkerStatus[], kind: TaskKind): WorkerStatus[] {
  return workers.filter((worker) => capabilitiesOf(worker).includes(kind));
}

/** The slots of the live workers that can do `kind`. */
export function slotsFor(workers: readonly WorkerStatus[], kind: TaskKind): number {
  return capableOf(workers, kind).reduce((sum, worker) => sum + worker.slots, 0);
}

/** Job.notice for a job with these tasks: a sentence per kind that no live worker can do; empty when none. */
export function waitingNotice(tasks: readonly TaskKind[], workers: readonly WorkerStatus[]): string {
  return TASK_KINDS.filter(({ kind }) => tasks.includes(kind) && capableOf(workers, kind).length === 0)
    .map(({ name }) => `Waiting for a worker that can ${DOING[name]}: none is live`)
    .join(". ");
}
