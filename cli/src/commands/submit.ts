/** `imgc submit`: starts a job on objects already in storage (upload keys or a prefix). */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { JobSchema, JobState, type SourceSchema } from "@imgc/proto";
import { parse, UsageError } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { createProgress, followJob } from "../follow.js";
import { jobLine } from "../format.js";
import { jobOptions, jobOptionsHelp, jobSettings } from "../job-flags.js";
import { messageJson, printJson } from "../output.js";

export const submit: Command = {
  name: "submit",
  summary: "start a job on uploaded keys or an S3 prefix",
  help: `Usage: imgc submit [<upload key>...] [--prefix P [--bucket B]]... [options]

Starts a job on objects already in storage: upload keys (as returned by uploads) and/or every object
under a prefix. Prints the job id. With --wait, follows the job and exits like "imgc watch".

Sources:
  <upload key>           an object key from an upload, e.g. uploads/acme/Xy12/photo.jpg
  --prefix P             every object under P (repeatable)
  --bucket B             the bucket of the prefixes (default: the cluster's own)
${jobOptionsHelp}
Output:
  --wait                 follow the job until it ends; exit 0 only if it completed
  --json                 the job as protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: keys } = parse(argv, {
      ...jobOptions,
      prefix: { type: "string", multiple: true },
      bucket: { type: "string" },
      wait: { type: "boolean" },
    });
    if (values.help) return showHelp(context, submit);
    const settings = jobSettings(values);
    const prefixes = values.prefix ?? [];
    if (values.bucket !== undefined && prefixes.length === 0) throw new UsageError("--bucket needs --prefix");
    const sources: MessageInitShape<typeof SourceSchema>[] = [
      ...keys.map((key) => ({ kind: { case: "uploadKey" as const, value: key } })),
      ...prefixes.map((prefix) => ({
        kind: { case: "s3Prefix" as const, value: { prefix, bucket: values.bucket ?? "" } },
      })),
    ];
    if (sources.length === 0) throw new UsageError("at least one source is required: upload keys or --prefix");

    const jobs = context.jobs();
    const { job, created } = await jobs.submitJob({ sources, ...settings });
    if (!job) throw new Error("the server returned no job");
    if (!values.wait) {
      if (values.json) printJson(context, { job: messageJson(JobSchema, job), created });
      else println(context.stdout, created ? job.id : `${job.id} (existing job for this idempotency key)`);
      return 0;
    }
    if (!values.json) println(context.stderr, `job ${job.id}${created ? "" : " (existing)"}`);
    const progress = createProgress(values.json ? { write: () => true } : context.stdout);
    const ended = await followJob(jobs, job.id, { onJob: (next) => progress.update(jobLine(next)) });
    if (values.json) printJson(context, { job: messageJson(JobSchema, ended), created });
    else progress.finish(jobLine(ended));
    return ended.state === JobState.COMPLETED ? 0 : 1;
  },
};
