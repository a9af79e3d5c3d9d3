/**
 * workerd settles a promise only within the request that created it: awaiting, from a later request, a promise
 * whose request has ended (its client went away mid-way) rejects with this error, and the promise never settles.
 * Caches of promises shared between requests (sessions, the models index) recognise it and start over.
 */
export function isFromEndedRequest(e: unknown): boolean {
  return e instanceof Error && e.message.includes('created by a request that has since ended');
}
