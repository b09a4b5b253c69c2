/**
 * What the page remembers between visits, in localStorage. Reading never throws: storage may be disabled
 * (private windows, strict settings) or hold something an older version wrote, and the page must still start.
 */

export function loadJson(key: string): unknown {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? undefined : (JSON.parse(raw) as unknown);
  } catch {
    return undefined;
  }
}

export function saveJson(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled storage: the page works, it just forgets.
  }
}
