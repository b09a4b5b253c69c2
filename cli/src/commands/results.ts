/**
 * `imgc results <job>`: every item's outcome, as a table, CSV or JSON; with --zip, the whole job's outputs
 * as one zip, downloaded from the gateway's HTTP port (IMGC_HTTP_URL).
 */
import { resolve } from "node:path";
import type { Client } from "@connectrpc/connect";
import { formatBytes, type ItemResult, ItemResultSchema, ItemState, type JobService, reportCsv } from "@imgc/proto";
import { choices, parse, positionals } from "../args.js";
import { authHeaders, gatewayHttpUrl } from "../clients.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { RESULT_HEADER, resultRow, resultsTable } from "../format.js";
import { messageJson, printJson } from "../output.js";
import { download } from "../transfer.js";

const STATES = {
  pending: ItemState.PENDING,
  running: ItemState.RUNNING,
  done: ItemState.DONE,
  kept_original: ItemState.KEPT_ORIGINAL,
  failed: ItemState.FAILED,
} as const;

/** Every result of a job (or only those of the items and states named), page after page. */
export async function allResults(
  jobs: Client<typeof JobService>,
  jobId: string,
  includeUrls: boolean,
  filter: { itemIds?: string[]; states?: ItemState[] } = {},
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  let pageToken = "";
  do {
    const page = await jobs.getResults({ jobId, pageSize: 1000, pageToken, includeUrls, ...filter });
    results.push(...page.results);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return results;
}

export const results: Command = {
  name: "results",
  summary: "list a job's per-item results",
  help: `Usage: imgc results <job> [--state S,...] [--items ID,...] [--csv] [--urls] [--json] [--zip FILE]

Lists every item of a job: its state, size before → after, saving, format, and the worker that made it,
or why it failed (a stable error code and a message); for a job that detects objects, the labels found
(--csv: a labels column, "person;cup"; --json: every object with its score and boxes).

Options:
  --state S,...          only items in these states: ${Object.keys(STATES).join(", ")}
  --items ID,...         only these items (at most 1000), e.g. 000003,000007
  --csv                  the job report's CSV (header, one row per item, a TOTAL row; see README)
  --urls                 include presigned download URLs (CSV and JSON)
  --json                 the results as protobuf JSON
  --zip FILE             instead, download every output as one zip (named after the sources, the report
                         last as report/report.csv) to FILE, from the gateway's HTTP port
  -h, --help             this help

${ENVIRONMENT_HELP}
  IMGC_HTTP_URL          the gateway's HTTP address, for --zip (default http://127.0.0.1:8080)`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {
      csv: { type: "boolean" },
      urls: { type: "boolean" },
      zip: { type: "string" },
      state: { type: "string" },
      items: { type: "string" },
    });
    if (values.help) return showHelp(context, results);
    const [jobId] = positionals(args, ["job"]) as [string];
    if (values.zip !== undefined) {
      const dest = resolve(values.zip);
      const url = `${gatewayHttpUrl(context.env)}/v1/jobs/${encodeURIComponent(jobId)}/results.zip`;
      const size = await download(context.fetch, url, dest, authHeaders(context.env));
      if (values.json) printJson(context, { jobId, zip: dest, bytes: size });
      else println(context.stdout, `wrote ${dest} (${formatBytes(size)})`);
      return 0;
    }
    const states = choices(values.state, "--state", Object.keys(STATES) as (keyof typeof STATES)[]);
    const itemIds = values.items
      ?.split(",")
      .map((id) => id.trim())
      .filter((id) => id !== "");
    const items = await allResults(context.jobs(), jobId, values.urls === true, {
      ...(states ? { states: states.map((state) => STATES[state]) } : {}),
      ...(itemIds ? { itemIds } : {}),
    });
    if (values.json) printJson(context, { results: items.map((r) => messageJson(ItemResultSchema, r)) });
    else if (values.csv) context.stdout.write(reportCsv(items));
    else if (items.length === 0) println(context.stdout, "no items");
    else {
      const rows = items.map((r) => resultRow(`${r.itemId} ${r.sourceKey.split("/").pop() ?? ""}`, r));
      println(context.stdout, resultsTable(["item", ...RESULT_HEADER.slice(1)], rows, items));
    }
    return 0;
  },
};
