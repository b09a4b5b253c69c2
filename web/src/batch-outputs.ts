/**
 * One item's output, from its presigned address (src/results.ts): compared with its original, stepping through
 * the rows with an output in the order the list shows them, or saved under its output name. The original is the
 * file when the page still holds it, else the cluster's copy of the upload (a reopened or reloaded job).
 */
import type { BatchDeps, BatchState } from "./batch-state.js";
import { offlineOriginal } from "./compare.js";
import { isOffline, offlineAware } from "./error-message.js";
import type { Results } from "./results.js";
import { hasOutput, outputName, type Row } from "./row.js";
import { fetchAndSave } from "./save-file.js";

export interface Outputs {
  compareRow(row: Row): Promise<void>;
  download(row: Row): Promise<void>;
}

/** An item's original for a comparison, or why there is none; the output's address when it came along. */
interface Original {
  before?: Blob | string;
  output?: string;
  problem?: string;
}

export function createOutputs({ view, compare }: BatchDeps, state: BatchState, results: Results): Outputs {
  async function compareRow(row: Row): Promise<void> {
    const shown = state.shownJob();
    if (!hasOutput(row) || !row.result || !shown) return;
    const result = row.result;
    try {
      const original: Original = row.file ? { before: row.file } : await cloudOriginal(shown.jobId, result.itemId);
      const after = original.output ?? (await results.url(shown.jobId, result.itemId));
      if (!after) throw new Error("the gateway gave no download address");
      const list = view.visibleRows().filter(hasOutput);
      const at = list.indexOf(row);
      const prev = at > 0 ? list[at - 1] : undefined;
      const next = at >= 0 ? list[at + 1] : undefined;
      compare.open({
        name: row.name,
        ...(original.before ? { before: original.before } : {}),
        ...(original.problem ? { beforeProblem: original.problem } : {}),
        beforeBytes: row.size,
        after,
        afterBytes: row.phase === "kept" ? row.size : Number(result.outputBytes),
        afterFormat: result.format,
        width: result.width,
        height: result.height,
        ...(result.detection ? { detection: result.detection } : {}),
        position: at >= 0 ? `${at + 1} of ${list.length}` : "",
        ...(prev ? { previous: () => void compareRow(prev) } : {}),
        ...(next ? { next: () => void compareRow(next) } : {}),
      });
    } catch (err) {
      view.setError(`The comparison could not be opened: ${offlineAware(err)}`);
    }
  }

  /**
   * The cluster's copy of an original the page no longer holds, with the output's address from the same call.
   * When it cannot be asked for (offline, the gateway unreachable) the comparison still opens with the result,
   * and says why the original is missing in words, not "Failed to fetch".
   */
  async function cloudOriginal(jobId: string, itemId: string): Promise<Original> {
    try {
      const { original, output } = await results.withOriginal(jobId, itemId);
      return { ...(original ? { before: original } : {}), ...(output ? { output } : {}) };
    } catch (err) {
      return { problem: isOffline() ? offlineOriginal : `The original cannot be loaded now: ${offlineAware(err)}` };
    }
  }

  return {
    compareRow,
    async download(row) {
      const shown = state.shownJob();
      if (!shown || !row.result) return;
      let url: string | undefined;
      try {
        url = await results.url(shown.jobId, row.result.itemId);
        if (!url) throw new Error("the gateway gave no download address");
        await fetchAndSave(url, outputName(row));
      } catch (err) {
        if (url) window.open(url, "_blank", "noopener");
        else view.setError(`The download failed: ${offlineAware(err)}`);
      }
    },
  };
}
