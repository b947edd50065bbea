/**
 * Top functions by self time in a .cpuprofile:
 * `node -r ts-node/register/transpile-only bench/top.ts file.cpuprofile [n]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const prof = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
};
const n = Number(process.argv[3] ?? 15);
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const self = new Map<string, number>();
for (let i = 0; i < prof.samples.length; i++) {
  const f = byId.get(prof.samples[i]!)!.callFrame;
  const where = f.url ? f.url.replace(/^.*node_modules\//, '').replace(/^.*\/(lib|machines|bench)\//, '$1/') : '';
  const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n))
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
