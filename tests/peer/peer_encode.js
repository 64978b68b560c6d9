// The peer: Hugging Face tokenizers (the Rust library, npm package `tokenizers`) encodes each stdin
// line (a JSON string) with a tokenizer.json and prints the ids, space-separated, one line each.
// Usage: node peer_encode.js TOKENIZER_JSON plain|specials
// "plain" removes the special added tokens first: what HF then gives is what NanoPrime's encode()
// must give (special tokens' text encoded as ordinary text).
"use strict";
const fs = require("fs");
const readline = require("readline");
const {Tokenizer} = require("tokenizers");

const [path, mode] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(path, "utf8"));
if (mode === "plain") spec.added_tokens = (spec.added_tokens || []).filter((t) => !t.special);
const tok = Tokenizer.fromString(JSON.stringify(spec));

(async () => {
    const lines = [];
    const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
    for await (const l of rl) lines.push(JSON.parse(l));
    const out = [];
    for (const s of lines) {
        const enc = await tok.encode(s, null, {addSpecialTokens: false});
        out.push(enc.getIds().join(" "));
    }
    process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
})();
