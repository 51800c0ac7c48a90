import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';

/** Bytes of randomness in a generated secret: 256 bits, the strength of HMAC-SHA256. */
export const KEYGEN_BYTES = 32;

/** `sigpost keygen`: prints a new random producer secret. */
export function register(program: Command, io: CliIO): void {
  program
    .command('keygen')
    .summary('print a new random producer secret')
    .description(
      `Print a new random producer secret: ${KEYGEN_BYTES} bytes from the system CSPRNG, base64url ` +
        '(43 characters). Give the same value to the producer (HMAC_PRODUCER_SECRET) and the server.',
    )
    .addHelpText('after', '\nExample:\n  export HMAC_PRODUCER_SECRET="$(sigpost keygen)"')
    .action(() => {
      io.stdout.write(`${randomBytes(KEYGEN_BYTES).toString('base64url')}\n`);
    });
}
