/** bench/.venv: the peers (CatBoost, LightGBM, scikit-learn) that benches compare us with. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../lib/paths';

/** The venv's Python. */
export const python = join(PROJECT_ROOT, 'bench', '.venv', 'bin', 'python');
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

const PY_MODULES: Record<string, string> = {
  catboost: 'catboost',
  lightgbm: 'lightgbm',
  sklearn: 'scikit-learn',
  pandas: 'pandas',
  pyarrow: 'pyarrow',
  numpy: 'numpy',
};

/** bench/.venv with the peers' packages: created when absent; missing packages installed at the pinned versions. */
export function ensureVenv(): void {
  const requirements = join(PROJECT_ROOT, 'bench', 'requirements.txt');
  const run = (cmd: string, argv: string[]): void => {
    log(`$ ${[cmd, ...argv].join(' ')}`);
    execFileSync(cmd, argv, { stdio: ['ignore', 2, 2], cwd: PROJECT_ROOT });
  };
  if (!existsSync(python)) {
    log('bench/.venv is absent: creating it');
    run('python3', ['-m', 'venv', 'bench/.venv']);
    run('bench/.venv/bin/pip', ['install', '-r', 'bench/requirements.txt']);
  }
  const probe = `import importlib.util, json; print(json.dumps([m for m in ${JSON.stringify(Object.keys(PY_MODULES))} if importlib.util.find_spec(m) is None]))`;
  const missing = JSON.parse(execFileSync(python, ['-c', probe]).toString()) as string[];
  if (missing.length === 0) return;
  const pins = new Map(
    readFileSync(requirements, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.split(/[=<>!~ ]/)[0]!.toLowerCase(), l]),
  );
  const packages = missing.map((m) => pins.get(PY_MODULES[m]!) ?? PY_MODULES[m]!);
  log(`bench/.venv lacks ${missing.join(', ')}: installing only those (the full set would be:`);
  log(`  bench/.venv/bin/pip install -r bench/requirements.txt)`);
  run('bench/.venv/bin/pip', ['install', ...packages]);
}
