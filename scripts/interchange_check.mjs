// Independent check of docs/vectors/ and docs/schema/ with npm implementations only:
// `canonicalize` (RFC 8785), node:crypto (SHA-256), `@openzeppelin/merkle-tree`, `ajv` (2020-12).
// Nothing from kpledger is used; the amounts are scaled from the canonical decimal text
// with BigInt, as docs/format.md tells an independent verifier to do.
//
// stdin: {"instances": [<document JSON text>, ...]}  (validated against the schema)
// stdout: {"documents": [{name, canonical, documentHash, chainTerms, leafHash, bundle}],
//          "raw": [documentHash], "batch": {root, proofsVerify: [bool]},
//          "scaling": [string|null], "instances": [{valid, errors}]}
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import canonicalize from "canonicalize";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import Ajv2020 from "ajv/dist/2020.js";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const vectorsDir = path.join(root, "docs", "vectors");
const vectors = JSON.parse(readFileSync(path.join(vectorsDir, "vectors.json"), "utf8"));
const schema = JSON.parse(readFileSync(path.join(root, "docs", "schema", "certificate-v1.schema.json"), "utf8"));
const input = JSON.parse(readFileSync(0, "utf8") || "{}");

const sha256 = (bytes) => "0x" + createHash("sha256").update(bytes).digest("hex");

// Exact scaling of a JSON number's decimal text by 10**places, or null if it has more decimals.
function scaled(text, places) {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new Error(`not a decimal: ${text}`);
  const [, sign, int, frac = "", exp = "0"] = m;
  let digits = (int + frac).replace(/^0+(?=\d)/, "");
  let shift = Number(exp) - frac.length + places;
  if (shift < 0) {
    const cut = digits.length + shift;
    const dropped = cut > 0 ? digits.slice(cut) : digits;
    if (/[1-9]/.test(dropped)) return null;
    digits = cut > 0 ? digits.slice(0, cut) : "0";
    shift = 0;
  }
  const value = BigInt(digits) * 10n ** BigInt(shift);
  return (sign && value !== 0n ? -value : value).toString();
}

const bytes2 = (code) => "0x" + Buffer.from(code, "ascii").toString("hex");
const expiresAt = (day) => (Date.parse(`${day}T23:59:59Z`) / 1000).toString();

function chainTerms(document, hash) {
  // String(x) of a double is its shortest round-trip decimal: the canonical form's number text.
  return {
    documentHash: hash,
    number: document.number,
    origin: document.exporting_participant,
    originBytes2: bytes2(document.exporting_participant),
    destination: document.importing_participant,
    destinationBytes2: bytes2(document.importing_participant),
    carats: scaled(String(document.carats), 2),
    valueCents: scaled(String(document.value_usd), 2),
    parcels: scaled(String(document.parcels), 0),
    expiresAt: expiresAt(document.expires_on),
  };
}

const leafOf = (t) => [t.documentHash, t.number, t.originBytes2, t.destinationBytes2, t.carats, t.valueCents, t.parcels, t.expiresAt];

const documents = vectors.documents.map((entry) => {
  const text = readFileSync(path.join(vectorsDir, entry.file), "utf8");
  const document = JSON.parse(text);
  const canonical = canonicalize(document);
  const hash = sha256(Buffer.from(canonical, "utf8"));
  const terms = chainTerms(document, hash);
  const leafHash = StandardMerkleTree.of([leafOf(terms)], vectors.batch.leafEncoding).leafHash(leafOf(terms));
  const bundle = JSON.parse(readFileSync(path.join(vectorsDir, entry.bundleFile), "utf8"));
  return {
    name: entry.name,
    canonical,
    canonicalFileMatches: readFileSync(path.join(vectorsDir, entry.canonicalFile), "utf8") === canonical,
    documentHash: hash,
    chainTerms: terms,
    leafHash,
    bundle: {
      format: bundle.format,
      documentHash: sha256(Buffer.from(canonicalize(bundle.document), "utf8")),
      leafHashMatches: bundle.proof.leafHash === leafHash,
      verifies: StandardMerkleTree.verify(bundle.proof.root, bundle.proof.leafEncoding, bundle.proof.leaf, bundle.proof.proof),
    },
    schemaValid: null,
  };
});

const tree = StandardMerkleTree.of(documents.map((d) => leafOf(d.chainTerms)), vectors.batch.leafEncoding);
const batch = {
  root: tree.root,
  loadedRoot: StandardMerkleTree.load(vectors.batch.dump).root,
  proofsVerify: vectors.batch.proofs.map((p) => StandardMerkleTree.verify(tree.root, p.leafEncoding, p.leaf, p.proof)),
};
const raw = vectors.rawFiles.map((entry) => sha256(readFileSync(path.join(vectorsDir, entry.file))));
const scaling = vectors.scaling.map((entry) => scaled(entry.decimal, entry.places));
const expiry = vectors.expiry.map((entry) => expiresAt(entry.expires_on));

// multipleOf 0.01 on doubles needs a tolerance in JavaScript (ajv's documented option).
const ajv = new Ajv2020({ strict: true, allErrors: true, multipleOfPrecision: 6 });
ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/);
const validate = ajv.compile(schema);
documents.forEach((d, i) => {
  d.schemaValid = validate(JSON.parse(readFileSync(path.join(vectorsDir, vectors.documents[i].file), "utf8")));
});
const instances = (input.instances ?? []).map((text) => {
  const valid = validate(JSON.parse(text));
  return { valid, errors: valid ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`) };
});

process.stdout.write(JSON.stringify({ documents, raw, batch, scaling, expiry, instances }));
