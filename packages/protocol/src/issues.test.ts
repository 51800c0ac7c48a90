import { describe, expect, it } from 'vitest';
import { describeValue, issueLine, renderIssues } from './issues.js';

describe('renderIssues', () => {
  it("renders each issue as zod's two lines, `✖ expected …, received …` then `  → at KEY`", () => {
    expect(
      renderIssues([
        { key: 'port', expected: 'an integer from 0 to 65535', received: '-1' },
        {
          key: 'SIGPOST_HOST',
          expected: 'a host name or IP address',
          received: '"a b"',
          code: 'invalid_value',
        },
      ]),
    ).toBe(
      '✖ expected an integer from 0 to 65535, received -1\n  → at port\n' +
        '✖ expected a host name or IP address, received "a b"\n  → at SIGPOST_HOST',
    );
  });

  it('names the replacement of a renamed key instead of what it received', () => {
    expect(
      renderIssues([
        { key: 'OUTBOUND_TIMEOUT', code: 'renamed', expected: 'OUTBOUND_TIMEOUT_SECONDS', received: '"5"' },
      ]),
    ).toBe('✖ OUTBOUND_TIMEOUT is not read; use OUTBOUND_TIMEOUT_SECONDS\n  → at OUTBOUND_TIMEOUT');
  });

  it('renders no issues as an empty string', () => {
    expect(renderIssues([])).toBe('');
  });
});

describe('issueLine', () => {
  it('puts one issue on one line, as the CLI reports a bad flag', () => {
    expect(issueLine({ key: '--confidence', expected: 'a number from 0 to 1', received: '"high"' })).toBe(
      '--confidence expects a number from 0 to 1, received "high"',
    );
  });
});

describe('describeValue', () => {
  it('quotes and cuts strings, writes numbers and booleans, and names the rest by kind', () => {
    expect(describeValue('high')).toBe('"high"');
    expect(describeValue('a\nb')).toBe('"a\\nb"');
    expect(describeValue('x'.repeat(41))).toBe(`"${'x'.repeat(40)}…"`);
    expect(describeValue('x'.repeat(81), 80)).toBe(`"${'x'.repeat(80)}…"`);
    expect(describeValue('')).toBe('an empty string');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(-1.5)).toBe('-1.5');
    expect(describeValue(false)).toBe('false');
    expect(describeValue(undefined)).toBe('nothing');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1, 2])).toBe('an array of 2');
    expect(describeValue({ secret: 'x' })).toBe('a value of type object');
    expect(describeValue(() => 1)).toBe('a value of type function');
  });
});
