/**
 * A value shared by the requests of one workerd isolate (an ORT session, the models index), handed out so that no
 * request ever awaits a promise made by another request.
 *
 * workerd settles a promise only within the request (I/O context) that created it. A request that awaits another
 * request's pending promise has no event of its own pending and is cancelled as hung ("The Workers runtime
 * canceled this request because it detected that your Worker's code had hung and would never generate a
 * response"), and a promise whose request was cancelled or ended never settles at all — so one cancelled request
 * in a chain of shared promises made every later request of the isolate fail at once (issue 13, the "poisoned
 * isolate"). Here a kept value is handed out only once it has settled; while another request is still making it,
 * a caller waits on timers of its own (polling), and a making that has not settled within `staleMs` (its request
 * died) is started anew by the caller. A making that failed is started anew by the next caller.
 */

/** How often a waiting request looks again. */
const POLL_MS = 5;

export class SharedValue<T> {
  private value: { v: T } | undefined;
  private makingSince: number | null = null;
  private generation = 0;
  private readonly make: () => Promise<T>;
  private readonly staleMs: number;

  constructor(make: () => Promise<T>, staleMs = 60_000) {
    this.make = make;
    this.staleMs = staleMs;
  }

  /** The kept value; made by this call when there is none (or its making failed or died). */
  async get(): Promise<T> {
    for (;;) {
      if (this.value) return this.value.v;
      if (this.makingSince === null || Date.now() - this.makingSince > this.staleMs) return this.start();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The value when it is there, without waiting or making it. */
  peek(): T | undefined {
    return this.value?.v;
  }

  private async start(): Promise<T> {
    const generation = ++this.generation;
    this.makingSince = Date.now();
    try {
      const v = await this.make();
      if (generation === this.generation) {
        this.value = { v };
        this.makingSince = null;
      }
      return v;
    } catch (e) {
      if (generation === this.generation) this.makingSince = null;
      throw e;
    }
  }
}
