// The parts of workerd's `cloudflare:workers` module the Worker uses (https://developers.cloudflare.com/durable-objects/api/):
// the Durable Object base class and its state's storage. Declared here, as env.ts declares the bindings, so the
// platform code type-checks without the full workers-types package.
declare module 'cloudflare:workers' {
  /** A SQLite-backed object's SQL API (https://developers.cloudflare.com/durable-objects/api/sqlite-storage-api/). */
  export type SqlStorageValue = ArrayBuffer | string | number | null;
  export interface SqlStorageCursor<T> extends Iterable<T> {
    toArray(): T[];
    one(): T;
    readonly rowsRead: number;
    readonly rowsWritten: number;
  }
  export interface SqlStorage {
    exec<T = Record<string, SqlStorageValue>>(query: string, ...bindings: (ArrayBuffer | Uint8Array | string | number | null)[]): SqlStorageCursor<T>;
  }
  export interface DurableObjectStorage {
    readonly sql: SqlStorage;
    transactionSync<T>(closure: () => T): T;
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
