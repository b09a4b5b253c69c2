/**
 * The operators' view: workers with their load and the chunks they hold, queue depth per priority lane, and
 * throughput over the last minutes. It polls the gateway's cluster snapshot while shown, and says plainly when
 * there is none to be had.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type LaneStats, Priority, TaskKind, type WorkerStatus } from "@imgc/proto";
import { type ClusterSnapshot, ClusterUnavailableError, type LoadCluster } from "./api.js";
import { h, setText } from "./dom.js";
import { formatRate } from "./format.js";
import { Throughput } from "./throughput.js";
import { renderThroughputChart } from "./throughput-chart.js";

export interface ClusterView {
  show(): void;
  hide(): void;
}

const laneNames: Record<Priority, string> = {
  [Priority.UNSPECIFIED]: "Normal",
  [Priority.HIGH]: "High",
  [Priority.NORMAL]: "Normal",
  [Priority.LOW]: "Low",
};

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s ago` : `${Math.floor(s / 60)} min ago`;
}

function meter(value: number, max: number, label: string): HTMLElement {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  const fill = h("span", { class: "meter-fill" });
  fill.style.width = `${pct}%`;
  return h(
    "span",
    {
      class: "load",
      role: "meter",
      "aria-valuemin": 0,
      "aria-valuemax": max,
      "aria-valuenow": value,
      "aria-label": label,
    },
    h("span", { class: "load-meter" }, fill),
    h("span", { class: "load-text" }, `${value} / ${max}`),
  );
}

/** What a worker does, when it is more than compressing (a worker from before kinds lists none: it compresses). */
function does(w: WorkerStatus): string {
  if (!w.capabilities.includes(TaskKind.DETECT)) return "";
  return w.capabilities.includes(TaskKind.COMPRESS) ? "compresses and detects" : "detects objects";
}

/** A lane's name: "Normal" for compression's, "Detect · Normal" for detection's. */
function laneName(l: LaneStats): string {
  return l.kind === TaskKind.DETECT ? `Detect · ${laneNames[l.priority]}` : laneNames[l.priority];
}

/** Compression's lanes always; detection's once the cluster detects (a worker can, or chunks wait). */
function shownLanes(s: ClusterSnapshot): LaneStats[] {
  const detects =
    s.workers.some((w) => w.capabilities.includes(TaskKind.DETECT)) ||
    s.lanes.some((l) => l.kind === TaskKind.DETECT && Number(l.pending) + Number(l.ackPending) > 0);
  return s.lanes.filter((l) => l.kind !== TaskKind.DETECT || detects);
}

