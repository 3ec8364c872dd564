"use strict";
// Merge interop/results/<suite>.md (written by each suite) into interop/RESULTS.md.
// Usage: node merge-results.js [--out FILE]
const fs = require("node:fs");
const path = require("node:path");

const dir = process.env.INTEROP_RESULTS_DIR || path.join(__dirname, "results");
const outIdx = process.argv.indexOf("--out");
const out = outIdx > 0 ? process.argv[outIdx + 1] : path.join(__dirname, "RESULTS.md");
const ORDER = ["node-v4", "python", "node-msgpack", "node-legacy", "browser-legacy", "node-engine", "node-engine-conformance"];

const suites = fs.existsSync(dir)
  ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")))
  : [];
suites.sort((a, b) => (ORDER.indexOf(a.suite) + 1 || 99) - (ORDER.indexOf(b.suite) + 1 || 99) || a.suite.localeCompare(b.suite));

let passed = 0, failed = 0;
let md = "# Interop results\n\nProduced by `scripts/interop.sh` (official, unmodified clients against the sockio example servers).\n\n";
md += "| suite | passed | failed |\n|---|---|---|\n";
for (const s of suites) {
  md += `| ${s.suite} | ${s.passed} | ${s.failed} |\n`;
  passed += s.passed;
  failed += s.failed;
}
md += `| **total** | **${passed}** | **${failed}** |\n\n`;
for (const s of suites) {
  const f = path.join(dir, `${s.suite}.md`);
  if (fs.existsSync(f)) md += fs.readFileSync(f, "utf8").replace(/^## /, "## ") + "\n";
}
fs.writeFileSync(out, md);
console.log(`wrote ${out}: ${passed} passed, ${failed} failed`);
