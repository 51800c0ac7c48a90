/**
 * Reads a response body as UTF-8 text, at most `limit` bytes: undefined, with the body cancelled, as
 * soon as it is known to be longer (from its declared length before reading anything, or while
 * reading). One reader for the SDK's HTTP attempt (undici) and the Telegram calls (fetch).
 */
export async function readBounded(
  chunks: AsyncIterable<Uint8Array>,
  limit: number,
  cancel: () => unknown,
  declaredLength?: string | string[] | null,
): Promise<string | undefined> {
  const declared = typeof declaredLength === 'string' ? Number(declaredLength) : Number.NaN;
  if (Number.isSafeInteger(declared) && declared > limit) {
    await cancel();
    return undefined;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.byteLength;
    if (size > limit) {
      await cancel();
      return undefined;
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size).toString('utf8');
}
