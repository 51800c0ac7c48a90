// Reads the golden vectors from docs/protocol.md, so every package's tests check the code against the
// same independently computed values that partners read.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface GoldenVector {
  readonly name: string;
  readonly secret: string;
  readonly producerId: string;
  readonly timestamp: string;
  readonly bodySha256: string;
  readonly signature: string;
  readonly body: string;
  readonly canonical: string;
}

export const PROTOCOL_DOC = fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url));

export function goldenVectors(): GoldenVector[] {
  const text = readFileSync(PROTOCOL_DOC, 'utf8');
  const sections = text
    .split(/^### /m)
    .slice(1)
    .filter((s) => s.startsWith('Vector'));
  return sections.map((section) => {
    const name = section.slice(0, section.indexOf('\n'));
    const cell = (field: string): string => {
      const m = new RegExp(`^\\|\\s*${field}\\s*\\|\\s*\`([^\`]*)\`\\s*\\|\\s*$`, 'm').exec(section);
      if (!m?.[1]) throw new Error(`golden vector "${name}": no ${field} row`);
      return m[1];
    };
    const block = (lang: string): string => {
      const m = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n?\`\`\``).exec(section);
      if (!m) throw new Error(`golden vector "${name}": no ${lang} block`);
      return m[1] ?? '';
    };
    return {
      name,
      secret: cell('secret'),
      producerId: cell('producer_id'),
      timestamp: cell('timestamp'),
      bodySha256: cell('body_sha256'),
      signature: cell('signature'),
      body: block('json'),
      canonical: block('text'),
    };
  });
}
