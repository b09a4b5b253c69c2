/**
 * The list of a batch's images: one table row per image (a card on a phone) with a thumbnail, its full name,
 * what happened in words for people (the technical detail in a tooltip), sizes and saving, and what can be
 * done with it. Filters (done, kept, failed), a sort order and a selection live here too.
 */
import { formatBytes, formatSaving, LABEL_SEPARATOR } from "@imgc/proto";
import { h, setText } from "./dom.js";
import { detailOf, hasOutput, labelsOf, phaseLabel, type Row, technicalDetailOf } from "./row.js";
import { type Filter, matches, ordered, type Sort } from "./row-order.js";

export type RowAction = "compare" | "download" | "retry" | "retry-with" | "remove";

export interface ItemTable {
  readonly el: HTMLElement;
  setRows(rows: readonly Row[]): void;
  /** Redraws these rows now. */
  draw(rows: Iterable<Row>): void;
  /** Re-sorts and re-filters (after results changed what a row matches). */
  arrange(): void;
  setFilter(filter: Filter): void;
  /** Shows only rows where detection found this label; empty for all. */
  setLabel(label: string): void;
  setSort(sort: Sort): void;
  /** The rows shown, in the order shown. */
  visible(): Row[];
  selected(): Row[];
  select(rows: readonly Row[], on: boolean): void;
  /** Whether rows of a finished job may be picked and acted on. */
  setJobEnded(ended: boolean): void;
  setThumbnails(byItem: ReadonlyMap<string, string>): void;
}

interface RowEls {
  tr: HTMLTableRowElement;
  pick: HTMLInputElement;
  thumb: HTMLImageElement;
  detail: HTMLElement;
  labels: HTMLElement;
  badge: HTMLElement;
  meter: HTMLElement;
  before: HTMLElement;
  after: HTMLElement;
  saving: HTMLElement;
  buttons: Record<RowAction, HTMLButtonElement>;
  /** An object URL of the local original, made when first needed. */
  localUrl?: string;
}

const actionLabels: Record<RowAction, string> = {
  compare: "Compare",
  download: "Download",
  retry: "Retry",
  "retry-with": "Retry with…",
  remove: "Remove",
};

