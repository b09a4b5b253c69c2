/**
 * Readable merged logs for `npm run up`: each line prefixed with its process's name in its own colour, and
 * pino's JSON turned into "message key=value …" (warnings and errors coloured).
 */
const useColour = process.stdout.isTTY === true && !process.env.NO_COLOR;
const palette = [36, 35, 33, 32, 34, 96, 95, 93, 92, 94];
const levels: Record<number, { name: string; colour: number }> = {
  10: { name: "TRACE", colour: 90 },
  20: { name: "DEBUG", colour: 90 },
  30: { name: "INFO", colour: 0 },
  40: { name: "WARN", colour: 33 },
  50: { name: "ERROR", colour: 31 },
  60: { name: "FATAL", colour: 31 },
};
// Fields every line has, or that the prefix already says.
const quiet = new Set(["level", "time", "msg", "service", "pid", "hostname", "name", "v"]);

export function paint(colour: number, text: string): string {
  return useColour && colour !== 0 ? `\x1b[${colour}m${text}\x1b[0m` : text;
}

export const bold = (text: string) => (useColour ? `\x1b[1m${text}\x1b[0m` : text);
export const dim = (text: string) => paint(90, text);
export const red = (text: string) => paint(31, text);
export const green = (text: string) => paint(32, text);

/** A function that prints one line of `name`'s output, prefixed; names get colours in order of asking. */
export function prefixer(width: number): (name: string) => (line: string) => void {
  let next = 0;
  return (name) => {
    const colour = palette[next++ % palette.length] ?? 36;
    const prefix = paint(colour, `${name.padEnd(width)} |`);
    return (line) => console.log(`${prefix} ${formatLine(line)}`);
  };
}

export function formatLine(line: string): string {
  if (!line.startsWith("{")) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = levels[typeof entry.level === "number" ? entry.level : 30] ?? { name: "INFO", colour: 0 };
  const fields = Object.entries(entry)
    .filter(([key]) => !quiet.has(key))
    .map(([key, value]) => `${key}=${show(value)}`)
    .join(" ");
  const head = level.name === "INFO" ? "" : `${paint(level.colour, level.name)} `;
  const message = typeof entry.msg === "string" ? entry.msg : "";
  return `${head}${message}${fields ? ` ${dim(fields)}` : ""}`;
}

function show(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value && typeof value === "object" && "message" in value) return JSON.stringify((value as Error).message);
  return JSON.stringify(value);
}
