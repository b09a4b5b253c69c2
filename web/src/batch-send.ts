/**
 * Sending the batch: its checked files are uploaded (progress per row), then submitted as one job
 * (src/submit.ts), which is then followed. A cancelled upload puts the rows back as they were.
 */

import type { BatchFiles } from "./batch-files.js";
import type { Follower } from "./batch-follow.js";
import type { BatchDeps, BatchState } from "./batch-state.js";
import { messageOf } from "./error-message.js";
import { toJobWork } from "./options.js";
import { labelFor, submitRows, uploadRows } from "./submit.js";

export function createSend(
  { api, view, recent, options, announce, showing, put }: BatchDeps,
  state: BatchState,
  files: Pick<BatchFiles, "checked">,
  follower: Pick<Follower, "follow">,
): () => Promise<void> {
  return async function send(): Promise<void> {
    await files.checked();
    if (state.stage().kind !== "staged") return;
    const sending = state.rows().filter((r) => r.phase === "ready" && r.file && r.kind);
    if (sending.length === 0) return;
    const work = toJobWork(options());
    const abort = state.begin();
    for (const row of sending) {
      row.phase = "uploading";
      row.loaded = 0;
      view.touch(row);
    }
    state.setStage({ kind: "uploading" });
    try {
      await uploadRows(api.jobs, sending, view.touch, abort.signal, put);
    } catch (err) {
      if (!abort.signal.aborted) view.setError(`The upload stopped: ${messageOf(err)}`);
    }
    if (abort.signal.aborted) {
      for (const row of sending) {
        row.phase = "ready";
        row.loaded = 0;
        view.touch(row);
      }
      state.setStage({ kind: "staged" });
      announce("Upload cancelled.");
      return;
    }
    const uploaded = sending.filter((r) => r.phase === "uploaded");
    if (uploaded.length === 0) {
      state.setStage({ kind: "staged" });
      view.setError("No file could be uploaded; see each file's message.");
      return;
    }
    state.setStage({ kind: "submitting" });
    try {
      const label = view.batchName() || labelFor(uploaded.map((r) => r.name));
      const job = await submitRows(api.jobs, uploaded, work, label, abort.signal);
      for (const row of uploaded) {
        row.phase = "queued";
        view.touch(row);
      }
      state.keysChanged();
      recent.remember(job);
      showing(job.id);
      follower.follow(job.id, job);
    } catch (err) {
      for (const row of uploaded) {
        row.phase = "ready";
        view.touch(row);
      }
      state.setStage({ kind: "staged" });
      if (!abort.signal.aborted) view.setError(`The job could not be started: ${messageOf(err)}`);
    }
  };
}
