/** `imgc retry <job>`: the failed items of an ended job (or the items named) again, as a new linked job. */
import { parse, positionals, UsageError } from "../args.js";
import { type Command, showHelp } from "../command.js";
import { jobOptions, jobOptionsHelp, jobSettings } from "../job-flags.js";
import { reportStarted, startedJobHelp } from "../started-job.js";

/** Flags that shape a new job only, not a retry (which keeps the job's label, webhook and retention). */
const NOT_FOR_RETRY = ["label", "idempotency-key", "webhook", "retention-days"] as const;
/** Flags that are not compression options. */
const JOB_FLAGS = new Set<string>([...NOT_FOR_RETRY, "priority"]);

export const retry: Command = {
  name: "retry",
  summary: "run a job's failed items again, as a new job",
  help: `Usage: imgc retry <job> [--items ID,...] [options] [--wait]

Runs the failed items of an ended job again (or the items named), from the same sources, as a new job
linked to it (retry_of). Without option flags the job's own options are kept; with any, the retry uses
exactly the options given (unset ones at their defaults). Asking the same retry again answers the same
job. Prints the new job's id; with --wait, follows it and exits like "imgc watch".

Items:
  --items ID,...         only these items (ids as "imgc results" lists them, e.g. 000003); default: every
                         failed item
${jobOptionsHelp.replace(/\n {2}--label[\s\S]*$/, "")}
${startedJobHelp}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {
      ...jobOptions,
      items: { type: "string" },
      wait: { type: "boolean" },
    });
    if (values.help) return showHelp(context, retry);
    const [jobId] = positionals(args, ["job"]) as [string];
    const refused = NOT_FOR_RETRY.find((flag) => values[flag] !== undefined);
    if (refused) throw new UsageError(`--${refused} does not apply to a retry: it keeps the job's own`);
    const settings = jobSettings(values);
    const optionFlags = Object.keys(jobOptions).filter((flag) => !JOB_FLAGS.has(flag));
    const itemIds = (values.items ?? "")
      .split(",")
      .map((id) => id.trim())
      .filter((id) => id !== "");
    if (values.items !== undefined && itemIds.length === 0) throw new UsageError("--items needs at least one item id");
    const jobs = context.jobs();
    const started = await jobs.retryJob({
      jobId,
      itemIds,
      ...(optionFlags.some((flag) => values[flag as keyof typeof values] !== undefined)
        ? { options: settings.options }
        : {}),
      ...(values.priority !== undefined ? { priority: settings.priority } : {}),
    });
    return reportStarted(context, jobs, started, values, "this retry was asked before");
  },
};
