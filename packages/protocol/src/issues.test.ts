import { describe, expect, it } from 'vitest';
import { issueLine, renderIssues } from './issues.js';

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
