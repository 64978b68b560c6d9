// Deterministic test text for the tokenizer peer check: English, Italian, code, numbers, emoji,
// other scripts, odd whitespace, contractions and very long words. Everything is built here from
// small word lists and a seeded PRNG (no third-party text).
// Usage: node gen_lines.js N [--corpus]   N JSON-string lines, or with --corpus plain text lines.
"use strict";
const n = parseInt(process.argv[2] || "3000", 10);
const corpus = process.argv.includes("--corpus");
let state = 0x9e3779b9;
function rnd() {  // xorshift32
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));

const en = ("the a of and to in is it that was for on are with as his they be at one have this " +
    "from or had by word but what some we can out other were all there when up use your how said " +
    "each she which do their time if will way about many then them write would like so these her " +
    "long make thing see him two has look more day could go come did number sound no most people " +
    "my over know water than call first who may down side been now find head stand own page should " +
    "country found answer school grow study still learn plant cover food sun four between state " +
    "keep eye never last let thought city tree cross farm hard start might story saw far sea draw " +
    "left late run while press close night real life few north open seem together next white " +
    "children begin got walk example ease paper group always music those both mark often letter " +
    "until mile river car feet care second book carry took science eat room friend began idea fish " +
    "mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual " +
    "young ready above ever red list though feel talk bird soon body dog family direct pose leave " +
    "song measure door product black short numeral class wind question happen complete ship area " +
    "half rock order fire south problem piece told knew pass since top whole king space heard best " +
    "hour better true during hundred five remember step early hold west ground interest reach fast " +
    "verb sing listen six table travel less morning ten simple several vowel toward war lay against " +
    "pattern slow center love person money serve appear road map rain rule govern pull cold notice " +
    "voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star " +
    "box noun field rest correct able pound done beauty drive stood contain front teach week final " +
    "gave green oh quick develop ocean warm free minute strong special mind behind clear tail " +
    "produce fact street inch multiply nothing course stay wheel full force blue object decide " +
    "surface deep moon island foot system busy test record boat common gold possible plane stead " +
    "dry wonder laugh thousand ago ran check game shape equate hot miss brought heat snow tire " +
    "bring yes distant fill east paint language among").split(" ");
const it = ("il la lo gli le un una di da in con su per tra fra che non è sono era ha hanno " +
    "ciao buongiorno buonasera grazie prego scusa questo questa quello quella qualcosa qualcuno " +
    "andare potere volere dovere sapere stare dare parlare pensare quindi mentre quando perche " +
    "ancora sempre proprio davvero veramente problema lavoro mondo benissimo perfetto esatto giusto " +
    "certo città perché più così già però può virtù caffè università attività società libertà " +
    "casa cane gatto libro scuola strada macchina acqua pane vino sole luna mare montagna fiume " +
    "bambino ragazza uomo donna amico famiglia tempo giorno notte settimana anno mese ora minuto " +
    "mangiare bere dormire leggere scrivere correre camminare giocare lavorare studiare capire " +
    "bello brutto grande piccolo nuovo vecchio buono cattivo facile difficile veloce lento caldo " +
    "freddo felice triste sempre mai spesso oggi ieri domani qui là dove come cosa chi quanto " +
    "dell'anno l'uomo l'acqua un'altra c'è dov'è nell'ultimo sull'isola all'inizio quest'anno " +
    "Perché Però Città Università È È già Così Ciao Grazie Questo").split(" ");
