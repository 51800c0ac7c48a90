// Duplicate JSON keys, for the tests that check that every body the server accepts reads the same under
// first-wins and last-wins parsers: a generator of JSON texts whose objects may repeat a key (plainly or
// \u-escaped), and a tiny parser that keeps the FIRST value of a repeated key (JSON.parse keeps the
// last). Recursive and unguarded: for small test inputs only.
import fc from 'fast-check';

// A JSON document as a tree whose objects may repeat a key, each key written plainly or \u-escaped.
export type Node =
  | { readonly t: 'lit'; readonly v: string | number | boolean | null }
  | { readonly t: 'arr'; readonly items: readonly Node[] }
  | { readonly t: 'obj'; readonly members: readonly (readonly [string, boolean, Node])[] };

/** Trees of JSON values whose objects often repeat a key (from a small alphabet), plainly or escaped. */
export const tree = fc.letrec<{ node: Node; obj: Node; arr: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc
      .oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null))
      .map((v) => ({ t: 'lit', v }) as const),
    tie('obj'),
    tie('arr'),
  ),
  arr: fc.array(tie('node'), { maxLength: 4 }).map((items) => ({ t: 'arr', items }) as const),
  obj: fc
    // A small alphabet of keys, so that duplicates (plain or escaped) come often.
    .array(fc.tuple(fc.constantFrom('a', 'b', 'side', 'é', '"', ''), fc.boolean(), tie('node')), {
      maxLength: 4,
    })
    .map((members) => ({ t: 'obj', members }) as const),
}));

/** The JSON text of a tree, each key written as chosen (plain, or every character `\\u`-escaped). */
export function write(node: Node): string {
  switch (node.t) {
    case 'lit':
      return JSON.stringify(node.v);
    case 'arr':
      return `[${node.items.map(write).join(',')}]`;
    case 'obj':
      return `{${node.members
        .map(([key, escaped, value]) => {
          const k = escaped
            ? `"${[...key].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
            : JSON.stringify(key);
          return `${k}:${write(value)}`;
        })
        .join(',')}}`;
  }
}

/** True when some object of the tree has a key twice (by value). */
export function hasDuplicate(node: Node): boolean {
  if (node.t === 'lit') return false;
  if (node.t === 'arr') return node.items.some(hasDuplicate);
  const keys = node.members.map(([key]) => key);
  return new Set(keys).size !== keys.length || node.members.some(([, , value]) => hasDuplicate(value));
}

/**
 * Parses a valid JSON text, keeping the first value of a repeated key.
 *
 * @example
 * parseFirstWins('{"side":"sell","side":"buy"}'); // { side: 'sell' }
 */
export function parseFirstWins(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const object: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return object;
      }
      for (;;) {
        ws();
        const key = value() as string;
        ws();
        i++; // :
        const v = value();
        if (!Object.hasOwn(object, key)) {
          Object.defineProperty(object, key, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        ws();
        if (text[i++] === '}') return object;
      }
    }
    if (c === '[') {
      i++;
      const array: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return array;
      }
      for (;;) {
        array.push(value());
        ws();
        if (text[i++] === ']') return array;
      }
    }
    // A scalar: the longest prefix that JSON.parse reads as one (strings end at an unescaped quote).
    const start = i;
    if (c === '"') {
      i++;
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else while (i < text.length && !/[,\]}\s]/.test(text[i] as string)) i++;
    return JSON.parse(text.slice(start, i));
  };
  return value();
}
