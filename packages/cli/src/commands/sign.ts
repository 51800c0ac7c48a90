import { buildSignature } from '@sigpost/protocol';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { addSigningOptions, resolveSigningInput, type SigningOptions } from '../signing.js';

/** `sigpost sign`: prints the X-Signature of one request. */
export function register(program: Command, io: CliIO): void {
  addSigningOptions(
    program
      .command('sign')
      .summary('print the X-Signature of a request body')
      .description(
        'Print the X-Signature (base64 HMAC-SHA256 of the canonical string) of a request body, ' +
          'read byte for byte from --body-file or stdin.',
      ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  HMAC_PRODUCER_SECRET=... sigpost sign --producer-id desk-1 \\\n' +
        '    --timestamp 2025-10-25T14:30:45.123456Z --body-file signal.json',
    )
    .action(async (options: SigningOptions) => {
      const input = await resolveSigningInput(options, io);
      io.stdout.write(`${buildSignature(input)}\n`);
    });
}
