// The training thread's program: prebuilt when the build is fresh, else the TypeScript through tsx.
import { loadProgram } from '../prebuilt.mjs';

await loadProgram('training-thread');
