/**
 * Delete tokens of the results uploaded from this browser, kept in localStorage (never sent anywhere except in
 * the Authorization header of a DELETE). The list also feeds "Your recent reports" on the upload page.
 */
export interface SavedResult {
  id: string;
  deleteToken: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
}

const KEY = 'leadlight.results.v1';

export function savedResults(): SavedResult[] {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) ?? '[]') as SavedResult[];
    const now = Date.now();
    return Array.isArray(list) ? list.filter((r) => r && r.id && (!r.expiresAt || Date.parse(r.expiresAt) > now)) : [];
  } catch {
    return [];
  }
}

export function saveResult(entry: SavedResult): void {
  const list = savedResults().filter((r) => r.id !== entry.id);
  list.unshift(entry);
  try {
    localStorage.setItem(KEY, JSON.stringify(list.slice(0, 50)));
  } catch {
    // storage full or disabled: the report still works, only deleting from this browser does not
  }
}

export function tokenFor(id: string): string | undefined {
  return savedResults().find((r) => r.id === id)?.deleteToken;
}

export function forgetResult(id: string): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(savedResults().filter((r) => r.id !== id)));
  } catch {
    // ignore
  }
}
