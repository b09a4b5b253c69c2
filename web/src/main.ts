/**
 * The page: wires the parts together and routes between the compress view (#/, #/jobs/<id>) and the cluster
 * view (#/cluster).
 */
import "./styles.css";
import { type Api, createApi } from "./api.js";
import { createApiKeyDialog, keyChecker } from "./api-key-dialog.js";
import { createBatch } from "./batch.js";
import { createClusterView } from "./cluster-view.js";
import { createCompare } from "./compare.js";
import { byId } from "./dom.js";
import { createDropZone } from "./drop-zone.js";
import { createJobView } from "./job-view.js";
import { createOptionsPanel } from "./options-panel.js";
import { createRecentJobs } from "./recent-jobs.js";

async function chooseApi(): Promise<Api> {
  // Dev server only (`npm run dev -w web`, then open /?fake): an in-memory cluster to work on the page
  // without running one. The branch, and the fake with it, is dropped from production builds.
  if (import.meta.env.DEV && new URLSearchParams(location.search).has("fake")) {
    const { createFakeApi } = await import("./dev/fake-cluster.js");
    return createFakeApi();
  }
  return createApi();
}

function announcer(): (message: string) => void {
  const region = byId("announcer");
  return (message) => {
    // Cleared first so that the same words, said twice, are announced twice.
    region.textContent = "";
    requestAnimationFrame(() => {
      region.textContent = message;
    });
  };
}

async function start(): Promise<void> {
  const api = await chooseApi();
  createApiKeyDialog(
    byId<HTMLDialogElement>("api-key"),
    byId<HTMLButtonElement>("api-key-open"),
    keyChecker((req) => api.jobs.listJobs(req)),
  );
  const announce = announcer();
  const compare = createCompare(byId<HTMLDialogElement>("compare"));
  const recent = createRecentJobs(byId("recent"));
  const options = createOptionsPanel(byId("options"), (picked) => view.setWork(picked.work));
  const view = createJobView(byId("job"), {
    compress: () => void batch.start(),
    clear: () => {
      batch.clear();
      if (location.hash !== "#/") history.pushState(null, "", "#/");
      recent.setCurrent(undefined);
    },
    cancel: () => void batch.cancel(),
    retryFailed: () => void batch.retryFailed(),
    deleteJob: () => void batch.deleteJob(),
    compare: (row) => void batch.compareRow(row),
    download: (row) => void batch.download(row),
    rerun: (rows, which) => void batch.rerun(rows, which),
    remove: (rows) => batch.remove(rows),
    chooseOptions: () => {
      options.focus();
      announce("Change the options, then press “Run selected again with current options”.");
    },
    rename: (label) => batch.rename(label),
    acceptPending: () => batch.acceptPending(),
    discardPending: () => batch.discardPending(),
  });
  view.setWork(options.current().work);
  const dropZone = createDropZone(byId("drop-zone"), (files) => batch.addFiles(files));
  const batch = createBatch({
    api,
    view,
    dropZone,
    compare,
    recent,
    options: () => options.current(),
    announce,
    showing(jobId) {
      recent.setCurrent(jobId);
      const hash = jobId ? `#/jobs/${jobId}` : "#/";
      if (location.hash !== hash && !(hash === "#/" && location.hash === "")) history.pushState(null, "", hash);
    },
  });
  // Leaving mid-upload loses the files in flight: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (!batch.busy()) return;
    event.preventDefault();
    event.returnValue = "";
  });
  const cluster = createClusterView(byId("cluster-view"), api.loadCluster);

  const compressView = byId("compress-view");
  const clusterView = byId("cluster-view");
  const navLinks = [...document.querySelectorAll<HTMLAnchorElement>("nav a[data-route]")];

  function route(): void {
    const path = location.hash.replace(/^#/, "") || "/";
    const isCluster = path === "/cluster";
    compressView.hidden = isCluster;
    clusterView.hidden = !isCluster;
    for (const link of navLinks) {
      if ((link.dataset.route === "cluster") === isCluster) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = isCluster ? "Cluster · imgc" : "Compress images · imgc";
    if (isCluster) cluster.show();
    else cluster.hide();
    const job = /^\/jobs\/([A-Za-z0-9_-]+)$/.exec(path)?.[1];
    if (job) {
      recent.setCurrent(job);
      void batch.open(job);
    }
  }

  window.addEventListener("hashchange", route);
  window.addEventListener("popstate", route);
  route();
  document.body.dataset.ready = "true";
}

void start();
