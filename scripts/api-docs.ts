/**
 * Rewrites the operations table of docs/api.md from the operation list (`npm run docs:api`); tests/api.test.ts
 * fails while the table and the code disagree.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { whoMay } from '../api/openapi';
import { OPERATIONS } from '../api/operations';
import { PROJECT_ROOT } from '../lib/paths';

const HEADER = '| operation | what | permission (seed-3 §2) |\n| --- | --- | --- |\n';
const path = join(PROJECT_ROOT, 'docs', 'api.md');
const doc = await readFile(path, 'utf8');
const start = doc.indexOf(HEADER);
const end = doc.indexOf('\n\n', start);
if (start < 0 || end < 0) throw new Error(`${path}: no operations table to rewrite`);
const rows = OPERATIONS.map((op) => `| \`${op.method} ${op.path}\` | ${op.summary} | ${whoMay(op)} |`).join('\n');
await writeFile(path, `${doc.slice(0, start)}${HEADER}${rows}${doc.slice(end)}`);
console.log(`${path}: ${OPERATIONS.length} operations`);
