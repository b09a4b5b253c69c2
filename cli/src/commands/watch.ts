/** `imgc watch <job>`: follows a job's progress until it ends; the exit code says how it ended. */
import { JobEventSchema, JobState } from "@imgc/proto";
import { parse, positionals } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { followJob } from "../follow.js";
import { jobLine } from "../format.js";
import { messageJson, printJsonLine } from "../output.js";
import { createProgressBar, jobProgress } from "../progress-bar.js";

export const watch: Command = {
  name: "watch",
  summary: "follow a job until it ends",
  help: `Usage: imgc watch <job> [--json]

Follows a job's progress until it has ended: on a terminal a progress bar with the items ended, failed and
running, bytes in → out, rate and ETA (no colour when NO_COLOR is set); plain lines otherwise.
Reconnects and resumes where it left off if the connection breaks.
Exits 0 when the job completed, 1 when it ended with failed items, failed or was cancelled.

Options:
  --json                 every event as one line of protobuf JSON
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {});
    if (values.help) return showHelp(context, watch);
    const [jobId] = positionals(args, ["job"]) as [string];
    if (values.json) {
      const job = await followJob(context.jobs(), jobId, {
        onEvent: (event) => printJsonLine(context, messageJson(JobEventSchema, event)),
      });
      return job.state === JobState.COMPLETED ? 0 : 1;
    }
    const progress = createProgressBar(context.stdout, context.env);
    const job = await followJob(context.jobs(), jobId, {
      onJob: (next) => progress.update(jobProgress(next)),
    });
    progress.finish(jobLine(job));
    return job.state === JobState.COMPLETED ? 0 : 1;
  },
};
