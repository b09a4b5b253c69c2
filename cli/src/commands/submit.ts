/** `imgc submit`: starts a job on objects already in storage (upload keys or a prefix) or on image URLs. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SourceSchema } from "@imgc/proto";
import { parse, UsageError } from "../args.js";
import { type Command, showHelp } from "../command.js";
import { jobOptions, jobOptionsHelp, jobSettings } from "../job-flags.js";
import { manifestSource } from "../manifest-source.js";
import { reportStarted, startedJobHelp } from "../started-job.js";

export const submit: Command = {
  name: "submit",
  summary: "start a job on uploaded keys, an S3 prefix or image URLs",
  help: `Usage: imgc submit [<upload key>...] [--prefix P [--bucket B]]... [--url U]... [--manifest M]... [options]

Starts a job on objects already in storage: upload keys (as returned by uploads) and/or every object
under a prefix, and/or image URLs, one by one or listed in manifests (the cluster fetches them behind its
SSRF guard; a refused or failed URL fails its item only). Prints the job id. With --wait, follows the job
and exits like "imgc watch".

Sources:
  <upload key>           an object key from an upload, e.g. uploads/acme/Xy12/photo.jpg
  --prefix P             every object under P (repeatable)
  --bucket B             the bucket of the prefixes (default: the cluster's own)
  --url U                an image URL (repeatable)
  --manifest M           a manifest of image URLs: a JSON array (of URLs or {"url": …}) or CSV; a file is
                         sent inline (.csv/.json name the format, else detected), an http(s) URL is fetched
                         by the cluster (repeatable)
  --manifest-column C    the CSV column of the URLs (default: the first holding http(s) URLs)
${jobOptionsHelp}
${startedJobHelp}`,

  async run(argv, context) {
    const { values, positionals: keys } = parse(argv, {
      ...jobOptions,
      prefix: { type: "string", multiple: true },
      bucket: { type: "string" },
      url: { type: "string", multiple: true },
      manifest: { type: "string", multiple: true },
      "manifest-column": { type: "string" },
      wait: { type: "boolean" },
    });
    if (values.help) return showHelp(context, submit);
    const settings = jobSettings(values);
    const prefixes = values.prefix ?? [];
    if (values.bucket !== undefined && prefixes.length === 0) throw new UsageError("--bucket needs --prefix");
    const manifests = values.manifest ?? [];
    const column = values["manifest-column"];
    if (column !== undefined && manifests.length === 0) throw new UsageError("--manifest-column needs --manifest");
    const sources: MessageInitShape<typeof SourceSchema>[] = [
      ...keys.map((key) => ({ kind: { case: "uploadKey" as const, value: key } })),
      ...prefixes.map((prefix) => ({
        kind: { case: "s3Prefix" as const, value: { prefix, bucket: values.bucket ?? "" } },
      })),
      ...(values.url ?? []).map((url) => ({ kind: { case: "url" as const, value: url } })),
      ...(await Promise.all(manifests.map((manifest) => manifestSource(manifest, column)))),
    ];
    if (sources.length === 0) {
      throw new UsageError("at least one source is required: upload keys, --prefix, --url or --manifest");
    }

    const jobs = context.jobs();
    const started = await jobs.submitJob({ sources, ...settings });
    return reportStarted(context, jobs, started, values, "existing job for this idempotency key");
  },
};
