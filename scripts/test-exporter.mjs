#!/usr/bin/env node
// The Python exporter's tests (models/ondevice_export/test_export.py) need Debian's research
// environment; without it they are skipped with a line saying so, since npm test must not need Python.
import { spawnSync } from 'node:child_process';

const python = '/usr/bin/python3';
const probe = spawnSync(python, ['-c', 'import sklearn, onnx, pandas, xgboost'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.log(
    'exporter tests skipped: /usr/bin/python3 lacks scikit-learn, onnx, pandas or xgboost ' +
      '(apt-get install -y --no-install-recommends python3-sklearn python3-pandas python3-onnx python3-xgboost python3-torch)',
  );
  process.exit(0);
}
const run = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'ondevice_export', '-t', '.'], { cwd: 'models', stdio: 'inherit' });
process.exit(run.status ?? 1);
