// Arithmetic tasks of the gym: addition, subtraction, multiplication, division with remainder and
// expressions with precedence, each asked in many sentence frames and answered with a compact
// digit-by-digit trace.
#include <algorithm>
#include <memory>

#include "core/error.h"
#include "data/gym_phrasing.h"

namespace np::data::gym {

namespace {

using S = std::string;

// ---- phrasings ----

const Phrasings kAddition{
    {
        {"symbol_question",
         false,
         {"What is {a} + {b}?", "What's {a} + {b}?", "How much is {a} + {b}?", "{a} + {b} = ?",
          "Calculate {a} + {b}.", "Compute {a}+{b}."}},
        {"plus_word",
         false,
         {"What is {a} plus {b}?", "How much is {a} plus {b}?", "{a} plus {b} equals what?",
          "What do you get from {a} plus {b}?", "Work out {a} plus {b}."}},
        {"add_imperative",
         false,
         {"Add {a} and {b}.", "Add {b} to {a}.", "If you add {b} to {a}, what do you get?",
          "Please add {a} to {b}.", "Add together {a} and {b}."}},
        {"increase_by",
         false,
         {"Increase {a} by {b}.", "What is {b} more than {a}?",
          "What number is {b} greater than {a}?"}},
        {"story_more",
         false,
         {"Anna has {a} stickers and gets {b} more. How many stickers does she have now?",
          "A shop sold {a} apples in the morning and {b} in the afternoon. How many apples did it "
          "sell?",
          "There are {a} cars in the lot, and then {b} more arrive. How many cars are there now?",
          "Tom read {a} pages yesterday and {b} pages today. How many pages has he read?",
          "A farmer picks {a} kg of grapes, then another {b} kg. How many kg did he pick?"}},
        {"sum_of",
         true,
         {"What is the sum of {a} and {b}?", "Find the sum of {a} and {b}.",
          "Give me the sum of {a} and {b}.", "The sum of {a} and {b} is?"}},
        {"total_context",
         true,
         {"I have {a} points and win {b} more. How many points do I have in total?",
          "A jar has {a} marbles; someone puts in {b} more. How many are in the jar altogether?",
          "{a} and {b} together make how many?", "What is the total of {a} and {b}?"}},
    },
    {
        {"simbolo",
         false,
         {"Quanto fa {a} + {b}?", "Quanto è {a} + {b}?", "{a} + {b} = ?", "Calcola {a} + {b}.",
          "Calcola {a}+{b}.", "Mi dici quanto fa {a} + {b}?"}},
        {"parola_piu",
         false,
         {"Quanto fa {a} più {b}?", "Quanto è {a} più {b}?", "{a} più {b} fa?",
          "Che numero ottieni con {a} più {b}?", "Calcola {a} più {b}."}},
        {"imperativo_somma",
         false,
         {"Somma {a} e {b}.", "Aggiungi {b} a {a}.", "Se aggiungi {b} a {a}, quanto ottieni?",
          "Addiziona {a} e {b}.", "Somma {b} a {a}."}},
        {"aumenta_di",
         false,
         {"Aumenta {a} di {b}.", "Quanto fa {a} aumentato di {b}?",
          "Che numero supera {a} di {b}?"}},
        {"storia_aumento",
         false,
         {"Anna ha {a} figurine e ne riceve altre {b}. Quante figurine ha adesso?",
          "Un negozio vende {a} mele la mattina e {b} il pomeriggio. Quante mele vende?",
          "Nel parcheggio ci sono {a} auto, poi ne arrivano altre {b}. Quante auto ci sono ora?",
          "Ieri Luca ha letto {a} pagine e oggi {b}. Quante pagine ha letto?",
          "Un contadino raccoglie {a} kg di uva e poi altri {b} kg. Quanti kg ha raccolto?"}},
        {"somma_di",
         true,
         {"Qual è la somma di {a} e {b}?", "Trova la somma di {a} e {b}.",
          "Dammi la somma tra {a} e {b}.", "La somma di {a} e {b} è?"}},
        {"in_tutto",
         true,
         {"Ho {a} punti e ne vinco altri {b}. Quanti punti ho in tutto?",
          "In un barattolo ci sono {a} biglie e ne aggiungo {b}. Quante biglie ci sono in tutto?",
          "{a} e {b} insieme quanto fanno?", "Qual è il totale di {a} e {b}?"}},
    }};

// {a} - {b}, the result may be negative.
const Phrasings kSubtraction{
    {
        {"symbol_question",
         false,
         {"What is {a} - {b}?", "What's {a} - {b}?", "Calculate {a} - {b}.", "{a} - {b} = ?",
          "Compute {a}-{b}.", "How much is {a} − {b}?"}},
        {"minus_word",
         false,
         {"What is {a} minus {b}?", "How much is {a} minus {b}?", "{a} minus {b} equals what?",
          "Work out {a} minus {b}."}},
        {"subtract_from",
         false,
         {"Subtract {b} from {a}.", "If you subtract {b} from {a}, what do you get?",
          "Take {b} away from {a}.", "Please subtract {b} from {a}."}},
        {"decrease_by",
         true,
         {"Decrease {a} by {b}.", "What is {a} decreased by {b}?",
          "What number is {b} less than {a}?"}},
        {"result_of",
         true,
         {"What is the result of subtracting {b} from {a}?",
          "What do you get when {b} is subtracted from {a}?", "Find the difference {a} - {b}."}},
    },
    {
        {"simbolo",
         false,
         {"Quanto fa {a} - {b}?", "Quanto è {a} - {b}?", "Calcola {a} - {b}.", "{a} - {b} = ?",
          "Calcola {a}-{b}.", "Quanto fa {a} − {b}?"}},
        {"parola_meno",
         false,
         {"Quanto fa {a} meno {b}?", "Quanto è {a} meno {b}?", "{a} meno {b} fa?",
          "Calcola {a} meno {b}."}},
        {"sottrai_da",
         false,
         {"Sottrai {b} da {a}.", "Se sottrai {b} da {a}, cosa ottieni?", "Togli {b} da {a}.",
          "Per favore sottrai {b} a {a}."}},
        {"diminuisci_di",
         true,
         {"Diminuisci {a} di {b}.", "Quanto fa {a} diminuito di {b}?",
          "Che numero ottieni togliendo {b} a {a}?"}},
        {"risultato_di",
         true,
         {"Qual è il risultato di {a} meno {b}?", "Cosa ottieni sottraendo {b} da {a}?",
          "Trova la differenza {a} - {b}."}},
    }};

// {a} - {b} with a >= b: what remains, how much more.
const Phrasings kSubtractionRemain{
    {
        {"left_story",
         false,
         {"A shop had {a} apples and sold {b}. How many apples are left?",
          "There were {a} people in the hall; {b} went home. How many stayed?",
          "I had {a} stickers and gave away {b}. How many do I have now?"}},
        {"what_remains",
         false,
         {"How much is left if you take {b} from {a}?", "From {a} take away {b}: what remains?"}},
        {"how_much_more",
         true,
         {"How much greater is {a} than {b}?", "By how much does {a} exceed {b}?",
          "A tank holds {a} liters and {b} liters are used. How many liters remain?"}},
    },
    {
        {"storia_resta",
         false,
         {"Un negozio aveva {a} mele e ne ha vendute {b}. Quante mele restano?",
          "C'erano {a} persone in sala e {b} sono andate a casa. Quante sono rimaste?",
          "Avevo {a} figurine e ne ho regalate {b}. Quante ne ho adesso?"}},
        {"quanto_resta",
         false,
         {"Quanto resta se da {a} togli {b}?", "Da {a} togli {b}: quanto resta?"}},
        {"di_quanto",
         true,
         {"Di quanto {a} supera {b}?", "Quanto manca a {b} per arrivare a {a}?",
          "Un serbatoio contiene {a} litri e se ne usano {b}. Quanti litri restano?"}},
    }};

const Phrasings kMultiplication{
    {
        {"symbol_question",
         false,
         {"What is {a} * {b}?", "What is {a} x {b}?", "What is {a} × {b}?", "Calculate {a} * {b}.",
          "{a} x {b} = ?", "Compute {a}×{b}.", "How much is {a} * {b}?"}},
        {"times_word",
         false,
         {"What is {a} times {b}?", "How much is {a} times {b}?", "{a} times {b} is what?",
          "Work out {a} times {b}."}},
        {"multiply_imperative",
         false,
         {"Multiply {a} by {b}.", "Multiply {a} and {b}.",
          "If you multiply {b} by {a}, what do you get?", "Please multiply {a} by {b}."}},
        {"product_of",
         true,
         {"What is the product of {a} and {b}?", "Find the product of {a} and {b}.",
          "The product of {a} and {b} is?"}},
        {"groups",
         true,
         {"There are {a} boxes with {b} pens each. How many pens are there?",
          "{a} multiplied by {b} gives what?", "What do you get when {a} is multiplied by {b}?",
          "Each of {b} rows has {a} seats. How many seats are there in all?"}},
    },
    {
        {"simbolo",
         false,
         {"Quanto fa {a} * {b}?", "Quanto fa {a} x {b}?", "Quanto fa {a} × {b}?",
          "Calcola {a} * {b}.", "{a} x {b} = ?", "Calcola {a}×{b}.", "Quanto è {a} * {b}?"}},
        {"parola_per",
         false,
         {"Quanto fa {a} per {b}?", "Quanto è {a} per {b}?", "{a} per {b} fa?",
          "Calcola {a} per {b}."}},
        {"moltiplica",
         false,
         {"Moltiplica {a} per {b}.", "Moltiplica {a} e {b}.",
          "Se moltiplichi {b} per {a}, cosa ottieni?", "Per favore moltiplica {a} per {b}."}},
        {"prodotto_di",
         true,
         {"Qual è il prodotto di {a} e {b}?", "Trova il prodotto tra {a} e {b}.",
          "Il prodotto di {a} per {b} è?"}},
        {"gruppi",
         true,
         {"Ci sono {a} scatole con {b} penne ciascuna. Quante penne ci sono?",
          "{a} moltiplicato per {b} quanto fa?", "Cosa ottieni moltiplicando {a} per {b}?",
          "In ognuna di {b} file ci sono {a} posti. Quanti posti ci sono in tutto?"}},
    }};

// {a} divided by {b}, asking for quotient and remainder.
const Phrasings kDivisionRemainder{
    {
        {"quotient_remainder",
         false,
         {"What is {a} divided by {b}? Give the quotient and the remainder.",
          "Divide {a} by {b}: quotient and remainder?",
          "Find the quotient and remainder of {a} ÷ {b}.", "{a} ÷ {b} = ? (with remainder)",
          "Compute {a} / {b} with remainder."}},
        {"goes_into",
         false,
         {"How many times does {b} go into {a}, and what is left over?",
          "How many whole {b}s fit in {a}, and what remains?"}},
        {"share_leftover",
         true,
         {"Share {a} sweets equally among {b} children. How many does each child get, and how "
          "many are left over?",
          "{a} apples are packed in bags of {b}. How many full bags are there, and how many "
          "apples are left?"}},
        {"integer_division",
         true,
         {"What is the integer division of {a} by {b}, with its remainder?",
          "Do the long division {a} : {b} and give the quotient and remainder."}},
    },
    {
        {"quoziente_resto",
         false,
         {"Quanto fa {a} diviso {b}? Dai il quoziente e il resto.",
          "Dividi {a} per {b}: quoziente e resto?", "Trova quoziente e resto di {a} : {b}.",
          "{a} : {b} = ? (con il resto)", "Calcola {a} / {b} con il resto."}},
        {"quante_volte_avanza",
         false,
         {"Quante volte sta {b} in {a}, e quanto avanza?",
          "Quanti {b} interi entrano in {a}, e quanto resta?"}},
        {"dividi_avanza",
         true,
         {"Dividi {a} caramelle tra {b} bambini in parti uguali. Quante ne riceve ciascuno e "
          "quante ne avanzano?",
          "{a} mele vengono messe in sacchetti da {b}. Quanti sacchetti pieni ci sono e quante "
          "mele restano?"}},
        {"divisione_intera",
         true,
         {"Qual è la divisione intera di {a} per {b}, con il resto?",
          "Esegui la divisione in colonna {a} : {b} e dai quoziente e resto."}},
    }};

// {a} divided by {b} exactly.
const Phrasings kDivisionExact{
    {
        {"symbol_question",
         false,
         {"What is {a} ÷ {b}?", "What is {a} / {b}?", "Calculate {a} : {b}.", "{a} / {b} = ?",
          "Compute {a}÷{b}."}},
        {"divided_by",
         false,
         {"What is {a} divided by {b}?", "How much is {a} divided by {b}?", "Divide {a} by {b}.",
          "{a} divided by {b} is what?"}},
        {"quotient_of",
         true,
         {"What is the quotient of {a} and {b}?", "Find the quotient of {a} divided by {b}.",
          "How many times does {b} go into {a}?"}},
        {"split_equally",
         true,
         {"Split {a} dollars equally among {b} people. How much does each person get?"}},
    },
    {
        {"simbolo",
         false,
         {"Quanto fa {a} : {b}?", "Quanto fa {a} / {b}?", "Calcola {a} ÷ {b}.", "{a} : {b} = ?",
          "Calcola {a}/{b}."}},
        {"parola_diviso",
         false,
         {"Quanto fa {a} diviso {b}?", "Quanto è {a} diviso per {b}?", "Dividi {a} per {b}.",
          "{a} diviso {b} fa?"}},
        {"quoziente_di",
         true,
         {"Qual è il quoziente tra {a} e {b}?", "Trova il quoziente di {a} diviso {b}.",
          "Quante volte il {b} sta nel {a}?"}},
        {"parti_uguali",
         true,
         {"Dividi {a} euro in parti uguali tra {b} persone. Quanto riceve ciascuna?"}},
    }};

// {e}: the expression in symbols; {w}: the same expression with operation words.
const Phrasings kExpression{
    {
        {"compute",
         false,
         {"Compute {e}.", "Calculate {e}.", "Work out {e}.", "Evaluate {e}.", "Solve {e}.",
          "Please compute {e}."}},
        {"what_is",
         false,
         {"What is {e}?", "What's {e}?", "How much is {e}?", "What does {e} equal?",
          "What is the result of {e}?", "Can you tell me what {e} is?"}},
        {"equals", false, {"{e} = ?", "{e} =", "{e} equals?", "Result of {e}:"}},
        {"value_of",
         true,
         {"Find the value of {e}.", "What is the value of the expression {e}?",
          "Give the value of {e}.", "Tell me the value of {e}."}},
        {"in_words", true, {"What is {w}?", "Compute {w}.", "Tell me what {w} makes."}},
    },
    {
        {"calcola",
         false,
         {"Calcola {e}.", "Calcolami {e}.", "Risolvi {e}.", "Svolgi {e}.", "Esegui {e}.",
          "Per favore calcola {e}."}},
        {"quanto_fa",
         false,
         {"Quanto fa {e}?", "Quanto è {e}?", "Quanto vale {e}?", "A cosa è uguale {e}?",
          "Qual è il risultato di {e}?", "Mi dici quanto fa {e}?"}},
        {"uguale", false, {"{e} = ?", "{e} =", "{e} fa?", "Risultato di {e}:"}},
        {"valore_di",
         true,
         {"Trova il valore di {e}.", "Qual è il valore dell'espressione {e}?",
          "Dammi il valore di {e}.", "Dimmi il valore di {e}."}},
        {"a_parole", true, {"Quanto fa {w}?", "Calcola {w}.", "Dimmi quanto fa {w}."}},
    }};

// ---- traces ----

// One line per column, units first: "x+y+c=cs" (c the carry in, cs the two-digit column sum: its
// first digit is the carry out) or "x-y-b=bd" (b the borrow in, then the borrow out and the
// digit). Every line has the same shape, so each digit a model fetches (an operand digit from the
// restated problem above, the carry from the line above) sits next to a fixed landmark; the
// answer's digits are the lines' last digits read from the bottom up.
S column_lines(int64_t a, int64_t b, bool minus) {
    const auto da = digits_lsb(a), db = digits_lsb(b);
    const size_t cols = std::max(da.size(), db.size());
    S t;
    int c = 0;
    for (size_t i = 0; i < cols; ++i) {
        const int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0;
        t += str(x) + (minus ? "-" : "+") + str(y) + (minus ? "-" : "+") + str(c) + "=";
        if (minus) {
            const int r = x - y - c;
            c = r < 0;
            t += str(c) + str(r + 10 * c);
        } else {
            const int sum = x + y + c;
            c = sum / 10;
            t += str(c) + str(sum % 10);
        }
        t += i + 1 < cols ? "\n" : "";
    }
    return t;
}

// Operands of d digits, the other of d or d-1 digits (any order).
std::pair<int64_t, int64_t> operands(Rng& r, int d) {
    int64_t a = with_digits(r, d), b = with_digits(r, int(r.range(std::max(1, d - 1), d)));
    if (r.chance(0.5)) std::swap(a, b);
    return {a, b};
}

GymRecord addition_gen(Ctx& c) {
    const auto [a, b] = operands(c.r, c.d);
    std::string_view frame;
    GymRecord g;
    g.question = c.ask(kAddition, {{"a", c.num(a)}, {"b", c.num(b)}}, frame);
    // The restated sum keeps the question's order of mention (a plain copy).
    const bool a_first = frame.find("{a}") < frame.find("{b}");
    const int64_t x = a_first ? a : b, y = a_first ? b : a;
    g.thinking = str(x) + "+" + str(y) + "\n" + column_lines(x, y, false);
    g.answer = str(a + b);
    return g;
}

// a - b; with a < b the trace restates it as -(b-a) and subtracts the smaller from the larger.
GymRecord subtraction_gen(Ctx& c) {
    auto [a, b] = operands(c.r, c.d);
    if (a < b) std::swap(a, b);
    const bool negative = c.r.chance(0.25) && a != b;
    if (negative) std::swap(a, b);
    GymRecord g;
    const Phrasings& p = negative || c.r.chance(0.7) ? kSubtraction : kSubtractionRemain;
    g.question = c.ask(p, {{"a", c.num(a)}, {"b", c.num(b)}});
    const S head = str(a) + "-" + str(b);
    g.thinking = a >= b ? head + "\n" + column_lines(a, b, true)
                        : head + "=-(" + str(b) + "-" + str(a) + ")\n" + column_lines(b, a, true);
    g.answer = str(a - b);
    return g;
}

// Long multiplication of x by each digit y of the shorter factor: "u*y+c=pq" per digit of x
// (units first, c the carry in), then "x*y=partial"; the partials, shifted, are summed pairwise
// with the column trace, each sum restated first ("2922+14610").
S multiplication_lines(int64_t x, int64_t y) {
    const auto dx = digits_lsb(x), dy = digits_lsb(y);
    S t = str(x) + "*" + str(y);
    int64_t acc = 0;
    for (size_t j = 0; j < dy.size(); ++j) {
        int carry = 0;
        for (size_t i = 0; i < dx.size(); ++i) {
            const int p = dx[i] * dy[j] + carry;
            t += "\n" + str(dx[i]) + "*" + str(dy[j]) + "+" + str(carry) + "=" +
                 (p < 10 ? "0" : "") + str(p);
            carry = p / 10;
        }
        const int64_t partial = x * dy[j];
        t += "\n" + str(x) + "*" + str(int64_t(dy[j]) * pow10(int(j))) + "=" +
             str(partial * pow10(int(j)));
        if (j == 0) {
            acc = partial;
            continue;
        }
        const int64_t shifted = partial * pow10(int(j));
        t += "\n" + str(acc) + "+" + str(shifted) + "\n" + column_lines(acc, shifted, false);
        acc += shifted;
    }
    return t;
}

GymRecord multiplication_gen(Ctx& c) {
    // d-digit by ceil(d/2)-digit factors; a one-digit factor is at least 2.
    int64_t a = with_digits(c.r, c.d), b = with_digits(c.r, (c.d + 1) / 2);
    if (a < 2) a = c.r.range(2, 9);
    if (b < 2) b = c.r.range(2, 9);
    if (c.r.chance(0.5)) std::swap(a, b);
    GymRecord g;
    g.question = c.ask(kMultiplication, {{"a", c.num(a)}, {"b", c.num(b)}});
    // The longer factor is multiplied by each digit of the shorter one.
    const bool a_long = str(a).size() >= str(b).size();
    g.thinking = multiplication_lines(a_long ? a : b, a_long ? b : a);
    g.answer = str(a * b);
    return g;
}

// Long division, one line per digit of the dividend: "cur/b=qrR", where cur is the previous
// remainder followed by the next digit (a copy of two neighbours, no arithmetic) and q, R the
// quotient digit and new remainder.
S division_lines(int64_t a, int64_t b) {
    S t = str(a) + "/" + str(b);
    const S digits = str(a);
    int64_t rem = 0;
    for (char ch : digits) {
        const S cur = rem ? str(rem) + ch : S(1, ch);
        const int64_t v = std::stoll(cur);
        t += "\n" + cur + "/" + str(b) + "=" + str(v / b) + "r" + str(v % b);
        rem = v % b;
    }
    return t;
}

GymRecord division_gen(Ctx& c) {
    // A (d+1)-digit dividend; a one-digit divisor up to difficulty 3, two digits from 4.
    const int64_t b = c.d <= 3 ? c.r.range(2, 9) : c.r.range(11, 99);
    int64_t a = with_digits(c.r, c.d + 1);
    const bool exact = c.r.chance(0.4);
    if (exact) a = std::max<int64_t>(a / b, 1) * b;
    GymRecord g;
    g.question =
        c.ask(exact ? kDivisionExact : kDivisionRemainder, {{"a", c.num(a)}, {"b", c.num(b)}});
    g.thinking = division_lines(a, b);
    g.answer = exact ? str(a / b) : str(a / b) + c.L(" remainder ", " resto ") + str(a % b);
    return g;
}

// ---- expressions ----

// Expression trees: leaves are numbers, inner nodes + - * /.
struct Node {
    char op = 0;  // 0 = number
    int64_t v = 0;
    std::unique_ptr<Node> l, r;
};

int prec(const Node& n) {
    return n.op == 0 ? 3 : (n.op == '*' || n.op == '/') ? 2 : 1;
}

int64_t value(const Node& n) {
    if (!n.op) return n.v;
    const int64_t a = value(*n.l), b = value(*n.r);
    return n.op == '+' ? a + b : n.op == '-' ? a - b : n.op == '*' ? a * b : a / b;
}

// Operator spellings of one rendering: the trace uses "*" and "/" without spaces; questions use
// one multiplication sign (*, x, ×) and one division sign (/, :, ÷) throughout, or words.
struct Spelling {
    S plus, minus, times, div;
    bool spaced;
};

S render(const Node& n, const Spelling& s) {
    if (!n.op) return str(n.v);
    S a = render(*n.l, s), b = render(*n.r, s);
    if (prec(*n.l) < prec(n)) a = "(" + a + ")";
    if (prec(*n.r) <= prec(n)) b = "(" + b + ")";
    const S& op = n.op == '+' ? s.plus : n.op == '-' ? s.minus : n.op == '*' ? s.times : s.div;
    return s.spaced ? a + " " + op + " " + b : a + op + b;
}

const Spelling kCanonical{"+", "-", "*", "/", false};

// Random tree of `ops` operations; every intermediate result is a non-negative integer (a
// subtraction swaps its operands when needed, a division only stands when exact).
std::unique_ptr<Node> build(Rng& r, int ops, int64_t max_leaf, int64_t max_product) {
    auto n = std::make_unique<Node>();
    if (ops == 0) {
        n->v = r.range(1, max_leaf);
        return n;
    }
    const int left = int(r.range(0, ops - 1));
    n->l = build(r, left, max_leaf, max_product);
    n->r = build(r, ops - 1 - left, max_leaf, max_product);
    static const char kOps[] = {'+', '-', '*', '/'};
    n->op = kOps[r.next() % 4];
    const int64_t a = value(*n->l), b = value(*n->r);
    if (n->op == '*' && a * b > max_product) n->op = '+';
    if (n->op == '/' && (b < 2 || a % b != 0)) n->op = a * b <= max_product ? '*' : '+';
    if (n->op == '-' && a < b) std::swap(n->l, n->r);
    return n;
}

// The next operation to reduce: among operations whose operands are both numbers, products and
// quotients before sums and differences, the leftmost first (the school order: parentheses
// first, then * and /, then + and -, each from left to right).
Node* next_reducible(Node& n, int want_prec) {
    if (!n.op) return nullptr;
    if (!n.l->op && !n.r->op) return prec(n) == want_prec ? &n : nullptr;
    if (Node* f = next_reducible(*n.l, want_prec)) return f;
    return next_reducible(*n.r, want_prec);
}

GymRecord expression_gen(Ctx& c) {
    const int ops = std::min(c.d + 1, 8);
    const int64_t max_leaf = c.d <= 1 ? 9 : c.d <= 3 ? 20 : 50;
    auto root = build(c.r, ops, max_leaf, c.d <= 2 ? 200 : 2000);
    static const std::vector<S> times = {"*", "x", "×"}, divs_en = {"/", "÷"},
                                divs_it = {":", "/", "÷"};
    const Spelling sym{"+", c.r.chance(0.2) ? "−" : "-", c.r.pick(times),
                       c.r.pick(c.it ? divs_it : divs_en), !c.r.chance(0.15)};
    const Spelling words = c.it ? Spelling{"più", "meno", "per", "diviso", true}
                                : Spelling{"plus", "minus", "times", "divided by", true};
    GymRecord g;
    g.question = c.ask(kExpression, {{"e", render(*root, sym)}, {"w", render(*root, words)}});
    const int64_t result = value(*root);
    S t = render(*root, kCanonical);
    while (root->op) {
        Node* n = next_reducible(*root, 2);
        if (!n) n = next_reducible(*root, 1);
        const int64_t v = value(*n);
        t += "\n" + str(n->l->v) + n->op + str(n->r->v) + "=" + str(v);
        n->op = 0;
        n->v = v;
        n->l.reset();
        n->r.reset();
        if (root->op) t += " -> " + render(*root, kCanonical);
    }
    g.thinking = t;
    g.answer = str(result);
    return g;
}

}  // namespace

std::vector<TaskDef> arithmetic_tasks() {
    return {
        {"addition", addition_gen, {&kAddition}, "d-digit operands (the other d or d-1 digits)"},
        {"subtraction",
         subtraction_gen,
         {&kSubtraction, &kSubtractionRemain},
         "d-digit operands (the other d or d-1 digits); a quarter of the results negative"},
        {"multiplication",
         multiplication_gen,
         {&kMultiplication},
         "a d-digit factor times a ceil(d/2)-digit one"},
        {"division",
         division_gen,
         {&kDivisionRemainder, &kDivisionExact},
         "a (d+1)-digit dividend; one-digit divisor up to d=3, two digits from d=4",
         AnswerKind::QuotientRemainder},
        {"expression",
         expression_gen,
         {&kExpression},
         "min(d+1, 8) operations (+ - * /, parentheses), leaves up to 9/20/50"},
    };
}

}  // namespace np::data::gym
