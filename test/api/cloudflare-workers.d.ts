// The parts of workerd's `cloudflare:workers` module the api tests use (provided by @cloudflare/vitest-plugin).
// Tests cast `env` to the Worker's Env (functions/worker/env.ts).
declare module 'cloudflare:workers' {
  export const env: unknown;
  export const exports: { default: { fetch(request: Request): Promise<Response> } };
}

// The parts of `cloudflare:test` (@cloudflare/vitest-plugin) the job tests use: running code inside a Durable
// Object of the Worker (to age a job as a dead consumer leaves it) and running its alarm at once.
declare module 'cloudflare:test' {
  export interface TestDurableObjectStorage {
    get<T>(key: string): Promise<T | undefined>;
    put<T>(key: string, value: T): Promise<void>;
    setAlarm(scheduledTimeMs: number): Promise<void>;
  }
  export type DurableObjectStubOfTest = { readonly __durableObjectStub?: never };
  export function runInDurableObject<R>(stub: DurableObjectStubOfTest, callback: (instance: unknown, state: { storage: TestDurableObjectStorage }) => R | Promise<R>): Promise<R>;
  export function runDurableObjectAlarm(stub: DurableObjectStubOfTest): Promise<boolean>;
}
