/**
 * The in-memory progress of one job that has not ended: which items are counted, which are running, and the
 * counters derived from them. Counting is keyed by item, so a result seen twice (a duplicate report, or a
 * re-derivation from the results bucket after a restart) is counted once.
 */
import { create } from "@bufbuild/protobuf";
import { type ItemResult, ItemState, type Job, JobCountsSchema } from "@imgc/proto";
import { itemPosition } from "../ids.js";

export class JobLedger {
  readonly total: number;
  private readonly counted: Uint8Array;
  /** Chunk index → items a worker holds now. */
  private readonly running = new Map<number, Set<string>>();
  done = 0;
  keptOriginal = 0;
  failed = 0;
  bytesIn = 0n;
  bytesOut = 0n;

  constructor(total: number) {
    this.total = total;
    this.counted = new Uint8Array(total);
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
    let n = 0;
    for (const items of this.running.values()) n += items.size;
    return Math.min(n, this.total - this.ended);
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
