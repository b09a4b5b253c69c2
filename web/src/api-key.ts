/**
 * The API key a gateway with IMGC_API_KEYS asks for, sent as `Authorization: Bearer <key>` with every call.
 * Kept for the browser session, or on this device when the person asks for it. A refused key raises the
 * "imgc:unauthenticated" event, on which the page asks for one.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

const storageKey = "imgc.api-key";
export const unauthenticatedEvent = "imgc:unauthenticated";

function read(store: () => Storage): string {
  try {
    return store().getItem(storageKey) ?? "";
  } catch {
    return "";
  }
}

export function apiKey(): string {
  return read(() => sessionStorage) || read(() => localStorage);
}

export function isKeyRemembered(): boolean {
  return read(() => localStorage) !== "";
}

export function setApiKey(key: string, remember: boolean): void {
  try {
    sessionStorage.removeItem(storageKey);
    localStorage.removeItem(storageKey);
    if (key) (remember ? localStorage : sessionStorage).setItem(storageKey, key);
  } catch {
    // Storage disabled: the key cannot be kept, and the gateway will ask again.
  }
}

export function authHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

let reportedFor: string | undefined;

/** Asks the page for a key, once per key tried: a poller hitting 401 every few seconds must not nag. */
export function reportUnauthenticated(message: string): void {
  if (reportedFor === apiKey()) return;
  reportedFor = apiKey();
  window.dispatchEvent(new CustomEvent(unauthenticatedEvent, { detail: message }));
}

export const authInterceptor: Interceptor = (next) => async (request) => {
  for (const [name, value] of Object.entries(authHeaders())) request.header.set(name, value);
  try {
    return await next(request);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unauthenticated) reportUnauthenticated(err.rawMessage);
    throw err;
  }
};
