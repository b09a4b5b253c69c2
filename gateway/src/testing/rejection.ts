import { ConnectError } from "@connectrpc/connect";

/** The ConnectError a call fails with; a call that succeeds fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
