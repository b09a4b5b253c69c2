/** `imgc delete <job>`: the job and its data (outputs, report, its uploads) are deleted for good. */
import { parse, positionals } from "../args.js";
import { type Command, ENVIRONMENT_HELP, showHelp } from "../command.js";
import { println } from "../context.js";
import { printJson } from "../output.js";

export const del: Command = {
  name: "delete",
  summary: "delete a job, its outputs, report and uploads",
  help: `Usage: imgc delete <job> [--json]

Deletes a job for good: its outputs, its report, the uploads its items read (unless a job still running
reads them too), its results and events. A job still running is cancelled first. Afterwards the job is
not found.

Options:
  --json                 {"objectsDeleted": N}
  -h, --help             this help

${ENVIRONMENT_HELP}`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {});
    if (values.help) return showHelp(context, del);
    const [jobId] = positionals(args, ["job"]) as [string];
    const { objectsDeleted } = await context.jobs().deleteJob({ jobId });
    if (values.json) printJson(context, { objectsDeleted });
    else println(context.stdout, `deleted job ${jobId} and ${objectsDeleted} objects`);
    return 0;
  },
};
