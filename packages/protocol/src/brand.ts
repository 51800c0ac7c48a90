// Brands: how the errors of every Sigpost package are recognised across installed copies.

/**
 * Puts `Symbol.for(name)` on `cls.prototype` for each name (the current brand first, then older ones
 * still accepted), as a non-enumerable property (a brand, not data), and returns the guard: true for
 * any object that carries one of them, i.e. an instance of `cls` or of a subclass, also one made by
 * another installed copy of the package, where `instanceof` is false.
 *
 * @example
 * export class IngestError extends Error { … }
 * export const isIngestError = defineBrand(IngestError, 'sigpost.IngestError');
 */
export function defineBrand<T extends object>(
  cls: abstract new (...args: never[]) => T,
  ...names: readonly [string, ...string[]]
): (value: unknown) => value is T {
  const brands = names.map((name) => Symbol.for(name));
  for (const brand of brands) Object.defineProperty(cls.prototype, brand, { value: true });
  return (value: unknown): value is T => {
    if (typeof value !== 'object' || value === null) return false;
    for (const brand of brands) if ((value as Record<symbol, unknown>)[brand] === true) return true;
    return false;
  };
}
