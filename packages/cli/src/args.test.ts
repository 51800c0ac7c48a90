import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as args from './args.js';
import { FlagValueError } from './args.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-args-'));
const file = join(dir, 'body.json');
writeFileSync(file, '{}');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The message a parser throws for a value (fails the test when it does not throw). */
function messageOf(parse: (value: string) => unknown, value: string): string {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(FlagValueError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('flag parsers refuse a bad value with one line naming the flag and what it expects', () => {
  const cases: [string, (value: string) => unknown, string, string][] = [
    [
      'price: a word',
      args.positiveNumber('--entry-price'),
      'abc',
      '--entry-price expects a number > 0, received "abc"',
    ],
    [
      'price: zero',
      args.positiveNumber('--stop-loss'),
      '0',
      '--stop-loss expects a number > 0, received "0"',
    ],
    [
      'price: negative',
      args.positiveNumber('--stop-loss'),
      '-1',
      '--stop-loss expects a number > 0, received "-1"',
    ],
    [
      'price: empty',
      args.positiveNumber('--take-profit'),
      '',
      '--take-profit expects a number > 0, received ""',
    ],
    [
      'price: hex',
      args.positiveNumber('--take-profit'),
      '0x10',
      '--take-profit expects a number > 0, received "0x10"',
    ],
    [
      'price: Infinity',
      args.positiveNumber('--take-profit'),
      'Infinity',
      '--take-profit expects a number > 0, received "Infinity"',
    ],
    [
      'price: overflow',
      args.positiveNumber('--take-profit'),
      '1e999',
      '--take-profit expects a number > 0, received "1e999"',
    ],
    [
      'range: a word',
      args.numberInRange('--confidence', 0, 1),
      'high',
      '--confidence expects a number from 0 to 1, received "high"',
    ],
    [
      'range: above',
      args.numberInRange('--confidence', 0, 1),
      '1.01',
      '--confidence expects a number from 0 to 1, received "1.01"',
    ],
    [
      'range: unit',
      args.numberInRange('--timeout', 5, 300, ' of seconds'),
      '2',
      '--timeout expects a number of seconds from 5 to 300, received "2"',
    ],
    [
      'integer: fraction',
      args.integerInRange('--concurrency', 1, 64),
      '1.5',
      '--concurrency expects an integer from 1 to 64, received "1.5"',
    ],
    [
      'integer: zero',
      args.integerInRange('--concurrency', 1, 64),
      '0',
      '--concurrency expects an integer from 1 to 64, received "0"',
    ],
    [
      'choice of two',
      args.oneOf('--side', ['buy', 'sell']),
      'long',
      '--side expects "buy" or "sell", received "long"',
    ],
    [
      'choice of three',
      args.oneOf('--mode', ['a', 'b', 'c']),
      'd',
      '--mode expects one of "a", "b" or "c", received "d"',
    ],
    [
      'text: empty',
      args.textOfLength('--reason', 1, 500),
      '',
      '--reason expects 1–500 characters, received ""',
    ],
    [
      'text: too long',
      args.textOfLength('--reason', 1, 500),
      'x'.repeat(501),
      '--reason expects 1–500 characters, received 501 characters',
    ],
    [
      'json: not JSON',
      args.jsonObject('--payload'),
      '{rsi:35}',
      '--payload expects a JSON object such as {"rsi":35}, received "{rsi:35}", which is not valid JSON',
    ],
    [
      'json: an array',
      args.jsonObject('--payload'),
      '[1,2]',
      '--payload expects a JSON object such as {"rsi":35}, received "[1,2]"',
    ],
    [
      'json: null',
      args.jsonObject('--payload'),
      'null',
      '--payload expects a JSON object such as {"rsi":35}, received "null"',
    ],
    [
      'json: a duplicate key (JSON.parse would keep the last value)',
      args.jsonObject('--payload'),
      '{"a":1,"a":2}',
      '--payload expects a JSON object such as {"rsi":35}, received "{\\"a\\":1,\\"a\\":2}", refused: ' +
        'a: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
    ],
    [
      'json: a nested duplicate key, named by its path in the body',
      args.jsonObject('--payload', 'payload'),
      '{"m":{"b":1,"b":1}}',
      '--payload expects a JSON object such as {"rsi":35}, received "{\\"m\\":{\\"b\\":1,\\"b\\":1}}", refused: ' +
        'payload.m.b: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
    ],
    [
      'json: nested deeper than a body may be, counting the body around the payload',
      args.jsonObject('--payload', 'payload'),
      `${'{"a":'.repeat(32)}1${'}'.repeat(32)}`,
      `--payload expects a JSON object such as {"rsi":35}, received ${JSON.stringify('{"a":'.repeat(8))}… (193 characters), refused: ` +
        `payload${'.a'.repeat(31)}: nested over the limit of 32 levels`,
    ],
    [
      'file: missing',
      args.readableFile('--body-file'),
      join(dir, 'nope.json'),
      `--body-file expects a readable file, received ${JSON.stringify(join(dir, 'nope.json'))} (no such file)`,
    ],
    [
      'file: a directory',
      args.readableFile('--body-file'),
      dir,
      `--body-file expects a readable file, received ${JSON.stringify(dir)} (not a regular file)`,
    ],
    [
      'timestamp',
      args.timestamp('--timestamp'),
      'yesterday',
      '--timestamp expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "yesterday"',
    ],
    [
      'timestamp: no zone',
      args.timestamp('--timestamp'),
      '2025-10-25T14:30:45',
      '--timestamp expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "2025-10-25T14:30:45"',
    ],
    [
      'producer id',
      args.producerId('--producer-id'),
      'desk 1',
      '--producer-id expects 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"',
    ],
    [
      'producer id: a pasted secret is refused, not created or looked up, and not shown',
      args.producerId('--id'),
      'roz5E2wQk9Xv1mT3bN8cL0pZr4yH6uJ7sD2fG5hK8aP',
      '--id expects 1–64 characters of A-Z a-z 0-9 . _ -, received 43 characters that look like a producer secret ' +
        '(not shown); a producer id is stored, listed and logged, so it may not look like a secret (use plain words such as desk-1)',
    ],
    [
      'list: an item that looks like a token',
      args.listOf('--producers', 'producer ids', () => true, 'a producer id'),
      'desk-1, sgp_Qm7vK2xN9bT4cR1zL8pW3sY6dF0gH5jA2eU7iO9kM4q',
      '--producers expects producer ids, received (item 2 of 2) 47 characters that look like an operator token ' +
        '(not shown); a producer id is stored, listed and logged, so it may not look like a secret (use plain words such as desk-1)',
    ],
    [
      'idempotency key',
      args.idempotencyKey('--idempotency-key'),
      'a b',
      '--idempotency-key expects 1–255 visible ASCII characters, received "a b"',
    ],
    [
      'instrument',
      args.instrument('--instrument'),
      'GO LD',
      '--instrument expects 1–32 characters of A-Z a-z 0-9 . _ / -, received "GO LD"',
    ],
    [
      'secret: by its length only',
      args.secret('--secret'),
      'hunter2-ü',
      '--secret expects at least 16 bytes, received 10 bytes',
    ],
    [
      'control characters shown escaped',
      args.positiveNumber('--entry-price'),
      '1\n2',
      '--entry-price expects a number > 0, received "1\\n2"',
    ],
    [
      'a long value shortened',
      args.positiveNumber('--entry-price'),
      'x'.repeat(50),
      `--entry-price expects a number > 0, received "${'x'.repeat(40)}"… (50 characters)`,
    ],
  ];
  it.each(cases)('%s', (_name, parse, value, message) => {
    expect(messageOf(parse, value)).toBe(message);
  });

  it('carries the flag, what it expects and what it received as fields, with exit code 2', () => {
    try {
      args.numberInRange('--confidence', 0, 1)('high');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'CLI_INVALID_FLAG',
        exitCode: 2,
        flag: '--confidence',
        expected: 'a number from 0 to 1',
        received: '"high"',
      });
    }
  });
});

