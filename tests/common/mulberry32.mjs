// mulberry32.mjs - the small deterministic PRNG the Node suites (tests/browser, tests/sdk,
// tests/ecosystem) draw their users and data from: mulberry32(seed)() -> [0, 1). Plain
// JavaScript with no imports, so that each suite imports it by a relative path whatever its
// own node_modules.

export function mulberry32(seed) {
  let a = seed | 0;
  return function () {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
