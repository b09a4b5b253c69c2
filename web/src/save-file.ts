/** Saving something the page fetched as a file with a chosen name (a cross-origin link cannot choose it). */
import { authHeaders } from "./api-key.js";

export function saveBlob(blob: Blob, name: string): void {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** Fetches `url` (with the API key when it is the gateway's) and saves it; throws with a readable reason. */
export async function fetchAndSave(url: string, name: string, withAuth = false): Promise<void> {
  const res = await fetch(url, withAuth ? { headers: authHeaders() } : {});
  if (res.status === 404) throw new Error("not found (the gateway may not offer this download yet)");
  if (!res.ok) throw new Error(`the server answered ${res.status}`);
  saveBlob(await res.blob(), name);
}