describe('flag parsers accept a good value', () => {
  const cases: [string, (value: string) => unknown, string, unknown][] = [
    ['price with decimals', args.positiveNumber('--entry-price'), '1950.5', 1950.5],
    ['price in exponent form', args.positiveNumber('--entry-price'), '1.5e3', 1500],
    ['range bounds are inclusive', args.numberInRange('--confidence', 0, 1), '1', 1],
    ['integer', args.integerInRange('--concurrency', 1, 64), '64', 64],
    ['choice', args.oneOf('--side', ['buy', 'sell']), 'sell', 'sell'],
    ['JSON object', args.jsonObject('--payload'), '{"rsi":35}', { rsi: 35 }],
    [
      'JSON object nested as deep as the body allows around it',
      args.jsonObject('--payload', 'payload'),
      `${'{"a":'.repeat(31)}1${'}'.repeat(31)}`,
      JSON.parse(`${'{"a":'.repeat(31)}1${'}'.repeat(31)}`),
    ],
    ['file', args.readableFile('--body-file'), file, file],
    [
      'timestamp with an offset, kept byte for byte',
      args.timestamp('--timestamp'),
      '2025-10-25T16:30:45+02:00',
      '2025-10-25T16:30:45+02:00',
    ],
    ['secret of exactly 16 bytes', args.secret('--secret'), '0123456789abcdef', '0123456789abcdef'],
    ['text of 500 characters', args.textOfLength('--reason', 1, 500), 'é'.repeat(500), 'é'.repeat(500)],
  ];
  it.each(cases)('%s', (_name, parse, value, parsed) => {
    expect(parse(value)).toEqual(parsed);
  });
});

