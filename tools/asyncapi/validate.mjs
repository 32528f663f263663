// Validates AsyncAPI documents with the official parser (@asyncapi/parser): prints each
// diagnostic as one JSON line and exits 1 when any is an error. Usage: node validate.mjs FILE...
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let errors = 0;
for (const file of process.argv.slice(2)) {
  const { diagnostics } = await parser.parse(await readFile(file, "utf8"), { source: file });
  for (const d of diagnostics) {
    if (d.severity === DiagnosticSeverity.Error) errors += 1;
    const severity = ["error", "warning", "information", "hint"][d.severity] ?? String(d.severity);
    console.log(JSON.stringify({ file, severity, code: d.code, path: d.path.join("."), message: d.message }));
  }
}
console.log(JSON.stringify({ errors }));
process.exit(errors ? 1 : 0);
