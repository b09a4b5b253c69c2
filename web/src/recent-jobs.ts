/** The jobs submitted from this browser, remembered so a person can go back to one (results stay on the server). */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Job } from "@imgc/proto";
import { h } from "./dom.js";
import { loadJson, saveJson } from "./storage.js";

interface RecentJob {
  id: string;
  label: string;
  at: number;
}

const storageKey = "imgc.recent-jobs.v1";
const keep = 10;

function load(): RecentJob[] {
  const value = loadJson(storageKey);
  if (!Array.isArray(value)) return [];
  return value.filter(
    (j): j is RecentJob =>
      typeof j === "object" &&
      j !== null &&
      typeof j.id === "string" &&
      typeof j.label === "string" &&
      typeof j.at === "number",
  );
}

export interface RecentJobs {
  remember(job: Job): void;
  /** Marks the job being shown. */
  setCurrent(jobId: string | undefined): void;
}

export function createRecentJobs(root: HTMLElement): RecentJobs {
  let current: string | undefined;
  const list = h("ol", { class: "recent-list" });
  const section = h(
    "section",
    { class: "panel recent", "aria-labelledby": "recent-title" },
    h("h2", { id: "recent-title" }, "Recent jobs"),
    list,
  );
  root.replaceChildren(section);

  function render(): void {
    const jobs = load();
    section.hidden = jobs.length === 0;
    const when = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
    list.replaceChildren(
      ...jobs.map((job) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              class: "recent-link",
              href: `#/jobs/${encodeURIComponent(job.id)}`,
              ...(job.id === current ? { "aria-current": "page" } : {}),
            },
            h("span", { class: "recent-label" }, job.label || job.id),
            h("span", { class: "recent-when" }, when.format(job.at)),
          ),
        ),
      ),
    );
  }

  render();
  return {
    remember(job) {
      const at = job.createdAt ? timestampMs(job.createdAt) : Date.now();
      const jobs = [{ id: job.id, label: job.label, at }, ...load().filter((j) => j.id !== job.id)].slice(0, keep);
      saveJson(storageKey, jobs);
      render();
    },
    setCurrent(jobId) {
      current = jobId;
      render();
    },
  };
}
