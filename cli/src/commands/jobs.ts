/** `imgc jobs`: the tenant's jobs, newest first. */
import { formatBytes, formatSaving, JobSchema, JobState } from "@imgc/proto";
import { choice, integer, parse, positionals } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { jobState, table, time } from "../format.js";
import { messageJson, printJson } from "../output.js";

const STATES = {
  queued: JobState.QUEUED,
  running: JobState.RUNNING,
  completed: JobState.COMPLETED,
  completed_with_errors: JobState.COMPLETED_WITH_ERRORS,
  failed: JobState.FAILED,
  cancelled: JobState.CANCELLED,
} as const;

export const jobs: Command = {
  name: "jobs",
  summary: "list jobs, newest first",
  help: `Usage: imgc jobs [--state S] [--limit N] [--page-token T] [--json]

Lists your jobs, newest first.

Options:
  --state S              only jobs in this state: ${Object.keys(STATES).join(", ")}
  --limit N              jobs per page, 1 to 500 (default 50)
  --page-token T         the next page, as printed after the previous one
  --json                 {"jobs": [...], "nextPageToken": ...} as protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {
      state: { type: "string" },
      limit: { type: "string" },
      "page-token": { type: "string" },
    });
    if (values.help) return showHelp(context, jobs);
    positionals(args, []);
    const state = choice(values.state, "--state", Object.keys(STATES) as (keyof typeof STATES)[]);
    const pageSize = integer(values.limit, "--limit", 1, 500) ?? 0;
    const response = await context.jobs().listJobs({
      state: state ? STATES[state] : JobState.UNSPECIFIED,
      pageSize,
      pageToken: values["page-token"] ?? "",
    });
    if (values.json) {
      printJson(context, {
        jobs: response.jobs.map((job) => messageJson(JobSchema, job)),
        nextPageToken: response.nextPageToken,
      });
      return 0;
    }
    if (response.jobs.length === 0) {
      println(context.stdout, "no jobs");
      return 0;
    }
    const rows = response.jobs.map((job) => {
      const c = job.counts;
      return [
        job.id,
        jobState(job.state),
        c ? `${c.done + c.keptOriginal + c.failed}/${c.total}` : "",
        c?.failed ? String(c.failed) : "",
        job.bytesIn > 0n ? `${formatBytes(job.bytesIn)} → ${formatBytes(job.bytesOut)}` : "",
        job.bytesIn > 0n ? formatSaving(job.bytesIn, job.bytesOut) : "",
        time(job.createdAt),
        job.label,
      ];
    });
    println(context.stdout, table(["job", "state", "ended", "failed", "size", "saving", "created", "label"], rows));
    if (response.nextPageToken) println(context.stdout, `more: imgc jobs --page-token ${response.nextPageToken}`);
    return 0;
  },
};
