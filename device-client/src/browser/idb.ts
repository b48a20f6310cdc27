/**
 * The few IndexedDB operations the browser build needs, as promises. Values go in by structured
 * clone, which keeps a non-extractable CryptoKey usable after a reload without ever exposing its
 * key material (WebCrypto §14.3, "structured clone of a CryptoKey"): that is what makes IndexedDB,
 * unlike localStorage, a place for the DPoP key and the sealing key.
 */
const STORES = ['keys', 'tokens'] as const;
export type StoreName = (typeof STORES)[number];

const done = <T>(request: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

export interface KeyValueDatabase {
  get<T>(store: StoreName, key: string): Promise<T | undefined>;
  put(store: StoreName, key: string, value: unknown): Promise<void>;
  delete(store: StoreName, key: string): Promise<void>;
}

export async function openDatabase(name: string): Promise<KeyValueDatabase> {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    for (const store of STORES) if (!open.result.objectStoreNames.contains(store)) open.result.createObjectStore(store);
  };
  const db = await done(open);
  const run = async <T>(store: StoreName, mode: IDBTransactionMode, work: (objects: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const transaction = db.transaction(store, mode);
    const result = await done(work(transaction.objectStore(store)));
    // A write counts once its transaction has committed, not when its request succeeded.
    if (mode === 'readwrite') {
      await new Promise<void>((resolve, reject) => {
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error);
      });
    }
    return result;
  };
  return {
    get: (store, key) => run(store, 'readonly', (objects) => objects.get(key)),
    put: async (store, key, value) => void (await run(store, 'readwrite', (objects) => objects.put(value, key))),
    delete: async (store, key) => void (await run(store, 'readwrite', (objects) => objects.delete(key))),
  };
}
