/** `imgc status <job>`: one job's state, counters and sizes. */
import { JobSchema } from "@imgc/proto";
import { parse, positionals } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { jobDetails } from "../format.js";
import { messageJson, printJson } from "../output.js";

export const status: Command = {
  name: "status",
  summary: "show a job's state and counters",
  help: `Usage: imgc status <job> [--json]

Shows a job's state, item counters, bytes before and after, and its times.

Options:
  --json                 the job as protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {});
    if (values.help) return showHelp(context, status);
    const [jobId] = positionals(args, ["job"]) as [string];
    const { job } = await context.jobs().getJob({ jobId });
    if (!job) throw new Error(`the server returned no job for ${jobId}`);
    if (values.json) printJson(context, messageJson(JobSchema, job));
    else println(context.stdout, jobDetails(job));
    return 0;
  },
};
