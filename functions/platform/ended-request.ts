/**
 * workerd settles a promise only within the request that created it: awaiting, from a later request, a promise
 * whose request has ended (its client went away mid-way) rejects with this error, and the promise never settles.
 * Caches of promises shared between requests (sessions, the models index) recognise it and start over.
 */
function isFromEndedRequest(e: unknown): boolean {
  return e instanceof Error && e.message.includes('created by a request that has since ended');
}

/** A cache's kept promise, or `start()` when there is none or it belonged to a request that has ended. */
export function keptOrStarted<T>(kept: Promise<T> | undefined, start: () => Promise<T>): Promise<T> {
  return kept ? kept.catch((e: unknown) => (isFromEndedRequest(e) ? start() : Promise.reject(e))) : start();
}