export function createItemTable(onAction: (action: RowAction, row: Row) => void, onSelect: () => void): ItemTable {
  let rows: readonly Row[] = [];
  let shown: Row[] = [];
  let filter: Filter = "all";
  let label = "";
  let sort: Sort = "added";
  let ended = false;
  let thumbs: ReadonlyMap<string, string> = new Map();
  const els = new Map<number, RowEls>();
  const picked = new Set<Row>();

  const tbody = h("tbody", {});
  const pickAll = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select every image shown" });
  const empty = h("p", { class: "empty-filter", id: "empty-filter", hidden: true }, "No image matches this filter.");
  const table = h(
    "table",
    { class: "items", id: "items" },
    h("caption", { class: "visually-hidden" }, "Images in this batch"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "c-pick" }, pickAll),
        h("th", { scope: "col", class: "c-thumb" }, h("span", { class: "visually-hidden" }, "Preview")),
        h("th", { scope: "col", class: "c-name" }, "File"),
        h("th", { scope: "col", class: "c-num" }, "Before"),
        h("th", { scope: "col", class: "c-num" }, "After"),
        h("th", { scope: "col", class: "c-num" }, "Saved"),
        h("th", { scope: "col", class: "c-actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    tbody,
  );
  const el = h("div", { class: "table-wrap" }, table, empty);

  tbody.addEventListener("click", (event) => {
    const button = (event.target as Element).closest<HTMLButtonElement>("button[data-action]");
    const id = Number(button?.closest("tr")?.dataset.row);
    const row = rows.find((r) => r.id === id);
    if (button && row) onAction(button.dataset.action as RowAction, row);
  });
  tbody.addEventListener("change", (event) => {
    const box = event.target as HTMLInputElement;
    const id = Number(box.closest("tr")?.dataset.row);
    const row = rows.find((r) => r.id === id);
    if (!row || box.type !== "checkbox") return;
    if (box.checked) picked.add(row);
    else picked.delete(row);
    syncPickAll();
    onSelect();
  });
  pickAll.addEventListener("change", () => {
    for (const row of shown) {
      if (pickAll.checked) picked.add(row);
      else picked.delete(row);
    }
    draw(shown);
    onSelect();
  });

  function syncPickAll(): void {
    const n = shown.filter((r) => picked.has(r)).length;
    pickAll.checked = n > 0 && n === shown.length;
    pickAll.indeterminate = n > 0 && n < shown.length;
  }

  function build(row: Row): RowEls {
    const button = (action: RowAction) =>
      h(
        "button",
        { type: "button", class: "button small", "data-action": action, hidden: true },
        actionLabels[action],
        h("span", { class: "visually-hidden" }, ` ${row.name}`),
      );
    // Remove is a small "×": the names and messages need the width more than a third word does.
    const remove = h(
      "button",
      {
        type: "button",
        class: "button small icon",
        "data-action": "remove",
        hidden: true,
        title: "Remove from the list",
      },
      h("span", { "aria-hidden": "true" }, "×"),
      h("span", { class: "visually-hidden" }, `Remove ${row.name}`),
    );
    const e: RowEls = {
      tr: h("tr", { "data-row": row.id }),
      pick: h("input", { type: "checkbox", "aria-label": `Select ${row.name}` }),
      thumb: h("img", { class: "thumb", alt: "", loading: "lazy", decoding: "async", width: 44, height: 44 }),
      detail: h("div", { class: "detail" }),
      labels: h("div", { class: "labels", "aria-label": "Objects found" }),
      badge: h("span", { class: "badge" }),
      meter: h("span", { class: "meter", "aria-hidden": "true" }, h("span", { class: "meter-fill" })),
      before: h("td", { class: "c-num c-before", "data-label": "Before" }),
      after: h("td", { class: "c-num c-after", "data-label": "After" }),
      saving: h("td", { class: "c-num c-saving saving", "data-label": "Saved" }),
      buttons: {
        compare: button("compare"),
        download: button("download"),
        retry: button("retry"),
        "retry-with": button("retry-with"),
        remove,
      },
    };
    // A format the browser cannot show (TIFF) leaves the thumbnail's place empty rather than a broken icon.
    e.thumb.addEventListener("error", () => e.thumb.classList.add("broken"));
    e.tr.append(
      h("td", { class: "c-pick" }, e.pick),
      h("td", { class: "c-thumb" }, e.thumb),
      // The state sits under the name rather than in a column of its own: full names need the width.
      h(
        "th",
        { scope: "row", class: "c-name" },
        h("div", { class: "name" }, row.name),
        h("div", { class: "status" }, e.badge, e.detail),
        e.labels,
        e.meter,
      ),
      e.before,
      e.after,
      e.saving,
      h("td", { class: "c-actions" }, ...Object.values(e.buttons)),
    );
    return e;
  }

  function thumbnailOf(row: Row, e: RowEls): string {
    const remote = hasOutput(row) && row.result ? thumbs.get(row.result.itemId) : undefined;
    if (remote) return remote;
    if (row.file && row.kind && row.phase !== "refused") {
      e.localUrl ??= URL.createObjectURL(row.file);
      return e.localUrl;
    }
    return "";
  }

  function drawRow(row: Row): void {
    const e = els.get(row.id);
    if (!e) return;
    const r = row.result;
    e.tr.dataset.phase = row.phase;
    e.tr.dataset.worker = r?.workerId ?? "";
    setText(e.badge, phaseLabel(row));
    setText(e.detail, detailOf(row));
    e.detail.title = technicalDetailOf(row);
    const labels = labelsOf(row);
    if (e.labels.dataset.labels !== labels.join(LABEL_SEPARATOR)) {
      e.labels.dataset.labels = labels.join(LABEL_SEPARATOR);
      e.labels.replaceChildren(...labels.map((label) => h("span", { class: "label-chip" }, label)));
    }
    (e.meter.firstElementChild as HTMLElement).style.width =
      `${row.size > 0 ? Math.min(100, (row.loaded / row.size) * 100) : 0}%`;
    setText(e.before, row.size > 0 ? formatBytes(row.size) : "");
    const output = hasOutput(row) ? (row.phase === "kept" ? row.size : Number(r?.outputBytes ?? 0)) : undefined;
    setText(e.after, output !== undefined ? formatBytes(output) : "");
    setText(e.saving, output !== undefined ? formatSaving(row.size, output) : "");
    e.saving.toggleAttribute("data-smaller", output !== undefined && output < row.size);
    const src = thumbnailOf(row, e);
    if (src && e.thumb.getAttribute("src") !== src) e.thumb.src = src;
    e.thumb.hidden = src === "";
    const failed = row.phase === "failed";
    const local = row.phase === "ready" || row.phase === "refused" || row.phase === "upload-failed";
    e.buttons.compare.hidden = e.buttons.download.hidden = !hasOutput(row);
    e.buttons.retry.hidden = e.buttons["retry-with"].hidden = !(failed && ended);
    e.buttons.remove.hidden = !(local || (ended && (failed || hasOutput(row))));
    e.pick.hidden = !ended;
    e.pick.checked = picked.has(row);
  }

  function draw(which: Iterable<Row>): void {
    for (const row of which) drawRow(row);
    syncPickAll();
  }

  function arrange(): void {
    const next = ordered(rows, filter, sort, label);
    const same = next.length === shown.length && next.every((r, i) => r === shown[i]);
    shown = next;
    empty.hidden = shown.length > 0 || rows.length === 0;
    if (!same) tbody.replaceChildren(...shown.map((r) => (els.get(r.id) as RowEls).tr));
    syncPickAll();
  }

  return {
    el,
    setRows(next) {
      rows = next;
      const keep = new Set(next.map((r) => r.id));
      for (const [id, e] of els) {
        if (keep.has(id)) continue;
        if (e.localUrl) URL.revokeObjectURL(e.localUrl);
        els.delete(id);
      }
      for (const row of picked) if (!keep.has(row.id)) picked.delete(row);
      for (const row of next) if (!els.has(row.id)) els.set(row.id, build(row));
      shown = [];
      arrange();
      draw(next);
    },
    draw,
    arrange() {
      // Rows that no longer match the filter leave; a sort by result moves rows as results arrive.
      if (filter !== "all" || label !== "" || sort !== "added") arrange();
    },
    setFilter(next) {
      filter = next;
      arrange();
    },
    setLabel(next) {
      label = next;
      arrange();
    },
    setSort(next) {
      sort = next;
      arrange();
    },
    visible: () => [...shown],
    selected: () => rows.filter((r) => picked.has(r) && matches(r, filter, label)),
    select(which, on) {
      for (const row of which) {
        if (on) picked.add(row);
        else picked.delete(row);
      }
      draw(which);
      onSelect();
    },
    setJobEnded(next) {
      if (ended === next) return;
      ended = next;
      if (!ended) picked.clear();
      draw(rows);
    },
    setThumbnails(byItem) {
      thumbs = byItem;
      draw(rows.filter(hasOutput));
    },
  };
}
