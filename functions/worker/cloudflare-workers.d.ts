// The parts of workerd's `cloudflare:workers` module the Worker uses (https://developers.cloudflare.com/durable-objects/api/):
// the Durable Object base class and its state's storage. Declared here, as env.ts declares the bindings, so the
// platform code type-checks without the full workers-types package.
declare module 'cloudflare:workers' {
  export interface DurableObjectStorage {
    get<T>(key: string): Promise<T | undefined>;
    get<T>(keys: string[]): Promise<Map<string, T>>;
    put<T>(key: string, value: T): Promise<void>;
    put(entries: Record<string, unknown>): Promise<void>;
    delete(keys: string | string[]): Promise<boolean | number>;
    deleteAll(): Promise<void>;
    setAlarm(scheduledTimeMs: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    getAlarm(): Promise<number | null>;
  }
  export interface DurableObjectState {
    readonly storage: DurableObjectStorage;
  }
  export abstract class DurableObject<E = unknown> {
    protected readonly ctx: DurableObjectState;
    protected readonly env: E;
    constructor(ctx: DurableObjectState, env: E);
  }
}
