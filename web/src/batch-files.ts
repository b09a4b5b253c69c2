/**
 * The batch's files before they are sent: each dropped file becomes a row and is checked (src/file-check.ts);
 * a file dropped twice is listed once; files dropped while a job runs wait for the person's word; rows can be
 * taken off the list.
 */
import type { BatchDeps, BatchState } from "./batch-state.js";
import { checkFile } from "./file-check.js";
import { newRow, type Row } from "./row.js";

export interface BatchFiles {
  add(files: File[]): void;
  acceptPending(): void;
  discardPending(): void;
  /** Settles once every file added so far is checked. */
  checked(): Promise<unknown>;
  remove(rows: readonly Row[]): void;
}

export function createBatchFiles(
  { view, announce, showing }: BatchDeps,
  state: BatchState,
  /** Empties the batch: no rows, nothing shown. */
  reset: () => void,
): BatchFiles {
  let checks: Promise<unknown> = Promise.resolve();
  let pending: File[] = [];

  function add(files: File[]): void {
    if (state.sending()) return;
    if (state.shownJob()) {
      if (state.jobRunning()) {
        // Never replace a running job on screen without asking.
        pending = [...pending, ...files];
        view.setPending(pending.length);
        return;
      }
      reset();
      showing(undefined);
    }
    const seen = new Set(state.rows().map((r) => r.file && `${r.name}:${r.size}:${r.file.lastModified}`));
    const fresh = files
      .filter((f) => !seen.has(`${f.name}:${f.size}:${f.lastModified}`))
      .map((file) => newRow({ name: file.name, size: file.size, file, phase: "ready" }));
    if (fresh.length === 0) return;
    state.setRows([...state.rows(), ...fresh]);
    state.setStage({ kind: "staged" });
    view.reveal();
    const checked = Promise.all(
      fresh.map(async (row) => {
        const check = await checkFile(row.file as File);
        if (check.ok) row.kind = check.kind;
        else {
          row.phase = "refused";
          row.note = check.reason;
        }
        view.touch(row);
        return check.ok;
      }),
    ).then((oks) => {
      const refused = oks.filter((ok) => !ok).length;
      const accepted = oks.length - refused;
      announce(`${accepted} ${accepted === 1 ? "image" : "images"} added${refused ? `, ${refused} refused` : ""}.`);
    });
    checks = Promise.all([checks, checked]);
  }

  return {
    add,
    acceptPending() {
      const files = pending;
      pending = [];
      reset();
      showing(undefined);
      add(files);
    },
    discardPending() {
      pending = [];
      view.setPending(0);
    },
    checked: () => checks,
    remove(gone) {
      const drop = new Set(gone);
      state.setRows(state.rows().filter((r) => !drop.has(r)));
      if (state.rows().length === 0 && !state.shownJob()) state.setStage({ kind: "empty" });
    },
  };
}
