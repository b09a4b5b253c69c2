/**
 * An engine child for tests of the pool: it comes up like the real one, then dies of SIGSEGV on the first image
 * it is given, as a decoder that crashes would. With IMGC_TEST_CRASHES_LEFT_FILE set, it crashes only while that
 * file holds a positive count (each crash takes one off), and answers with a canned outcome after. With
 * IMGC_TEST_START_MS set, it takes that long to come up, as a child loading sharp on a busy machine does.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { ImageFormat } from "@imgc/proto";
import type { EngineReply, EngineRequest } from "../engine-pool.js";

const countFile = process.env.IMGC_TEST_CRASHES_LEFT_FILE;

function crashesLeft(): number {
  if (!countFile) return 1;
  return existsSync(countFile) ? Number(readFileSync(countFile, "utf8")) : 0;
}

process.on("disconnect", () => process.exit(0));
process.on("message", (request: EngineRequest) => {
  const left = crashesLeft();
  if (left > 0) {
    if (countFile) writeFileSync(countFile, String(left - 1));
    process.kill(process.pid, "SIGSEGV");
    return;
  }
  const reply: EngineReply = {
    id: request.id,
    ok: true,
    outcome: {
      kind: "compressed",
      data: Buffer.from("webp"),
      format: ImageFormat.WEBP,
      inputFormat: ImageFormat.JPEG,
      extension: "webp",
      contentType: "image/webp",
      width: 1,
      height: 1,
      quality: 80,
    },
  };
  process.send?.(reply);
});
setTimeout(() => process.send?.({ ready: true }), Number(process.env.IMGC_TEST_START_MS ?? 0));
