/**
 * A cache of at least `max` and at most 2 × `max` entries, the most recently
 * set ones: two generations of up to `max` each; when the current one is full
 * it becomes the previous one and the oldest generation is dropped whole.
 * (Evicting Map entries one by one from the front is quadratic in V8:
 * iteration walks the deleted slots.) Only for what can be asked for again
 * when it is gone.
 */
export interface BoundedMap<K, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): void;
  delete(key: K): boolean;
  values(): IterableIterator<V>;
  readonly size: number;
}

export function boundedMap<K, V>(max: number): BoundedMap<K, V> {
  if (!(max >= 1)) throw new Error(`bounded map needs room for at least one entry, not ${max}`);
  let current = new Map<K, V>();
  let previous = new Map<K, V>();
  return {
    get: (key) => current.get(key) ?? previous.get(key),
    has: (key) => current.has(key) || previous.has(key),
    set(key, value) {
      previous.delete(key);
      current.set(key, value);
      if (current.size >= max) {
        previous = current;
        current = new Map();
      }
    },
    delete: (key) => current.delete(key) || previous.delete(key),
    *values() {
      yield* previous.values();
      yield* current.values();
    },
    get size() {
      return current.size + previous.size;
    },
  };
}
