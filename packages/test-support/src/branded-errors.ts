// The checks every error base class of Sigpost passes (issue 12): constructor (message, { code, cause, … }),
// a Symbol.for('sigpost.<Name>') brand on the prototype, and an exported isX guard that recognises an error
// of another copy of the package by that brand, never by its code or its shape.
import { describe, expect, it } from 'vitest';

export interface BrandedErrorCase {
  /** The base class's name: its brand is `Symbol.for('sigpost.<name>')`. */
  readonly name: string;
  readonly guard: (value: unknown) => boolean;
  /** Builds an instance with `code` and `cause` (as given to the constructor's options). */
  readonly make: () => Error & { readonly code: string };
  readonly code: string;
  readonly cause: unknown;
  /** The brand's key in 0.1.0, which the guard still accepts. */
  readonly legacyBrand?: string;
}

/** One `describe` per base class with the tests of the convention. */
export function describeBrandedErrors(cases: readonly BrandedErrorCase[]): void {
  describe.each(cases)('$name', ({ name, guard, make, code, cause, legacyBrand }) => {
    const brand = Symbol.for(`sigpost.${name}`);

    it('takes (message, { code, cause })', () => {
      const error = make();
      expect(error).toBeInstanceOf(Error);
      expect([error.name, error.code, error.cause]).toEqual([name, code, cause]);
    });

    it('is recognised by its guard, also when branded by another copy of the package', () => {
      expect(guard(make())).toBe(true);
      for (const key of legacyBrand === undefined ? [brand] : [brand, Symbol.for(legacyBrand)]) {
        const foreign = Object.assign(new Error('from another copy'), { code });
        expect(guard(foreign)).toBe(false);
        Object.defineProperty(foreign, key, { value: true });
        expect(guard(foreign), String(key)).toBe(true);
      }
    });

    it('is not recognised by its code or shape alone (no duck typing)', () => {
      expect(guard(Object.assign(new Error('x'), { code, name }))).toBe(false);
      expect(guard({ code })).toBe(false);
      expect(guard(null)).toBe(false);
      expect(guard(code)).toBe(false);
    });

    it('keeps its brand on the prototype, out of the fields', () => {
      const error = make();
      expect(brand in error).toBe(true);
      expect(Reflect.ownKeys(error)).not.toContain(brand);
    });
  });
}
