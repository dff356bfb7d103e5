// Reference oracle for kpledger.merkle: runs @openzeppelin/merkle-tree itself.
//
// Reads one JSON object on stdin and writes one JSON object on stdout, so a test can check
// many cases with a single node start (~100 ms each):
//   in:  {"cases": [{"leafEncoding": [...], "values": [[...], ...]}, ...],
//        "dumps": [<standard-v1 dump>, ...],        // StandardMerkleTree.load must accept
//        "documents": [<kpledger-batch-proof-v1>, ...]}  // checked the way a JS verifier would
//   out: {"cases": [{"root", "proofs", "proofsByValue", "dump", "leafHashes"} | {"error"}, ...],
//         "dumps": [{"root"} | {"error"}, ...],
//         "documents": [true | false | {"error"}, ...]}
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { standardLeafHash } from "@openzeppelin/merkle-tree/dist/hashes.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const attempt = (fn) => {
  try {
    return fn();
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
};

const out = {
  cases: (input.cases ?? []).map(({ leafEncoding, values }) =>
    attempt(() => {
      const tree = StandardMerkleTree.of(values, leafEncoding);
      return {
        root: tree.root,
        proofs: values.map((_, i) => tree.getProof(i)),
        proofsByValue: values.map((v) => tree.getProof(v)),
        dump: tree.dump(),
        leafHashes: values.map((v) => standardLeafHash(leafEncoding, v)),
      };
    }),
  ),
  dumps: (input.dumps ?? []).map((d) => attempt(() => ({ root: StandardMerkleTree.load(d).root }))),
  documents: (input.documents ?? []).map((doc) =>
    attempt(() => StandardMerkleTree.verify(doc.root, doc.leafEncoding, doc.leaf, doc.proof)),
  ),
};
process.stdout.write(JSON.stringify(out));
