// The scoring thread's program: prebuilt when the build is fresh, else the TypeScript through tsx.
import { loadProgram } from '../../prebuilt.mjs';

await loadProgram('onnx-thread');
