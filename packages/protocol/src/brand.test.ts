import { describe, expect, it } from 'vitest';
import { defineBrand } from './index.js';

describe('defineBrand', () => {
  class Base extends Error {}
  class Sub extends Base {}
  const isBase = defineBrand(Base, 'sigpost.test.Base', 'sigpost.test.base-0.1');

  it('recognises instances and subclass instances, and nothing else', () => {
    expect(isBase(new Base('x'))).toBe(true);
    expect(isBase(new Sub('x'))).toBe(true);
    expect(isBase(new Error('x'))).toBe(false);
    expect(isBase({})).toBe(false);
    expect(isBase(null)).toBe(false);
    expect(isBase('sigpost.test.Base')).toBe(false);
  });

  it('recognises an object of another copy by any of the names (Symbol.for)', () => {
    for (const name of ['sigpost.test.Base', 'sigpost.test.base-0.1']) {
      const foreign = new Error('from another copy');
      Object.defineProperty(foreign, Symbol.for(name), { value: true });
      expect(isBase(foreign)).toBe(true);
    }
  });

  it('puts every brand on the prototype, not enumerable and not on instances', () => {
    for (const name of ['sigpost.test.Base', 'sigpost.test.base-0.1']) {
      expect(Object.getOwnPropertyDescriptor(Base.prototype, Symbol.for(name))).toEqual({
        value: true,
        writable: false,
        enumerable: false,
        configurable: false,
      });
      expect(Reflect.ownKeys(new Base('x'))).not.toContain(Symbol.for(name));
    }
  });
});
