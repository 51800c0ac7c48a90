#!/usr/bin/env node
// Kept in git (not generated) so that `npm ci` can link the `sigpost` command before the first build.
import('../dist/bin.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/bin.js')) {
    console.error('sigpost: the CLI is not built yet; run `npm run build` in the repository first.');
    process.exit(1);
  }
  throw error;
});
