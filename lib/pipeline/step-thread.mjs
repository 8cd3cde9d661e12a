// Worker threads do not inherit the parent's TypeScript loader; load the step runner through tsx here.
import { tsImport } from 'tsx/esm/api';

await tsImport('./stepThread.ts', import.meta.url);
