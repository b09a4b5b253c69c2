/** `imgc cancel <job>`: every item without a result ends CANCELLED; running items stop at once. */
import { JobSchema } from "@imgc/proto";
import { parse, positionals } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { jobLine } from "../format.js";
import { messageJson, printJson } from "../output.js";

export const cancel: Command = {
  name: "cancel",
  summary: "cancel a job",
  help: `Usage: imgc cancel <job> [--json]

Cancels a job: every item without a result ends CANCELLED, and running ones stop at once (their
outputs are not kept). A job that has already ended is left as it is.

Options:
  --json                 the job after cancelling, as protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {});
    if (values.help) return showHelp(context, cancel);
    const [jobId] = positionals(args, ["job"]) as [string];
    const { job } = await context.jobs().cancelJob({ jobId });
    if (!job) throw new Error(`the server returned no job for ${jobId}`);
    if (values.json) printJson(context, messageJson(JobSchema, job));
    else println(context.stdout, jobLine(job));
    return 0;
  },
};
