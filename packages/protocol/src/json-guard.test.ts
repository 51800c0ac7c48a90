import { hasDuplicate, parseFirstWins, tree, write } from '@sigpost/test-support/duplicate-keys';
import { validSignal } from '@sigpost/test-support/fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkJson, JSON_LIMITS, type JsonLimits } from './json-guard.js';

const BODY = JSON.stringify(validSignal({ payload: undefined }));
const withPayload = (payload: string) => `${BODY.slice(0, -1)},"payload":${payload}}`;
const refusal = (text: string, limits?: JsonLimits) => {
  const check = checkJson(text, limits);
  if (check.ok) throw new Error(`expected a refusal of ${text.slice(0, 80)}`);
  return check;
};

/** Nested `{"a":…}` objects: `levels` levels in all. */
const nestedObjects = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;

describe('checkJson: limits', () => {
  it('accepts a typical signal, with and without a payload', () => {
    expect(checkJson(BODY)).toEqual({ ok: true });
    expect(checkJson(withPayload('{"rsi":71.2,"ids":[1,2,3],"src":{"desk":"fx"}}'))).toEqual({ ok: true });
  });

  it(`accepts ${JSON_LIMITS.maxDepth} levels of nesting and refuses one more, naming the limit and the path`, () => {
    expect(checkJson(nestedObjects(32))).toEqual({ ok: true });
    expect(checkJson(`${'['.repeat(32)}${']'.repeat(32)}`)).toEqual({ ok: true });
    const deep = refusal(nestedObjects(33));
    expect(deep).toMatchObject({ reason: 'limit', limit: 'maxDepth' });
    expect(deep.message).toBe(`${Array(32).fill('a').join('.')}: nested over the limit of 32 levels`);
    const arrays = refusal(withPayload(`{"x":${'['.repeat(40)}${']'.repeat(40)}}`));
    expect(arrays.message).toMatch(/^payload\.x(\[0\]){30}: nested over the limit of 32 levels$/);
  });

  it('refuses 10,000 and 1,000,000 levels without overflowing the stack (they parse, but do not serialise)', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(() => JSON.stringify(JSON.parse(deep))).toThrow(RangeError);
    expect(refusal(deep)).toMatchObject({ reason: 'limit', limit: 'maxDepth', offset: 32 });
    expect(refusal('['.repeat(1_000_000))).toMatchObject({ reason: 'limit', limit: 'maxDepth' });
  });

  it.each<[keyof JsonLimits, (n: number) => string, string]>([
    [
      'maxKeysPerObject',
      (n) => `{${Array.from({ length: n }, (_, k) => `"k${k}":0`).join(',')}}`,
      'payload: object over the limit of 256 keys',
    ],
    [
      'maxArrayElements',
      (n) => `[${Array(n).fill(0).join(',')}]`,
      'payload: array over the limit of 1024 elements',
    ],
    [
      'maxValues',
      (n) =>
        `{${Array.from({ length: Math.ceil(n / 1000) }, (_, k) => `"k${k}":[${Array(999).fill(0).join(',')}]`).join(',')}}`,
      'payload.k4[85]: over the limit of 4096 values in one body',
    ],
    [
      'maxStringLength',
      (n) => `{"note":"${'x'.repeat(n)}"}`,
      'payload.note: string over the limit of 4096 characters',
    ],
    ['maxKeyLength', (n) => `{"${'k'.repeat(n)}":1}`, 'payload: key over the limit of 256 characters'],
  ])('accepts exactly %s and refuses one more', (limit, payload, message) => {
    const max = JSON_LIMITS[limit];
    if (limit !== 'maxValues') expect(checkJson(withPayload(payload(max)))).toEqual({ ok: true });
    const over = refusal(withPayload(payload(max + 1)));
    expect(over).toMatchObject({ reason: 'limit', limit });
    expect(over.message).toBe(message);
  });

  it('counts an escaped string by its unescaped length', () => {
    expect(checkJson(`"${'\\u0041'.repeat(4096)}"`)).toEqual({ ok: true });
    expect(refusal(`"${'\\n'.repeat(4097)}"`).limit).toBe('maxStringLength');
  });

  it('shortens a path over 240 characters in the middle', () => {
    const key = 'k'.repeat(200);
    const over = refusal(`${`{"${key}":`.repeat(33)}1${'}'.repeat(33)}`);
    // 32 keys of 200 characters: the first and last 120 characters of the path are inside a key.
    expect(over.path).toBe(`${'k'.repeat(120)}…${'k'.repeat(120)}`);
    expect(over.message).toBe(`${over.path}: nested over the limit of 32 levels`);
  });

  it('takes other limits', () => {
    const limits = { ...JSON_LIMITS, maxDepth: 2 };
    expect(checkJson('[[1]]', limits)).toEqual({ ok: true });
    expect(refusal('[[[1]]]', limits).message).toBe('[0][0]: nested over the limit of 2 levels');
  });
});