const code = [
    "int main(int argc, char** argv) {", "    return 0;", "}", "for (size_t i = 0; i < n; ++i) {",
    "def f(x):\n    return x ** 2 + 3*x - 1", "const y = arr.map((v) => v * 2);",
    "if (a != b && c >= d) { x += 1; }", "#include <vector>", "std::vector<int32_t> ids{1, 2, 3};",
    "SELECT id, name FROM users WHERE age > 30;", "print(f\"{name!r}: {value:.3f}\")",
    "x = {'a': 1, \"b\": [2, 3]}  # comment", "    \tif err != nil {\n\t\treturn err\n\t}",
    "<div class=\"row\"><span>{{ item }}</span></div>", "a->b->c = *p++; // pointer",
    "$ ./build/nanoprime --help | grep -i tok", "__init__ self.__dict__ __name__ == '__main__'",
];
const emoji = ["👍", "🎉", "😀", "🇮🇹", "👩‍💻", "❤️", "🍕🍝", "✨", "🚀🚀🚀", "☕", "👨‍👩‍👧‍👦", "🙂"];
const scripts = ["Привет мир", "你好，世界", "こんにちは", "مرحبا بالعالم", "Γειά σου", "שלום",
    "naïve café résumé", "Straße", "e\u0301 a\u0300", "ﬁ ligature", "Ⅻ ½ ² ٣ ໓ 𝟘"];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u2003", "\u3000",
    "\u2009", " \t ", "\u0085", "\ufeff", "\v", "\f", "\u200b"];
const numbers = () => pick([
    () => String(int(0, 9)), () => String(int(10, 99999)), () => String(int(0, 1e9)),
    () => `${int(0, 999)}.${int(0, 99)}`, () => `${int(1, 9)},${int(100, 999)},${int(100, 999)}`,
    () => `${int(1, 28)}/${int(1, 12)}/${int(1900, 2099)}`, () => `${int(0, 23)}:${int(10, 59)}`,
    () => `${int(1, 99)}%`, () => `€${int(1, 500)},${int(10, 99)}`, () => `$${int(1, 9999)}.99`,
    () => `${int(2, 99)} + ${int(2, 99)} = ?`, () => `x${int(1, 9)}y${int(10, 99)}`,
    () => `-${int(1, 50)}e${int(1, 9)}`, () => `#### ${int(1, 100000)}`])();
const contractions = ["it's", "we'll", "they're", "I've", "I'm", "you'd", "don't", "DON'T",
    "It'S", "o'clock", "rock'n'roll", "'quoted'", "''", "'s", "'", "can't"];

function sentence(words, cap) {
    const k = int(3, 18);
    const parts = [];
    for (let i = 0; i < k; i++) {
        const r = rnd();
        if (r < 0.05) parts.push(numbers());
        else if (r < 0.08) parts.push(pick(contractions));
        else parts.push(pick(words));
    }
    let s = parts.join(" ");
    if (cap) s = s[0].toUpperCase() + s.slice(1);
    return s + pick([".", ".", ".", "!", "?", ",", ";", ":", "...", " -", ""]);
}

function line() {
    const r = rnd();
    if (r < 0.3) return sentence(en, true) + (rnd() < 0.5 ? " " + sentence(en, true) : "");
    if (r < 0.6) return sentence(it, true) + (rnd() < 0.5 ? " " + sentence(it, true) : "");
    if (r < 0.68) return pick(code);
    if (r < 0.74) return Array.from({length: int(1, 6)}, numbers).join(pick([" ", ", ", "\n", ""]));
    if (r < 0.79) return sentence(en, false) + " " + pick(emoji) + pick(emoji) + " " + pick(it);
    if (r < 0.84) return pick(scripts) + pick(spaces) + pick(scripts);
    if (r < 0.92) {  // odd whitespace around words
        let s = "";
        for (let i = 0, k = int(2, 8); i < k; i++) s += pick(spaces) + pick(rnd() < 0.5 ? en : it);
        return s + (rnd() < 0.5 ? pick(spaces) : "");
    }
    if (r < 0.95) {  // long words (BPE heap path) and long punctuation runs
        const unit = pick(["ab", "xyz", "=", "-", "ciao", "la", "😀", "0", " "]);
        return "x" + unit.repeat(int(20, 200)) + "y";
    }
    if (r < 0.98) return pick(["<|im_end|>", "<|im_start|>user\nciao<|im_end|>", "<think>\n2+2</think>",
        "<|endoftext|><|endoftext|>", "<|padding|>x", "a<|im_end", "</think>\n\nok"]) + " " + pick(it);
    return pick(contractions) + pick(contractions) + " " + pick(contractions);
}

const out = [];
for (let i = 0; i < n; i++) {
    const s = line();
    out.push(corpus ? s : JSON.stringify(s));
}
process.stdout.write(out.join("\n") + "\n");