export function createClusterView(root: HTMLElement, loadCluster: LoadCluster, periodMs = 2000): ClusterView {
  const throughput = new Throughput();
  let snapshot: ClusterSnapshot | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let abort: AbortController | undefined;
  let shown = false;

  const status = h("p", { class: "cluster-status", id: "cluster-status", role: "status" });
  const unavailable = h("div", { class: "unavailable", id: "cluster-unavailable", hidden: true });
  const stat = (label: string, id: string) => {
    const value = h("dd", { id }, "—");
    return { value, el: h("div", { class: "stat" }, h("dt", {}, label), value) };
  };
  const stats = {
    workers: stat("Workers", "stat-workers"),
    slots: stat("Slots busy", "stat-slots"),
    queued: stat("Chunks waiting", "stat-queued"),
    rate: stat("Images / s", "stat-rate"),
  };
  const chartBox = h("div", { class: "chart-box", id: "throughput-chart" });
  const lanesBody = h("tbody", {});
  const workersBody = h("tbody", {});
  const noWorkers = h(
    "p",
    { class: "hint", hidden: true },
    "No worker is running. Start one and it appears here within seconds.",
  );

  root.replaceChildren(
    h("div", { class: "cluster-head" }, h("h1", { id: "cluster-title" }, "Cluster"), status),
    unavailable,
    h("dl", { class: "stats" }, ...Object.values(stats).map((s) => s.el)),
    h(
      "div",
      { class: "cluster-grid" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "throughput-title" },
        // The cluster reports no history: the chart starts when this page opened, and says so.
        h("h2", { id: "throughput-title" }, "Throughput since this page opened (last 5 minutes at most)"),
        chartBox,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "queue-title" },
        h("h2", { id: "queue-title" }, "Queue"),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "lanes", id: "lanes" },
            h("caption", { class: "visually-hidden" }, "Chunks per priority lane"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { scope: "col" }, "Priority"),
                h("th", { scope: "col", class: "c-num" }, "Waiting"),
                h("th", { scope: "col", class: "c-num" }, "In flight"),
                h("th", { scope: "col", class: "c-num" }, "Redelivered"),
              ),
            ),
            lanesBody,
          ),
        ),
      ),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "workers-title" },
      h("h2", { id: "workers-title" }, "Workers"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "workers", id: "workers" },
          h("caption", { class: "visually-hidden" }, "Live workers"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Worker"),
              h("th", { scope: "col" }, "Load"),
              h("th", { scope: "col" }, "Chunks in flight"),
              h("th", { scope: "col", class: "c-num" }, "Images done"),
              h("th", { scope: "col", class: "c-num" }, "Images / s"),
              h("th", { scope: "col" }, "Heartbeat"),
            ),
          ),
          workersBody,
        ),
      ),
      noWorkers,
    ),
  );

  function workerRow(w: WorkerStatus, now: number): HTMLTableRowElement {
    const beat = w.heartbeatAt ? ago(now - timestampMs(w.heartbeatAt)) : "—";
    return h(
      "tr",
      { "data-worker": w.id },
      h(
        "th",
        { scope: "row" },
        h("div", { class: "name" }, w.id),
        h("div", { class: "detail" }, [w.host, w.version && `v${w.version}`, does(w)].filter(Boolean).join(" · ")),
        w.draining ? h("span", { class: "draining" }, "Draining") : null,
      ),
      h("td", { "data-label": "Load" }, meter(w.busy, w.slots, `${w.id}: ${w.busy} of ${w.slots} slots busy`)),
      h(
        "td",
        { "data-label": "Chunks in flight", class: "chunks" },
        w.chunks.length ? w.chunks.join(", ") : h("span", { class: "muted" }, "idle"),
      ),
      h("td", { class: "c-num", "data-label": "Images done" }, Number(w.itemsDone).toLocaleString()),
      h("td", { class: "c-num", "data-label": "Images / s" }, formatRate(w.itemsPerSecond)),
      h("td", { "data-label": "Heartbeat" }, beat),
    );
  }

  function draw(): void {
    if (!snapshot) return;
    const s = snapshot;
    const now = Date.now();
    const slots = s.workers.reduce((sum, w) => sum + w.slots, 0);
    const busy = s.workers.reduce((sum, w) => sum + w.busy, 0);
    const waiting = s.lanes.reduce((sum, l) => sum + Number(l.pending), 0);
    const rate = throughput.recentRate();
    setText(stats.workers.value, String(s.workers.length));
    setText(stats.slots.value, `${busy} / ${slots}`);
    setText(stats.queued.value, waiting.toLocaleString());
    setText(stats.rate.value, formatRate(rate));

    const buckets = throughput.buckets();
    const peak = Math.max(...buckets.map((b) => b.items)) / (throughput.bucketMs / 1000);
    chartBox.replaceChildren(
      renderThroughputChart(
        buckets,
        throughput.bucketMs,
        `Throughput: ${formatRate(rate)} images per second now, peak ${formatRate(peak)} since this page opened (5 minutes at most).`,
      ),
    );

    const maxLane = Math.max(1, ...s.lanes.map((l) => Number(l.pending) + Number(l.ackPending)));
    lanesBody.replaceChildren(
      ...shownLanes(s).map((l) =>
        h(
          "tr",
          { "data-lane": laneName(l) },
          h("th", { scope: "row" }, laneName(l)),
          h(
            "td",
            { class: "c-num" },
            h("span", { class: "lane-bar", style: `--share:${(Number(l.pending) / maxLane) * 100}%` }),
            Number(l.pending).toLocaleString(),
          ),
          h("td", { class: "c-num" }, Number(l.ackPending).toLocaleString()),
          h("td", { class: "c-num" }, Number(l.redelivered).toLocaleString()),
        ),
      ),
    );
    const workers = [...s.workers].sort((a, b) => a.id.localeCompare(b.id));
    workersBody.replaceChildren(...workers.map((w) => workerRow(w, now)));
    noWorkers.hidden = workers.length > 0;
  }

  let started = false;
  let healthy = false;

  async function poll(): Promise<void> {
    timer = undefined;
    abort = new AbortController();
    let next = periodMs;
    try {
      snapshot = await loadCluster(abort.signal);
      throughput.add(snapshot);
      healthy = true;
      unavailable.hidden = true;
      root.classList.remove("stale");
      setText(status, `Live · updated every ${periodMs / 1000} s`);
      draw();
    } catch (err) {
      if (abort.signal.aborted) return;
      healthy = false;
      const reason =
        err instanceof ClusterUnavailableError ? err.message : `The cluster data could not be read: ${String(err)}`;
      unavailable.replaceChildren(
        h("strong", {}, "Cluster data unavailable. "),
        reason,
        snapshot ? " The figures below are the last ones received." : "",
      );
      unavailable.hidden = false;
      root.classList.toggle("stale", snapshot !== undefined);
      setText(status, "Unavailable · retrying");
      next = Math.max(periodMs, 5000);
    }
    schedule(next);
  }

  /**
   * While shown: every period. Once seen, and while the data flows, every 10 s in the background too, so that
   * the throughput chart has a history when the operator comes back to it.
   */
  function schedule(next: number): void {
    clearTimeout(timer);
    timer = undefined;
    if (document.hidden || !started) return;
    if (shown) timer = setTimeout(() => void poll(), next);
    else if (healthy) timer = setTimeout(() => void poll(), Math.max(next, 10_000));
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stop();
    else if (started && !timer) void poll();
  });

  function stop(): void {
    clearTimeout(timer);
    timer = undefined;
    abort?.abort();
  }

  return {
    show() {
      if (shown) return;
      shown = true;
      started = true;
      stop();
      void poll();
    },
    hide() {
      shown = false;
      // The next poll, already scheduled, drops to the background pace.
    },
  };
}
