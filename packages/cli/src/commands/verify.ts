import { verifySignature } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import { CommandFailedError } from '../errors.js';
import type { CliIO } from '../io.js';
import { addSigningOptions, resolveSigningInput, type SigningOptions } from '../signing.js';

/** `sigpost verify`: prints `valid` (exit 0) or `invalid` (exit 1). */
export function register(program: Command, io: CliIO): void {
  addSigningOptions(
    program
      .command('verify')
      .summary('check an X-Signature: prints valid (exit 0) or invalid (exit 1)')
      .description(
        'Check an X-Signature against a request body (from --body-file or stdin), in constant time. ' +
          'Prints valid and exits 0, or invalid and exits 1.',
      ),
  )
    .addOption(new Option('--signature <base64>', 'the X-Signature value to check').makeOptionMandatory())
    .addHelpText(
      'after',
      '\nExample:\n  HMAC_PRODUCER_SECRET=... sigpost verify --producer-id desk-1 \\\n' +
        '    --timestamp 2025-10-25T14:30:45.123456Z --signature Ltpf...PF8= --body-file signal.json',
    )
    .action(async (options: SigningOptions & { signature: string }) => {
      const input = await resolveSigningInput(options, io);
      const valid = verifySignature({ ...input, providedSignature: options.signature });
      io.stdout.write(valid ? 'valid\n' : 'invalid\n');
      if (!valid) throw CommandFailedError.reported();
    });
}