describe('fromFlagOrEnv', () => {
  it('prefers the flag over the environment variable', () => {
    const value = args.fromFlagOrEnv(
      'from-flag',
      { PRODUCER_ID: 'from-env' },
      'PRODUCER_ID',
      '--producer-id <id>',
      args.producerId,
    );
    expect(value).toBe('from-flag');
  });

  it('validates a value from the environment under the variable name', () => {
    expect(() =>
      args.fromFlagOrEnv(
        undefined,
        { PRODUCER_ID: 'desk 1' },
        'PRODUCER_ID',
        '--producer-id <id>',
        args.producerId,
      ),
    ).toThrow('PRODUCER_ID expects 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"');
  });

  it('names both the flag and the variable when neither is set', () => {
    expect(() =>
      args.fromFlagOrEnv(
        undefined,
        { PRODUCER_ID: '' },
        'PRODUCER_ID',
        '--producer-id <id>',
        args.producerId,
      ),
    ).toThrow("required option '--producer-id <id>' not specified (or set PRODUCER_ID)");
  });
});

describe('values that look like credentials are described, never shown', () => {
  it.each([
    ['sgp_Qm7vK2xN9bT4cR1zL8pW3sY6dF0gH5jA2eU7iO9kM4q', 'an operator token'],
    ['roz5E2wQk9Xv1mT3bN8cL0pZr4yH6uJ7sD2fG5hK8aP', 'a producer secret'],
    ['q3Vb+9sK2m/XwT7nR1cZ8pL4yH6uJ0dF5gA2eI7oM4k=', 'a secret or key'],
    ['Xk29fLm3Qp7rTz1v', 'a secret or key'],
    ['postgres://u:pw@db:5432/sigpost', 'a URL with a password'],
  ])('%s is %s', (value, kind) => {
    expect(args.credentialKind(value)).toBe(kind);
    expect(args.quote(value)).toBe(`${[...value].length} characters that look like ${kind} (not shown)`);
  });

  it.each([
    'high',
    'EUR/USD',
    'breakout-above-resistance',
    'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
    '6f1c2b9e-0d4a-4c7e-9b1a-2f3e4d5c6b7a',
    '2025-10-25T14:30:45.123456Z',
    '/tmp/sigpost-SCG6vQ/a-directory',
    'sigpost_cli_producers_28402_mx7gp8va',
  ])('%s is shown', (value) => {
    expect(args.credentialKind(value)).toBeUndefined();
    expect(args.quote(value)).toBe(JSON.stringify(value));
  });

  it('an id flag shows a value that is not an id only by its length and kind, with where to find the id', () => {
    const parse = args.identifier('--id', /^tok_[0-9A-Z]{26}$/, {
      expected: 'a token id',
      prefix: 'tok_',
      list: 'sigpost tokens list',
    });
    const refusal = (value: string) => {
      try {
        parse(value);
      } catch (error) {
        return (error as FlagValueError).message;
      }
      throw new Error(`${value} was accepted`);
    };
    expect(refusal('sgp_Qm7vK2xN9bT4cR1zL8pW3sY6dF0gH5jA2eU7iO9kM4q')).toBe(
      '--id expects a token id, received 47 characters that look like an operator token (not shown); pass its tok_ id, see `sigpost tokens list`',
    );
    expect(refusal('x')).toBe(
      '--id expects a token id, received 1 character that is not an id (not shown); pass its tok_ id, see `sigpost tokens list`',
    );
    expect(refusal('tok_01')).toBe(
      '--id expects a token id, received 6 characters starting with tok_ but not a whole id (not shown); pass its tok_ id, see `sigpost tokens list`',
    );
  });

  it('counts in the singular for one', () => {
    expect(args.count(1, 'byte')).toBe('1 byte');
    expect(args.count(0, 'byte')).toBe('0 bytes');
    expect(args.count(2, 'entry', 'entries')).toBe('2 entries');
  });
});
