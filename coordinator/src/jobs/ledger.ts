/**
 * The in-memory progress of one job that has not ended: which items are counted, which are running, and the
 * counters derived from them. Counting is keyed by item, so a result seen twice (a duplicate report, or a
 * re-derivation from the results bucket after a restart) is counted once.
 *
 * A job with several tasks (compress and detect) also holds each item's task results (parts) until the item has
 * one for every task; they are merged into the item's result then (merge.ts).
 */
import { create } from "@bufbuild/protobuf";
import { type ItemResult, ItemState, type Job, JobCountsSchema, TaskKind } from "@imgc/proto";
import { itemPosition } from "../ids.js";
import { mergeItem } from "./merge.js";

export class JobLedger {
  readonly total: number;
  /** The job's tasks: a result of one task is a part of the item's result when there are several. */
  readonly tasks: readonly TaskKind[];
  private readonly counted: Uint8Array;
  /** Item id → the parts it has so far (several tasks only), dropped once the item is counted. */
  private readonly parts = new Map<string, Map<TaskKind, ItemResult>>();
  /** Chunk index → items a worker holds now. */
  private readonly running = new Map<number, Set<string>>();
  done = 0;
  keptOriginal = 0;
  failed = 0;
  bytesIn = 0n;
  bytesOut = 0n;

  constructor(total: number, tasks: readonly TaskKind[] = [TaskKind.COMPRESS]) {
    this.total = total;
    this.tasks = tasks;
    this.counted = new Uint8Array(total);
  }

  /** True when each task's results are parts, to be merged into the item's result. */
  get split(): boolean {
    return this.tasks.length > 1;
  }

  /** True when the item has ended, or has this task's result. */
  hasTask(itemId: string, kind: TaskKind): boolean {
    return this.has(itemId) || (this.parts.get(itemId)?.has(kind) ?? false);
  }

  /**
   * Holds one task's result of an item; returns the item's merged result once every task has one, or null (an
   * item counted already, a task it has already, or tasks still to come).
   */
  addPart(kind: TaskKind, result: ItemResult): ItemResult | null {
    const position = itemPosition(result.itemId);
    if (position < 0 || position >= this.total || this.hasTask(result.itemId, kind)) return null;
    const parts = this.parts.get(result.itemId) ?? new Map<TaskKind, ItemResult>();
    parts.set(kind, result);
    this.parts.set(result.itemId, parts);
    if (!this.tasks.every((task) => parts.has(task))) return null;
    return mergeItem(parts.get(TaskKind.COMPRESS), parts.get(TaskKind.DETECT));
  }

  /** Counts a terminal result; false when it was already counted (or names no item of the job). */
  add(result: ItemResult): boolean {
    const position = itemPosition(result.itemId);
    if (position < 0 || position >= this.total || this.counted[position] === 1) return false;
    this.counted[position] = 1;
    if (result.state === ItemState.DONE) this.done++;
    else if (result.state === ItemState.KEPT_ORIGINAL) this.keptOriginal++;
    else this.failed++;
    this.bytesIn += result.inputBytes;
    this.bytesOut += result.outputBytes;
    for (const items of this.running.values()) items.delete(result.itemId);
    this.parts.delete(result.itemId);
    return true;
  }

  has(itemId: string): boolean {
    const position = itemPosition(itemId);
    return position >= 0 && position < this.total && this.counted[position] === 1;
  }

  claim(chunkIndex: number, itemIds: readonly string[]): void {
    this.running.set(chunkIndex, new Set(itemIds.filter((id) => !this.has(id))));
  }

  release(chunkIndex: number): void {
    this.running.delete(chunkIndex);
  }

  isRunning(itemId: string): boolean {
    for (const items of this.running.values()) if (items.has(itemId)) return true;
    return false;
  }

  get ended(): number {
    return this.done + this.keptOriginal + this.failed;
  }

  get complete(): boolean {
    return this.ended >= this.total;
  }

  get runningCount(): number {
    // An item runs in one chunk per task: count it once.
    const items = new Set<string>();
    for (const chunk of this.running.values()) for (const id of chunk) items.add(id);
    return Math.min(items.size, this.total - this.ended);
  }

  /** Writes the counters into the job record. */
  applyTo(job: Job): void {
    const running = this.runningCount;
    job.counts = create(JobCountsSchema, {
      total: this.total,
      pending: this.total - this.ended - running,
      running,
      done: this.done,
      keptOriginal: this.keptOriginal,
      failed: this.failed,
    });
    job.bytesIn = this.bytesIn;
    job.bytesOut = this.bytesOut;
  }
}
