/**
 * One item's output, from its presigned address (src/results.ts): compared with its original, stepping through
 * the rows with an output in the order the list shows them, or saved under its output name.
 */
import type { BatchDeps, BatchState } from "./batch-state.js";
import { offlineAware } from "./error-message.js";
import type { Results } from "./results.js";
import { hasOutput, outputName, type Row } from "./row.js";
import { fetchAndSave } from "./save-file.js";

export interface Outputs {
  compareRow(row: Row): Promise<void>;
  download(row: Row): Promise<void>;
}

export function createOutputs({ view, compare }: BatchDeps, state: BatchState, results: Results): Outputs {
  async function compareRow(row: Row): Promise<void> {
    const shown = state.shownJob();
    if (!hasOutput(row) || !row.result || !shown) return;
    const result = row.result;
    try {
      const after = await results.url(shown.jobId, result.itemId);
      if (!after) throw new Error("the gateway gave no download address");
      const list = view.visibleRows().filter(hasOutput);
      const at = list.indexOf(row);
      const prev = at > 0 ? list[at - 1] : undefined;
      const next = at >= 0 ? list[at + 1] : undefined;
      compare.open({
        name: row.name,
        ...(row.file ? { before: row.file } : {}),
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
