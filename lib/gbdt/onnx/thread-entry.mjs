// Worker threads do not inherit the parent's TypeScript loader; load the scorer through tsx here.
import { tsImport } from 'tsx/esm/api';

await tsImport('./thread.ts', import.meta.url);
