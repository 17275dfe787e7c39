// caniemail lint of one HTML document for the test suite (tests/test_email_clients.py).
// Usage: node lint.mjs CLIENT... < email.html   (clients as in doiuse-email, e.g. gmail.ios;
// "outlook.outlook-com" = Outlook on the web, which caniemail has but doiuse-email's list lacks)
// Prints JSON: {"findings": [{"level": "error"|"warning", "feature", "client"}], "notes": [...]}
import { readFileSync } from "node:fs";
import { DoIUseEmail } from "@jsx-email/doiuse-email";

const clients = process.argv.slice(2);
if (clients.length === 0) {
  console.error("usage: node lint.mjs CLIENT... < email.html");
  process.exit(2);
}
const html = readFileSync(0, "utf8");
const MSG = /^`(.+)` is (?:not|only partially) supported by `([^`]+)`$/;
const findings = [];
const notes = [];
for (const client of clients) {
  // one checker per client; the constructor only knows doiuse-email's list, so set it after
  const d = new DoIUseEmail({ emailClients: ["gmail.ios"] });
  d.emailClients = [client];
  const r = d.check(html);
  for (const [level, list] of [["error", r.errors ?? []], ["warning", r.warnings ?? []]]) {
    for (const m of list) {
      const x = MSG.exec(m);
      if (!x) throw new Error(`unexpected doiuse-email message: ${m}`);
      findings.push({ level, feature: x[1], client: x[2] });
    }
  }
  notes.push(...(r.notes ?? []));
}
process.stdout.write(JSON.stringify({ findings, notes }, null, 1) + "\n");
