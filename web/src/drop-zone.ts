/**
 * Where files come in: dropped anywhere on the page (folders too), picked with the file dialog, or pasted.
 * Everything arrives through one callback as plain File objects.
 */
import { formatBytes, IMAGE_EXTENSIONS } from "@imgc/proto";
import { h, svg } from "./dom.js";
import { maxFileBytes } from "./file-check.js";

export interface DropZone {
  setEnabled(enabled: boolean, reason?: string): void;
}

// The image extensions the cluster knows (the CLI walks folders by the same list); a HEIC file among them is
// refused with advice by src/file-check.ts.
const accept = ["image/*", ...IMAGE_EXTENSIONS].join(",");

/** Reads every file under a dropped directory entry (the entries API hands directories out 100 at a time). */
async function walk(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) {
    return new Promise((resolve) =>
      (entry as FileSystemFileEntry).file(
        (f) => resolve([f]),
        () => resolve([]),
      ),
    );
  }
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const files: File[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (batch.length === 0) return files;
    for (const child of batch) files.push(...(await walk(child)));
  }
}

async function filesOf(data: DataTransfer): Promise<File[]> {
  // Entries must be taken synchronously, before the drop event returns.
  const entries = [...data.items].map((item) => (item.kind === "file" ? item.webkitGetAsEntry?.() : null));
  if (entries.some((entry) => entry?.isDirectory)) {
    const nested = await Promise.all(entries.map((entry) => (entry ? walk(entry) : Promise.resolve([]))));
    return nested.flat().filter((f) => !f.name.startsWith("."));
  }
  return [...data.files];
}

export function createDropZone(root: HTMLElement, onFiles: (files: File[]) => void): DropZone {
  const input = h("input", {
    type: "file",
    id: "file-input",
    multiple: true,
    accept,
    class: "visually-hidden",
    tabindex: -1,
    "aria-hidden": "true",
  });
  const pick = h("button", { type: "button", class: "button primary", id: "pick-files" }, "Choose images");
  const status = h("p", { class: "drop-status", id: "drop-status", "aria-live": "polite" });
  const zone = h(
    "div",
    { class: "drop-zone", id: "drop-target" },
    icon(),
    // Phones have nothing to drop from: they see the button alone (styles.css hides these two lines there).
    h("p", { class: "drop-title" }, "Drop images or folders here"),
    h("p", { class: "drop-or" }, "or"),
    pick,
    h(
      "p",
      { class: "hint" },
      `JPEG, PNG, WebP, AVIF, GIF, TIFF or SVG · up to ${formatBytes(maxFileBytes)} each · hundreds at once`,
    ),
    status,
    input,
  );
  root.replaceChildren(zone);

  let enabled = true;
  const take = (files: File[]) => {
    if (files.length > 0 && enabled) onFiles(files);
  };

  pick.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    take([...(input.files ?? [])]);
    input.value = "";
  });

  // The whole window is a drop target: aiming at a box is fiddly with hundreds of files in hand.
  let depth = 0;
  const hasFiles = (event: DragEvent) => event.dataTransfer?.types.includes("Files") ?? false;
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth++;
    document.body.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove("dragging");
  });
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = enabled ? "copy" : "none";
  });
  window.addEventListener("drop", (event) => {
    depth = 0;
    document.body.classList.remove("dragging");
    if (!event.dataTransfer || !hasFiles(event)) return;
    event.preventDefault();
    void filesOf(event.dataTransfer).then(take);
  });
  window.addEventListener("paste", (event) => {
    const target = event.target as HTMLElement | null;
    if (target?.closest("input, textarea, select")) return;
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length > 0) {
      event.preventDefault();
      take(files);
    }
  });

  return {
    setEnabled(on, reason = "") {
      enabled = on;
      pick.disabled = !on;
      zone.classList.toggle("disabled", !on);
      status.textContent = reason;
    },
  };
}

function icon(): SVGSVGElement {
  const line = { fill: "none", stroke: "currentColor", "stroke-width": 2.5, "stroke-linejoin": "round" };
  return svg(
    "svg",
    { viewBox: "0 0 48 48", width: 48, height: 48, "aria-hidden": "true", class: "drop-icon" },
    svg("rect", { x: 6, y: 10, width: 36, height: 28, rx: 4, ...line }),
    svg("circle", { cx: 17, cy: 20, r: 3.5, fill: "currentColor" }),
    svg("path", { d: "M9 35l10-10 7 7 5-5 8 8", ...line }),
  );
}
