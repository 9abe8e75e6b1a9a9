// npm run fuzz: many cases per fuzz category (test/fuzz/), with a tally of how each ended and the
// process's peak memory. `npm run fuzz -- 500` for 500 cases each; FUZZ_SEED to replay a run.
import fc from 'fast-check';
import { FUZZ_CATEGORIES } from '../test/fuzz/categories.js';
import { startFixture } from '../test/fuzz/fixture.js';
import type { Verdict } from '../test/fuzz/verdict.js';

const runs = Number(process.argv[2] ?? 300);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const VERDICTS: readonly Verdict[] = ['correct', 'wrongly accepted', 'wrongly refused', 'untyped', 'hung'];

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
const fixture = await startFixture();
const rows: string[][] = [];
const failures: string[] = [];
// FUZZ_ONLY=network runs only the categories whose name holds it.
for (const category of FUZZ_CATEGORIES.filter((c) => c.name.includes(process.env.FUZZ_ONLY ?? ''))) {
  const tally = new Map<Verdict, number>(VERDICTS.map((v) => [v, 0]));
  const started = performance.now();
  let slowest = 0;
  for (const run of fc.sample(category.property(fixture), { numRuns: runs, seed })) {
    const begun = performance.now();
    const outcome = await run();
    slowest = Math.max(slowest, performance.now() - begun);
    tally.set(outcome.verdict, tally.get(outcome.verdict)! + 1);
    if (outcome.verdict !== 'correct' && failures.length < 20)
      failures.push(`${category.name}: ${outcome.verdict}: ${outcome.detail}\n    case ${String(run)}`);
  }
  rows.push([
    category.name,
    String(runs),
    ...VERDICTS.map((v) => String(tally.get(v))),
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
    `${slowest.toFixed(0)} ms`,
  ]);
  console.error(`${category.name}: done`);
}
await fixture.close();
clearInterval(sampler);

console.log(`npm run fuzz -- ${runs} (FUZZ_SEED=${seed}), Node ${process.version}`);
console.log(`| category | tried | ${VERDICTS.join(' | ')} | time | slowest case |`);
console.log(`|---|${'---|'.repeat(VERDICTS.length + 3)}`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
console.log(`peak memory (RSS, this process and its worker thread): ${(peak / 2 ** 20).toFixed(0)} MiB`);
for (const failure of failures) console.log(failure);
process.exit(rows.every((row) => row.slice(3, 7).every((n) => n === '0')) ? 0 : 1);
