// An independent HPKE implementation (npm @hpke/core, RFC 9180) for the interop tests.
// Reads one JSON request on stdin, writes one JSON answer on stdout; binary as hex.
//   {"op": "seal", "publicKey", "info", "aad", "plaintext"} -> {"enc", "ciphertext"}
//   {"op": "open", "privateKey", "info", "aad", "enc", "ciphertext"} -> {"plaintext"}
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const bin = (text) => new Uint8Array(Buffer.from(text, "hex"));

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Chacha20Poly1305(),
});

let input = "";
for await (const chunk of process.stdin) input += chunk;
const request = JSON.parse(input);

if (request.op === "seal") {
  const recipientPublicKey = await suite.kem.deserializePublicKey(bin(request.publicKey));
  const sender = await suite.createSenderContext({ recipientPublicKey, info: bin(request.info) });
  const ciphertext = await sender.seal(bin(request.plaintext), bin(request.aad));
  process.stdout.write(JSON.stringify({ enc: hex(sender.enc), ciphertext: hex(ciphertext) }));
} else if (request.op === "open") {
  const recipientKey = await suite.kem.deserializePrivateKey(bin(request.privateKey));
  const recipient = await suite.createRecipientContext({ recipientKey, enc: bin(request.enc), info: bin(request.info) });
  const plaintext = await recipient.open(bin(request.ciphertext), bin(request.aad));
  process.stdout.write(JSON.stringify({ plaintext: hex(plaintext) }));
} else {
  throw new Error(`unknown op ${request.op}`);
}
