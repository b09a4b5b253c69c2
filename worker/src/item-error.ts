import { ErrorCode } from "@imgc/proto";

const brand = Symbol.for("imgc.ItemError");

/**
 * The failure of one item, with the stable code the worker reports as its error_code. The pipeline, the
 * detector, the engine pool (which carries it across the child-process boundary as code and message) and the
 * item processor all throw this one class.
 */
export class ItemError extends Error {
  readonly code: ErrorCode;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ItemError";
    this.code = code;
  }

  // A brand rather than instanceof: tests and the runtime may load this module twice (vitest, tsx).
  static is(e: unknown): e is ItemError {
    return typeof e === "object" && e !== null && (e as { [brand]?: unknown })[brand] === true;
  }
}

/** `e` when it is an ItemError already, else INTERNAL saying `message`: the cause is kept for the log, never shown. */
export const asItemError = (e: unknown, message: string): ItemError =>
  ItemError.is(e) ? e : new ItemError(ErrorCode.INTERNAL, message, { cause: e });