describe('checkJson: numbers every consumer reads back as the same number', () => {
  it('accepts integers up to ±(2^53 − 1) and refuses one more, naming the path and the limit', () => {
    for (const n of ['9007199254740991', '-9007199254740991', '0', '-0', '123456789012345'])
      expect(checkJson(withPayload(`{"n":${n}}`))).toEqual({ ok: true });
    const over = refusal(withPayload('{"n":9007199254740992}'));
    expect(over).toMatchObject({ reason: 'limit', limit: 'maxInteger', path: 'payload.n' });
    expect(over.message).toBe(
      'payload.n: integer 9007199254740992 over the limit of ±9007199254740991 (2^53 − 1), the largest that every consumer reads exactly; send a larger integer as a string',
    );
    expect(refusal(withPayload('{"ids":[1,-12345678901234567890123]}'))).toMatchObject({
      reason: 'limit',
      limit: 'maxInteger',
      path: 'payload.ids[1]',
    });
    // JSON.parse rounds it: the consumer would read another number than the producer signed.
    expect(BigInt(JSON.parse('12345678901234567890123'))).not.toBe(12345678901234567890123n);
  });

  it('refuses a number out of the range of a double (it parses to Infinity), however it is written', () => {
    const long = `1${'0'.repeat(400)}.5`;
    for (const [n, shown] of [
      ['1e400', '1e400'],
      ['-1E+309', '-1E+309'],
      [long, `1${'0'.repeat(19)}…${'0'.repeat(18)}.5`],
      [`1${'0'.repeat(400)}`, `1${'0'.repeat(19)}…${'0'.repeat(20)}`],
    ]) {
      expect(Number.isFinite(JSON.parse(n as string))).toBe(false);
      const check = refusal(withPayload(`{"px":[${n}]}`));
      expect(check).toMatchObject({ reason: 'number', path: 'payload.px[0]' });
      expect(check.message).toBe(
        `payload.px[0]: number ${shown} out of the range of a double (±1.7976931348623157e+308); consumers would read Infinity or fail`,
      );
    }
  });

  it('accepts every finite double, written with a fraction or an exponent', () => {
    for (const n of [
      '1.7976931348623157e308',
      '-1e308',
      '1e20',
      '12345678901234567890123.5',
      '1e-400',
      '5e-324',
      `0.${'1'.repeat(500)}`,
    ])
      expect(checkJson(withPayload(`{"n":${n}}`))).toEqual({ ok: true });
  });

  it('an integer is accepted exactly when it is a safe integer (property)', () => {
    const big = 2n ** 80n;
    fc.assert(
      fc.property(
        fc.oneof(fc.bigInt({ min: -big, max: big }), fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n })),
        (b) => {
          expect(checkJson(`[${b}]`).ok).toBe((b < 0n ? -b : b) <= BigInt(Number.MAX_SAFE_INTEGER));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('takes another integer limit', () => {
    const limits = { ...JSON_LIMITS, maxInteger: 100 };
    expect(checkJson('[100,-100,100.5,1e3]', limits)).toEqual({ ok: true });
    expect(refusal('[101]', limits).message).toBe(
      '[0]: integer 101 over the limit of ±100, the largest that every consumer reads exactly; send a larger integer as a string',
    );
  });
});

describe('checkJson: duplicate keys', () => {
  it('refuses a duplicate key at the top level and at any depth, naming its path', () => {
    expect(refusal('{"side":"sell","side":"buy"}')).toMatchObject({
      reason: 'duplicate-key',
      path: 'side',
      message:
        'side: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
    });
    expect(refusal(withPayload('{"a":{"b":1,"c":2,"b":3}}')).path).toBe('payload.a.b');
    expect(refusal(withPayload('{"list":[{"x":1},{"x":1,"x":2}]}')).path).toBe('payload.list[1].x');
    expect(refusal(withPayload('{"a.b":{"":1,"":2}}')).path).toBe('payload["a.b"][""]');
  });

  it('compares keys by value: "a" and "\\u0061" are the same key', () => {
    expect(refusal('{"a":1,"\\u0061":2}').path).toBe('a');
    expect(refusal('{"\\/":1,"/":2}').path).toBe('["/"]');
  });

  it('finds a duplicate in a large object (keys kept in a set past the sixteenth), written either way', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 59 }), fc.boolean()), { maxLength: 60, size: 'max' }),
        (members) => {
          const text = `{${members
            .map(
              ([k, escaped], at) =>
                `"${escaped ? `k\\u00${(0x30 + (k % 10)).toString(16)}${Math.floor(k / 10)}` : `k${k % 10}${Math.floor(k / 10)}`}":${at}`,
            )
            .join(',')}}`;
          const unique = new Set(members.map(([k]) => k)).size === members.length;
          expect(checkJson(text).ok).toBe(unique);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('allows the same key in sibling and nested objects, and different keys of equal hash', () => {
    expect(checkJson('{"Aa":1,"BB":2}')).toEqual({ ok: true });
    expect(checkJson('{"a":{"a":1},"b":{"a":2},"c":[{"a":1},{"a":2}]}')).toEqual({ ok: true });
  });
});

describe('checkJson: grammar', () => {
  it.each([
    ['', '(body): expected a JSON value, found the end of the body'],
    ['{"instrument": ', 'instrument: expected a JSON value, found the end of the body'],
    ['{"a":1,}', '(body): expected a string key at character 7'],
    ['[1,]', '[1]: expected a JSON value at character 3'],
    ['{"a" 1}', 'a: expected ":" after the key at character 5'],
    ['{"a":01}', 'a: expected "," or "}" at character 6'],
    [
      '"\\x"',
      '(body): expected a valid string (escapes \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX) at character 1',
    ],
    ['\ufeff{}', '(body): expected a JSON value at character 0'],
    ['{} {}', '(body): expected the end of the body after the JSON value at character 3'],
    ['tru', '(body): expected a JSON value at character 0'],
  ])('refuses %j: %s', (text, message) => {
    expect(refusal(text)).toMatchObject({ reason: 'syntax', message });
  });

  const wide = { ...JSON_LIMITS, maxValues: 1e9, maxStringLength: 1e9, maxKeyLength: 1e9 } as const;
  /** A JSON text, or one with a character inserted, removed or replaced: mostly near-JSON. */
  const text = fc.oneof(
    fc.json(),
    fc
      .tuple(
        fc.json(),
        fc.nat(),
        fc.nat(3),
        fc.constantFrom(...'{}[],:"\\ -+.eE0123456789tfnulx\t\n\u0000\u2028'),
      )
      .map(([t, at, op, ch]) => {
        const k = t.length === 0 ? 0 : at % t.length;
        return op === 0
          ? t.slice(0, k) + t.slice(k + 1)
          : op === 1
            ? t.slice(0, k) + ch + t.slice(k)
            : t.slice(0, k) + ch + t.slice(k + 1);
      }),
    fc.string({ unit: fc.constantFrom(...'{}[],:"\\ -.e019tfnul') }),
  );

  it('agrees with JSON.parse on which texts are JSON (property)', () => {
    fc.assert(
      fc.property(text, (t) => {
        let parses = true;
        try {
          JSON.parse(t);
        } catch {
          parses = false;
        }
        const check = checkJson(t, wide);
        // Passed texts parse; texts refused as not JSON do not. A duplicate key or a depth over 32 can
        // be refused before the scan reaches a later syntax error, so those refusals say nothing here.
        if (check.ok) return parses;
        return check.reason !== 'syntax' || !parses;
      }),
      { numRuns: 3000 },
    );
  });
});

describe('checkJson: first-wins and last-wins parsers agree on every accepted body (property)', () => {
  it('a body it accepts parses to the same value under both; a body with a duplicate key is refused', () => {
    fc.assert(
      fc.property(tree.node, (node) => {
        const text = write(node);
        const check = checkJson(text);
        if (check.ok) expect(parseFirstWins(text)).toEqual(JSON.parse(text));
        if (hasDuplicate(node)) expect(check).toMatchObject({ ok: false, reason: 'duplicate-key' });
        else expect(check).toEqual({ ok: true });
      }),
      { numRuns: 2000 },
    );
  });

  it('the two parsers do disagree on a duplicate key (the test can fail)', () => {
    const text = '{"side":"sell","\\u0073ide":"buy"}';
    expect(parseFirstWins(text)).toEqual({ side: 'sell' });
    expect(JSON.parse(text)).toEqual({ side: 'buy' });
    expect(checkJson(text).ok).toBe(false);
  });
});
