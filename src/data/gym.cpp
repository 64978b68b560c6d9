#include "data/gym.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_set>

#include "core/error.h"

namespace np::data {

namespace {

// Own generator and range reduction: std distributions differ between standard libraries, and the
// gym must give the same problems everywhere for a given seed.
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t x = (s += 0x9e3779b97f4a7c15ull);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
    }
    int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(next() % uint64_t(hi - lo + 1)); }
    bool chance(double p) { return double(next() >> 11) * 0x1.0p-53 < p; }
    template <class T>
    const T& pick(const std::vector<T>& v) {
        return v[size_t(next() % v.size())];
    }
};

using S = std::string;
S str(int64_t v) {
    return std::to_string(v);
}

int64_t pow10(int d) {
    int64_t p = 1;
    for (int i = 0; i < d; ++i) p *= 10;
    return p;
}
int64_t with_digits(Rng& r, int d) {
    return d <= 1 ? r.range(0, 9) : r.range(pow10(d - 1), pow10(d) - 1);
}

struct Ctx {
    Rng& r;
    bool it;
    int d;
    bool compact = false;  // GymTrace::Compact
    const S& L(const S& en, const S& itv) const { return it ? itv : en; }
};

S column_name(bool it, size_t i) {
    static const char* en[] = {"Units",     "Tens",          "Hundreds",
                               "Thousands", "Ten thousands", "Hundred thousands"};
    static const char* itn[] = {
        "Unità", "Decine", "Centinaia", "Migliaia", "Decine di migliaia", "Centinaia di migliaia"};
    if (i < 6) return it ? itn[i] : en[i];
    return (it ? "Colonna " : "Column ") + str(int64_t(i + 1));
}

std::vector<int> digits_lsb(int64_t v) {
    std::vector<int> out;
    do {
        out.push_back(int(v % 10));
        v /= 10;
    } while (v > 0);
    return out;
}

// Addition and subtraction first write each operand as a table of its digits by place (the
// shorter one padded with zeros), then one line per column ending with the result digits found so
// far. A column line reads its digits from the tables by place name, rather than by counting
// positions from the right of the numbers in the question; the running "so far" makes the result a
// copy of the last line rather than a reversal of the column digits.
S place_table(bool it, int64_t v, size_t columns) {
    auto d = digits_lsb(v);
    S t = str(v) + ":";
    for (size_t i = columns; i-- > 0;) {
        S name = column_name(it, i);
        name[0] = char(name[0] - 'A' + 'a');
        t += " " + name + " " + str(i < d.size() ? d[i] : 0) + (i ? "," : ".\n");
    }
    return t;
}

// The compact column trace (GymTrace::Compact): one fixed-width line per column, units first,
// "x+y+c=cs" (addition: the two-digit sum, its first digit the carry) or "x-y-b=bd" (subtraction:
// the borrow out, then the digit), carry/borrow in always written. Every line has the same tokens
// in the same places, so each digit a model must fetch (an operand digit from the question, the
// carry from the line above, the answer digits from the lines) sits at a fixed distance or next to
// a fixed landmark; the step trace's place names and growing "so far" copies make the same
// retrievals depend on the numbers' lengths.
S compact_columns(int64_t a, int64_t b, bool minus) {
    const auto da = digits_lsb(a), db = digits_lsb(b);
    const size_t cols = std::max(da.size(), db.size());
    S t;
    int c = 0;
    for (size_t i = 0; i < cols; ++i) {
        const int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0;
        t += str(x) + (minus ? "-" : "+") + str(y) + (minus ? "-" : "+") + str(c) + "=";
        if (minus) {
            int r = x - y - c;
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

GymRecord addition(Ctx c) {
    int n = c.d + 1;
    int64_t a = with_digits(c.r, n), b = with_digits(c.r, int(c.r.range(std::max(1, n - 1), n)));
    if (c.r.chance(0.5)) std::swap(a, b);
    GymRecord g;
    g.question = c.L("What is ", "Quanto fa ") + str(a) + " + " + str(b) + "?";
    g.answer = str(a + b);
    if (c.compact) {
        g.thinking = compact_columns(a, b, false);
        return g;
    }
    auto da = digits_lsb(a), db = digits_lsb(b);
    const size_t cols = std::max(da.size(), db.size());
    S t = place_table(c.it, a, cols) + place_table(c.it, b, cols);
    int carry = 0;
    S so_far;
    for (size_t i = 0; i < cols; ++i) {
        int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0, s = x + y + carry;
        so_far = str(s % 10) + so_far;
        t += column_name(c.it, i) + ": " + str(x) + " + " + str(y) + (carry ? " + 1" : "") + " = " +
             str(s) + c.L(", carry ", ", riporto ") + str(s / 10) + c.L(", so far ", ", finora ") +
             so_far + ".\n";
        carry = s / 10;
    }
    if (carry) {
        so_far = "1" + so_far;
        t += c.L("Last carry 1, so far ", "Ultimo riporto 1, finora ") + so_far + ".\n";
    }
    t += c.L("Result: ", "Risultato: ") + str(a + b) + ".";
    g.thinking = t;
    g.answer = str(a + b);
    return g;
}

GymRecord subtraction(Ctx c) {
    int n = c.d + 1;
    int64_t a = with_digits(c.r, n), b = with_digits(c.r, int(c.r.range(std::max(1, n - 1), n)));
    if (a < b) std::swap(a, b);
    GymRecord g;
    g.question = c.L("What is ", "Quanto fa ") + str(a) + " - " + str(b) + "?";
    g.answer = str(a - b);
    if (c.compact) {
        g.thinking = compact_columns(a, b, true);
        return g;
    }
    auto da = digits_lsb(a), db = digits_lsb(b);
    S t = place_table(c.it, a, da.size()) + place_table(c.it, b, da.size());
    int borrow = 0;
    S so_far;
    for (size_t i = 0; i < da.size(); ++i) {
        int x = da[i], y = i < db.size() ? db[i] : 0, r = x - y - borrow;
        S expr = str(x) + " - " + str(y) + (borrow ? " - 1" : "");
        t += column_name(c.it, i) + ": " + expr;
        // A negative column borrows ten from the next one: "1x" is x plus that ten.
        if (r < 0) {
            r += 10;
            t += c.L(" < 0, so 1", " < 0, quindi 1") + expr + " = " + str(r);
            borrow = 1;
        } else {
            t += " = " + str(r);
            borrow = 0;
        }
        so_far = str(r) + so_far;
        t += c.L(", borrow ", ", prestito ") + str(borrow) + c.L(", so far ", ", finora ") +
             so_far + ".\n";
    }
    t += c.L("Result: ", "Risultato: ") + str(a - b) + ".";
    g.thinking = t;
    g.answer = str(a - b);
    return g;
}

GymRecord multiplication(Ctx c) {
    int na = c.d + 1, nb = (c.d + 2) / 2;
    int64_t a = with_digits(c.r, na), b = with_digits(c.r, nb);
    if (b < 2) b = c.r.range(2, 9);
    GymRecord g;
    g.question = c.L("What is ", "Quanto fa ") + str(a) + " * " + str(b) + "?";
    S t = c.L("Long multiplication: multiply ", "Moltiplicazione in colonna: moltiplico ") +
          str(a) + c.L(" by each digit of ", " per ogni cifra di ") + str(b) +
          c.L(", starting from the right.\n", ", partendo da destra.\n");
    auto da = digits_lsb(a), db = digits_lsb(b);
    std::vector<int64_t> partials;
    for (size_t j = 0; j < db.size(); ++j) {
        int y = db[j];
        t += str(a) + " * " + str(y) + ": ";
        int carry = 0;
        for (size_t i = 0; i < da.size(); ++i) {
            int p = da[i] * y + carry;
            t += str(da[i]) + "*" + str(y) + (carry ? S("+") + str(carry) : S()) + "=" + str(p);
            if (i + 1 < da.size()) {
                t += c.L(" write ", " scrivo ") + str(p % 10) + c.L(" carry ", " riporto ") +
                     str(p / 10) + "; ";
                carry = p / 10;
            } else {
                t += ".\n";
            }
        }
        int64_t part = a * y;
        t += str(a) + " * " + str(y) + " = " + str(part);
        if (j > 0)
            t += c.L(", shifted ", ", spostato di ") + str(int64_t(j)) +
                 c.L(j == 1 ? " place: " : " places: ", j == 1 ? " posto: " : " posti: ") +
                 str(part * pow10(int(j)));
        t += ".\n";
        partials.push_back(part * pow10(int(j)));
    }
    if (partials.size() > 1) {
        t += c.L("Add the partial products:\n", "Sommo i prodotti parziali:\n");
        int64_t acc = partials[0];
        for (size_t j = 1; j < partials.size(); ++j) {
            t += str(acc) + " + " + str(partials[j]) + " = " + str(acc + partials[j]) + "\n";
            acc += partials[j];
        }
    }
    t += c.L("Result: ", "Risultato: ") + str(a * b) + ".";
    g.thinking = t;
    g.answer = str(a * b);
    return g;
}

// Expression trees: leaves are numbers, inner nodes + - *.
struct Node {
    char op = 0;  // 0 = number
    int64_t v = 0;
    std::unique_ptr<Node> l, r;
};
int prec(const Node& n) {
    return n.op == 0 ? 3 : n.op == '*' ? 2 : 1;
}
int64_t eval(const Node& n) {
    if (!n.op) return n.v;
    int64_t a = eval(*n.l), b = eval(*n.r);
    return n.op == '+' ? a + b : n.op == '-' ? a - b : a * b;
}
S render(const Node& n) {
    if (!n.op) return str(n.v);
    S a = render(*n.l), b = render(*n.r);
    if (prec(*n.l) < prec(n)) a = "(" + a + ")";
    if (prec(*n.r) <= prec(n)) b = "(" + b + ")";
    return a + " " + n.op + " " + b;
}
std::unique_ptr<Node> build(Rng& r, int ops, int64_t max_leaf, int64_t max_product) {
    auto n = std::make_unique<Node>();
    if (ops == 0) {
        n->v = r.range(1, max_leaf);
        return n;
    }
    int left = int(r.range(0, ops - 1));
    n->l = build(r, left, max_leaf, max_product);
    n->r = build(r, ops - 1 - left, max_leaf, max_product);
    const char ops_[] = {'+', '-', '*'};
    n->op = ops_[r.next() % 3];
    if (n->op == '*' && eval(*n->l) * eval(*n->r) > max_product) n->op = '+';
    // Non-negative intermediate results keep every step free of negative numbers.
    if (n->op == '-' && eval(*n->l) < eval(*n->r)) std::swap(n->l, n->r);
    return n;
}
// Reduces the leftmost inner node whose children are both numbers; returns the step text.
bool reduce_one(Node& n, S& step) {
    if (!n.op) return false;
    if (!n.l->op && !n.r->op) {
        int64_t v = eval(n);
        step = str(n.l->v) + " " + n.op + " " + str(n.r->v) + " = " + str(v);
        n.op = 0;
        n.v = v;
        n.l.reset();
        n.r.reset();
        return true;
    }
    return reduce_one(*n.l, step) || reduce_one(*n.r, step);
}

GymRecord expression(Ctx c) {
    int ops = c.d + 1;
    int64_t max_leaf = c.d <= 1 ? 9 : c.d <= 3 ? 20 : 50;
    auto root = build(c.r, ops, max_leaf, c.d <= 2 ? 200 : 2000);
    GymRecord g;
    S e = render(*root);
    g.question = c.L("Compute ", "Calcola ") + e + ".";
    S t =
        c.L("Parentheses first, then multiplication, then addition and subtraction from left to "
            "right.\n",
            "Prima le parentesi, poi le moltiplicazioni, poi addizioni e sottrazioni da sinistra a "
            "destra.\n");
    int64_t value = eval(*root);
    S step;
    while (reduce_one(*root, step)) {
        t += step;
        if (root->op) t += c.L(", so: ", ", quindi: ") + render(*root);
        t += "\n";
    }
    t += c.L("Result: ", "Risultato: ") + str(value) + ".";
    g.thinking = t;
    g.answer = str(value);
    return g;
}

GymRecord compare(Ctx c) {
    int n = c.d + 1;
    int64_t a = with_digits(c.r, n), b;
    if (c.r.chance(0.6) && n >= 2) {
        // Same length, shared prefix: the comparison has to look past the first digits.
        int keep = int(c.r.range(1, n - 1));
        int64_t p = pow10(n - keep);
        do b = a / p * p + c.r.range(0, p - 1);
        while (b == a);
    } else {
        do b = with_digits(c.r, int(c.r.range(std::max(1, n - 1), n)));
        while (b == a);
    }
    if (c.r.chance(0.5)) std::swap(a, b);
    GymRecord g;
    g.question = c.L("Which number is larger: ", "Quale numero è più grande: ") + str(a) +
                 c.L(" or ", " o ") + str(b) + "?";
    S sa = str(a), sb = str(b), t;
    int64_t big = std::max(a, b);
    if (sa.size() != sb.size()) {
        const S& longer = sa.size() > sb.size() ? sa : sb;
        const S& shorter = sa.size() > sb.size() ? sb : sa;
        t = longer + c.L(" has ", " ha ") + str(int64_t(longer.size())) +
            c.L(" digits and ", " cifre e ") + shorter + c.L(" has ", " ne ha ") +
            str(int64_t(shorter.size())) + c.L(", so ", ", quindi ") + longer +
            c.L(" is larger.", " è più grande.");
    } else {
        t = c.L("Both have ", "Entrambi hanno ") + str(int64_t(sa.size())) +
            c.L(" digits, so I compare digit by digit from the left.\n",
                " cifre, quindi confronto le cifre da sinistra.\n");
        for (size_t i = 0; i < sa.size(); ++i) {
            t += c.L("Digit ", "Cifra ") + str(int64_t(i + 1)) + ": " + sa[i] +
                 (sa[i] == sb[i]  ? " = "
                  : sa[i] > sb[i] ? " > "
                                  : " < ") +
                 sb[i];
            if (sa[i] != sb[i]) {
                t += c.L(", so ", ", quindi ") + str(big) + c.L(" is larger.", " è più grande.");
                break;
            }
            t += ".\n";
        }
    }
    g.thinking = t;
    g.answer = str(big);
    return g;
}

S join(const std::vector<int64_t>& v) {
    S s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + str(v[i]);
    return s;
}

GymRecord sort_task(Ctx c) {
    int count = c.d + 2;
    std::vector<int64_t> v;
    while (int(v.size()) < count) {
        int64_t x = with_digits(c.r, int(c.r.range(1, c.d + 1)));
        if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    }
    bool asc = c.r.chance(0.5);
    GymRecord g;
    g.question = (asc ? c.L("Sort these numbers from smallest to largest: ",
                            "Ordina questi numeri dal più piccolo al più grande: ")
                      : c.L("Sort these numbers from largest to smallest: ",
                            "Ordina questi numeri dal più grande al più piccolo: ")) +
                 join(v) + ".";
    S t;
    std::vector<int64_t> rest = v, out;
    while (!rest.empty()) {
        auto it = asc ? std::min_element(rest.begin(), rest.end())
                      : std::max_element(rest.begin(), rest.end());
        if (rest.size() == 1) {
            t += c.L("The last one left is ", "L'ultimo rimasto è ") + str(*it) + ".\n";
        } else {
            t += (asc ? c.L("The smallest of ", "Il più piccolo tra ")
                      : c.L("The largest of ", "Il più grande tra ")) +
                 join(rest) + c.L(" is ", " è ") + str(*it) + ".\n";
        }
        out.push_back(*it);
        rest.erase(it);
    }
    t += c.L("Order: ", "Ordine: ") + join(out) + ".";
    g.thinking = t;
    g.answer = join(out);
    return g;
}

const std::vector<S>& words(bool it) {
    static const std::vector<S> en = {
        "strawberry", "banana",     "mississippi", "elephant",    "letter",    "committee",
        "balloon",    "bookkeeper", "apple",       "window",      "garden",    "pepper",
        "coffee",     "giraffe",    "mountain",    "assessment",  "butterfly", "river",
        "success",    "address",    "yellow",      "teacher",     "necessary", "keyboard",
        "parallel",   "tomorrow",   "umbrella",    "programming", "sheep",     "accommodation"};
    static const std::vector<S> itw = {
        "fragola",    "banana",      "cappello",   "mozzarella", "ragazzo",  "pappagallo",
        "settembre",  "caramella",   "ombrello",   "bicicletta", "farfalla", "cioccolato",
        "montagna",   "finestra",    "giardino",   "gelato",     "pomodoro", "spaghetti",
        "tartaruga",  "coccodrillo", "matematica", "scuola",     "lavagna",  "zucchero",
        "biblioteca", "carrozza",    "anatra",     "telefono",   "mattina",  "sassofono"};
    return it ? itw : en;
}

GymRecord letters(Ctx c) {
    int n_words = c.d <= 2 ? 1 : c.d - 1;
    std::vector<S> ws;
    for (int i = 0; i < n_words; ++i) {
        S w = c.r.pick(words(c.it));
        if (c.d == 1)
            while (w.size() > 7) w = c.r.pick(words(c.it));
        ws.push_back(w);
    }
    S all;
    for (const S& w : ws) all += w;
    char letter =
        c.r.chance(0.85) ? all[size_t(c.r.next() % all.size())] : char('a' + c.r.range(0, 25));
    S phrase;
    for (size_t i = 0; i < ws.size(); ++i) phrase += (i ? " " : "") + ws[i];
    GymRecord g;
    S q = S("\"") + letter + "\"";
    g.question = c.L("How many times does the letter ", "Quante volte compare la lettera ") + q +
                 c.L(" appear in \"", " in \"") + phrase + "\"?";
    S t;
    int64_t total = 0;
    std::vector<int64_t> counts;
    for (const S& w : ws) {
        S spelled, pos;
        int64_t k = 0;
        for (size_t i = 0; i < w.size(); ++i) {
            if (i) spelled += '-';
            spelled += w[i];
            if (w[i] == letter) pos += (k++ ? ", " : "") + str(int64_t(i + 1));
        }
        t += spelled + ": ";
        if (k == 0)
            t += c.L("no ", "nessuna ") + letter + ".\n";
        else
            t += letter +
                 (k == 1 ? c.L(" at position ", " nella posizione ")
                         : c.L(" at positions ", " nelle posizioni ")) +
                 pos + " -> " + str(k) + ".\n";
        counts.push_back(k);
        total += k;
    }
    if (ws.size() > 1) {
        t += c.L("Total: ", "Totale: ");
        for (size_t i = 0; i < counts.size(); ++i) t += (i ? " + " : "") + str(counts[i]);
        t += " = " + str(total) + ".";
    } else {
        t += c.L("Count: ", "Conteggio: ") + str(total) + ".";
    }
    g.thinking = t;
    g.answer = str(total);
    return g;
}

struct Name {
    S name;
    bool female;
};
const std::vector<Name>& names(bool it) {
    static const std::vector<Name> en = {
        {"Anna", true}, {"Tom", false}, {"Sara", true},  {"James", false}, {"Emma", true},
        {"Leo", false}, {"Mia", true},  {"Jack", false}, {"Lucy", true},   {"Ben", false}};
    static const std::vector<Name> itn = {
        {"Giulia", true}, {"Marco", false}, {"Sofia", true},   {"Luca", false}, {"Chiara", true},
        {"Paolo", false}, {"Elena", true},  {"Matteo", false}, {"Anna", true},  {"Giorgio", false}};
    return it ? itn : en;
}

struct Item {
    S en_one, en_many, it_one, it_many;
    bool it_female;
};

GymRecord word_money(Ctx c) {
    static const std::vector<Item> items = {
        {"notebook", "notebooks", "quaderno", "quaderni", false},
        {"pen", "pens", "penna", "penne", true},
        {"book", "books", "libro", "libri", false},
        {"sandwich", "sandwiches", "panino", "panini", false},
        {"ticket", "tickets", "biglietto", "biglietti", false},
        {"apple", "apples", "mela", "mele", true},
        {"t-shirt", "t-shirts", "maglietta", "magliette", true}};
    int kinds = std::min(c.d, 4);
    const Name& who = c.r.pick(names(c.it));
    std::vector<size_t> chosen;
    while (int(chosen.size()) < kinds) {
        size_t k = size_t(c.r.next() % items.size());
        if (std::find(chosen.begin(), chosen.end(), k) == chosen.end()) chosen.push_back(k);
    }
    std::vector<int64_t> qty, price;
    int64_t spent = 0;
    for (int i = 0; i < kinds; ++i) {
        qty.push_back(c.r.range(2, 2 + c.d * 2));
        price.push_back(c.r.range(1, 5 * c.d));
        spent += qty.back() * price.back();
    }
    int64_t has = (spent + c.r.range(0, 20 * c.d)) / 5 * 5 + 5;
    S cur_en = "$", unit_it = " euro";
    S buys;
    for (int i = 0; i < kinds; ++i) {
        const Item& it = items[chosen[size_t(i)]];
        S part = c.it ? str(qty[size_t(i)]) + " " + it.it_many + " a " + str(price[size_t(i)]) +
                            unit_it + (it.it_female ? " l'una" : " l'uno")
                      : str(qty[size_t(i)]) + " " + it.en_many + " at " + cur_en +
                            str(price[size_t(i)]) + " each";
        buys += (i == 0 ? "" : i + 1 == kinds ? c.L(" and ", " e ") : ", ") + part;
    }
    GymRecord g;
    g.question = c.it ? who.name + " ha " + str(has) + " euro. Compra " + buys + ". Quanti euro " +
                            (who.female ? "le" : "gli") + " restano?"
                      : who.name + " has $" + str(has) + ". " + (who.female ? "She" : "He") +
                            " buys " + buys + ". How much money does " +
                            (who.female ? "she" : "he") + " have left?";
    S t;
    std::vector<int64_t> costs;
    for (int i = 0; i < kinds; ++i) {
        const Item& it = items[chosen[size_t(i)]];
        int64_t cost = qty[size_t(i)] * price[size_t(i)];
        costs.push_back(cost);
        t += str(qty[size_t(i)]) + " " + (c.it ? it.it_many + " costano " : it.en_many + " cost ") +
             str(qty[size_t(i)]) + " * " + str(price[size_t(i)]) + " = " + str(cost) +
             (c.it ? " euro.\n" : " dollars.\n");
    }
    if (kinds > 1) {
        t += c.L("Total spent: ", "Spesa totale: ");
        for (size_t i = 0; i < costs.size(); ++i) t += (i ? " + " : "") + str(costs[i]);
        t += " = " + str(spent) + c.L(" dollars.\n", " euro.\n");
    }
    t += c.L("Money left: ", "Restano: ") + str(has) + " - " + str(spent) + " = " +
         str(has - spent) + c.L(" dollars.", " euro.");
    g.thinking = t;
    g.answer = str(has - spent);
    return g;
}

S clock(int64_t minutes) {
    minutes %= 24 * 60;
    int64_t m = minutes % 60;
    return str(minutes / 60) + ":" + (m < 10 ? "0" : "") + str(m);
}
S duration(bool it, int64_t h, int64_t m) {
    S s;
    if (h) s += str(h) + (it ? (h == 1 ? " ora" : " ore") : (h == 1 ? " hour" : " hours"));
    if (h && m) s += it ? " e " : " and ";
    if (m || !h)
        s += str(m) + (it ? (m == 1 ? " minuto" : " minuti") : (m == 1 ? " minute" : " minutes"));
    return s;
}

GymRecord word_time(Ctx c) {
    int legs = std::min(c.d, 4);
    int64_t start = c.r.range(5, 20) * 60 + c.r.range(0, 11) * 5;
    std::vector<std::pair<int64_t, int64_t>> dur;
    for (int i = 0; i < legs; ++i) dur.push_back({c.r.range(0, 1 + c.d), c.r.range(1, 59)});
    GymRecord g;
    S q = c.L("A train leaves at ", "Un treno parte alle ") + clock(start) +
          c.L(". The first part of the journey takes ", ". La prima parte del viaggio dura ") +
          duration(c.it, dur[0].first, dur[0].second) + ".";
    for (int i = 1; i < legs; ++i)
        q += c.L(" Then it travels for ", " Poi viaggia ancora per ") +
             duration(c.it, dur[size_t(i)].first, dur[size_t(i)].second) + c.L(" more.", ".");
    q += c.L(" At what time does it arrive? Answer as h:mm.",
             " A che ora arriva? Rispondi nel formato h:mm.");
    g.question = q;
    S t;
    int64_t now = start;
    for (int i = 0; i < legs; ++i) {
        auto [h, m] = dur[size_t(i)];
        if (h) {
            t += clock(now) + " + " + duration(c.it, h, 0) + " = " + clock(now + h * 60) + ".\n";
            now += h * 60;
        }
        int64_t mm = now % 60 + m;
        t += clock(now) + " + " + duration(c.it, 0, m) + ": " + str(now % 60) + " + " + str(m) +
             " = " + str(mm) + c.L(" minutes", " minuti");
        if (mm >= 60)
            t += " = " + c.L("1 hour and ", "1 ora e ") + str(mm - 60) + c.L(" minutes", " minuti");
        now += m;
        t += c.L(", so ", ", quindi ") + clock(now) + ".\n";
    }
    t += c.L("It arrives at ", "Arriva alle ") + clock(now) + ".";
    g.thinking = t;
    g.answer = clock(now);
    return g;
}

GymRecord word_age(Ctx c) {
    int steps = std::min(c.d, 5);
    std::vector<Name> people;
    while (int(people.size()) < steps + 1) {
        const Name& n = c.r.pick(names(c.it));
        bool dup = false;
        for (const Name& p : people) dup |= p.name == n.name;
        if (!dup) people.push_back(n);
    }
    int64_t age = c.r.range(3, 15);
    S q = people[0].name + c.L(" is ", " ha ") + str(age) + c.L(" years old.", " anni.");
    S t;
    for (int i = 1; i <= steps; ++i) {
        const S& a = people[size_t(i)].name;
        const S& b = people[size_t(i - 1)].name;
        int kind = int(c.r.range(0, 2));
        if (kind == 2 && age * 2 > 90) kind = 0;
        if (kind == 1 && age <= 2) kind = 0;
        if (kind == 0 && age > 80) kind = 1;
        int64_t next;
        if (kind == 0) {
            int64_t k = c.r.range(2, 30);
            next = age + k;
            q += " " + a + c.L(" is ", " ha ") + str(k) +
                 c.L(" years older than ", " anni più di ") + b + ".";
            t += a + ": " + str(age) + " + " + str(k) + " = " + str(next) + ".\n";
        } else if (kind == 1) {
            int64_t k = c.r.range(1, std::min<int64_t>(age - 1, 30));
            next = age - k;
            q += " " + a + c.L(" is ", " ha ") + str(k) +
                 c.L(" years younger than ", " anni meno di ") + b + ".";
            t += a + ": " + str(age) + " - " + str(k) + " = " + str(next) + ".\n";
        } else {
            int64_t k = c.r.range(2, std::max<int64_t>(2, std::min<int64_t>(4, 90 / age)));
            next = age * k;
            q += " " + a +
                 c.L(k == 2   ? " is twice as old as "
                     : k == 3 ? " is three times as old as "
                              : " is four times as old as ",
                     k == 2   ? " ha il doppio degli anni di "
                     : k == 3 ? " ha il triplo degli anni di "
                              : " ha il quadruplo degli anni di ") +
                 b + ".";
            t += a + ": " + str(k) + " * " + str(age) + " = " + str(next) + ".\n";
        }
        age = next;
    }
    int64_t later = c.d >= 2 ? c.r.range(1, 10) : 0;
    const S& last = people.back().name;
    if (later) {
        q += c.L(" How old will ", " Quanti anni avrà ") + last + c.L(" be in ", " tra ") +
             str(later) + c.L(" years?", " anni?");
        t += c.L("In ", "Tra ") + str(later) + c.L(" years: ", " anni: ") + str(age) + " + " +
             str(later) + " = " + str(age + later) + ".";
        age += later;
    } else {
        q += c.L(" How old is ", " Quanti anni ha ") + last + "?";
        t += last + c.L(" is ", " ha ") + str(age) + c.L(" years old.", " anni.");
    }
    GymRecord g;
    g.question = q;
    g.thinking = t;
    g.answer = str(age);
    return g;
}

GymRecord word_quantity(Ctx c) {
    static const std::vector<Item> things = {{"box", "apples", "scatola", "mele", true},
                                             {"carton", "eggs", "cartone", "uova", false},
                                             {"shelf", "books", "scaffale", "libri", false},
                                             {"crate", "bottles", "cassa", "bottiglie", true},
                                             {"pack", "pencils", "confezione", "matite", true}};
    static const std::vector<S> cont_en_many = {"boxes", "cartons", "shelves", "crates", "packs"};
    static const std::vector<S> cont_it_many = {"scatole", "cartoni", "scaffali", "casse",
                                                "confezioni"};
    size_t k = size_t(c.r.next() % things.size());
    const Item& th = things[k];
    int64_t per = c.r.range(4, 6 + 4 * c.d), n = c.r.range(2, 3 + 2 * c.d);
    int64_t total = per * n;
    S q = c.it ? "Un magazzino ha " + str(n) + " " + cont_it_many[k] + " con " + str(per) + " " +
                     th.it_many + (th.it_female ? " ciascuna." : " ciascuno.")
               : "A store has " + str(n) + " " + cont_en_many[k] + " with " + str(per) + " " +
                     th.en_many + " in each.";
    S t =
        str(n) + " * " + str(per) + " = " + str(total) + " " + c.L(th.en_many, th.it_many) + ".\n";
    for (int s = 1; s < std::min(c.d, 5) + 1; ++s) {
        if (total > 0 && (s == 1 || c.r.chance(0.5))) {
            int64_t sold = c.r.range(1, total);
            q += (s == 1 ? c.L(" It sells ", " Ne vende ")
                         : c.L(" Then it sells ", " Poi ne vende ")) +
                 str(sold) + (c.it ? "." : " " + th.en_many + ".");
            t += c.L("After selling ", "Dopo averne vendute ") + str(sold) + ": " + str(total) +
                 " - " + str(sold) + " = " + str(total - sold) + ".\n";
            total -= sold;
        } else {
            int64_t more = c.r.range(1, 4);
            q += (s == 1 ? c.L(" It receives ", " Riceve altre ")
                         : c.L(" Then it receives ", " Poi riceve altre ")) +
                 str(more) + " " +
                 c.L(more == 1 ? th.en_one : cont_en_many[k],
                     more == 1 ? th.it_one : cont_it_many[k]) +
                 c.L(more == 1 ? " more." : " more.", ".");
            t += str(more) + " * " + str(per) + " = " + str(more * per) + "; " + str(total) +
                 " + " + str(more * per) + " = " + str(total + more * per) + ".\n";
            total += more * per;
        }
    }
    q += c.it ? S(" Quante ") + (th.it_female ? "" : "") + th.it_many + " ha adesso?"
              : " How many " + th.en_many + " does it have now?";
    if (c.it && !th.it_female) q.replace(q.rfind(" Quante "), 8, " Quanti ");
    if (c.it && !th.it_female) {
        for (size_t p; (p = t.find("vendute")) != S::npos;) t.replace(p, 7, "venduti");
    }
    t += c.L("Now: ", "Adesso: ") + str(total) + ".";
    GymRecord g;
    g.question = q;
    g.thinking = t;
    g.answer = str(total);
    return g;
}

using Gen = GymRecord (*)(Ctx);
const std::vector<std::pair<S, Gen>>& generators() {
    static const std::vector<std::pair<S, Gen>> g = {{"addition", addition},
                                                     {"subtraction", subtraction},
                                                     {"multiplication", multiplication},
                                                     {"expression", expression},
                                                     {"compare", compare},
                                                     {"sort", sort_task},
                                                     {"letters", letters},
                                                     {"word_money", word_money},
                                                     {"word_time", word_time},
                                                     {"word_age", word_age},
                                                     {"word_quantity", word_quantity}};
    return g;
}

uint64_t fnv(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char ch : s) h = (h ^ uint8_t(ch)) * 0x100000001b3ull;
    return h;
}

bool is_space(char ch) {
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

std::string normalise_text(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (is_space(ch)) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += char(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
    }
    auto strip = [](char ch) {
        return ch == ' ' || ch == '.' || ch == '"' || ch == '\'' || ch == '*' || ch == '`';
    };
    while (!out.empty() && strip(out.back())) out.pop_back();
    size_t b = 0;
    while (b < out.size() && strip(out[b])) ++b;
    return out.substr(b);
}

// Last "h:mm" (or "h.mm") in s, hours of one or two digits.
bool last_time(std::string_view s, int& h, int& m) {
    auto digit = [&](size_t i) { return i < s.size() && isdigit((unsigned char)s[i]); };
    bool found = false;
    for (size_t i = 1; i < s.size(); ++i) {
        if ((s[i] != ':' && s[i] != '.') || !digit(i - 1) || !digit(i + 1) || !digit(i + 2) ||
            digit(i + 3))
            continue;
        size_t b = i;
        while (b > 0 && digit(b - 1)) --b;
        if (i - b > 2) continue;
        h = std::stoi(std::string(s.substr(b, i - b))) % 24;
        m = std::stoi(std::string(s.substr(i + 1, 2)));
        found = true;
    }
    return found;
}

double interpret(std::string_view tok, std::string_view lang) {
    size_t n_comma = std::count(tok.begin(), tok.end(), ','),
           n_dot = std::count(tok.begin(), tok.end(), '.');
    char decimal = 0;
    if (n_comma && n_dot) {
        decimal = tok[tok.find_last_of(",.")];
    } else if (n_comma + n_dot == 1) {
        char sep = n_comma ? ',' : '.';
        size_t after = tok.size() - tok.find(sep) - 1;
        bool thousands_if_three = lang == "it" ? sep == '.' : sep == ',';
        decimal = thousands_if_three && after == 3 ? 0 : sep;
    }
    std::string clean;
    for (char ch : tok) {
        if (ch == decimal)
            clean += '.';
        else if (ch != ',' && ch != '.')
            clean += ch;
    }
    return std::strtod(clean.c_str(), nullptr);
}

AnswerKind kind_of(const std::string& task, const std::string& expected, std::string_view lang) {
    if (task == "sort") return AnswerKind::NumberList;
    if (task == "word_time") return AnswerKind::Time;
    for (const auto& [name, gen] : generators())
        if (name == task) return AnswerKind::Number;
    // Plain records: numeric when the reference is one number, possibly with a currency sign.
    std::string core;
    for (char ch : expected)
        if (ch != '$' && ch != ' ' && ch != '%') core += ch;
    auto nums = parse_numbers(core, lang);
    if (nums.size() == 1 && !core.empty() && (isdigit((unsigned char)core.back())) &&
        (isdigit((unsigned char)core[0]) || core[0] == '-'))
        return AnswerKind::Number;
    return AnswerKind::Text;
}

}  // namespace

nlohmann::json GymRecord::to_json() const {
    return {{"task", task},         {"lang", lang},         {"difficulty", difficulty},
            {"question", question}, {"thinking", thinking}, {"answer", answer}};
}

GymRecord GymRecord::from_json(const nlohmann::json& j) {
    GymRecord g;
    g.task = j.value("task", "");
    g.lang = j.value("lang", "");
    g.difficulty = j.value("difficulty", 1);
    g.question = j.value("question", "");
    g.thinking = j.value("thinking", "");
    g.answer = j.value("answer", "");
    return g;
}

const std::vector<std::string>& gym_tasks() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& [n, g] : generators()) v.push_back(n);
        return v;
    }();
    return names;
}

GymRecord gym_generate(const std::string& task, const std::string& lang, int difficulty,
                       uint64_t seed, GymTrace trace) {
    if (lang != "en" && lang != "it") fail("gym: --lang must be en or it, got \"" + lang + "\"");
    if (difficulty < 1 || difficulty > 12)
        fail("gym: --difficulty must be in 1..12, got " + std::to_string(difficulty));
    for (const auto& [name, gen] : generators()) {
        if (name != task) continue;
        Rng r{seed * 0x9e3779b97f4a7c15ull + fnv(task) + (lang == "it" ? 0x17 : 0)};
        r.next();
        GymRecord g = gen(Ctx{r, lang == "it", difficulty, trace == GymTrace::Compact});
        g.task = task;
        g.lang = lang;
        g.difficulty = difficulty;
        return g;
    }
    std::string all;
    for (const auto& t : gym_tasks()) all += " " + t;
    fail("gym: unknown task \"" + task + "\" (tasks:" + all + ", or all)");
}

namespace {

std::vector<std::string> task_list(const std::string& spec) {
    if (spec == "all") return gym_tasks();
    std::vector<std::string> out;
    size_t b = 0;
    while (true) {
        size_t e = spec.find(',', b);
        std::string t = spec.substr(b, e == std::string::npos ? std::string::npos : e - b);
        if (t.empty() || t == "all")
            fail("gym: --task must be a task, all, or a comma-separated list of tasks, got \"" +
                 spec + "\"");
        if (std::find(gym_tasks().begin(), gym_tasks().end(), t) == gym_tasks().end()) {
            std::string all;
            for (const auto& n : gym_tasks()) all += " " + n;
            fail("gym: unknown task \"" + t + "\" (tasks:" + all + ", or all)");
        }
        out.push_back(t);
        if (e == std::string::npos) break;
        b = e + 1;
    }
    return out;
}

uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void check_set_options(const GymSetOptions& o) {
    if (o.lang != "en" && o.lang != "it" && o.lang != "both")
        fail("gym: --lang must be en, it or both, got \"" + o.lang + "\"");
    if (o.min_difficulty < 1 || o.max_difficulty > 12 || o.min_difficulty > o.max_difficulty)
        fail("gym: --difficulty must be D or A-B with 1 <= A <= B <= 12, got " +
             std::to_string(o.min_difficulty) + "-" + std::to_string(o.max_difficulty));
    if (o.direct_max_difficulty < 0 || o.direct_max_difficulty > 12)
        fail("gym: --direct-max-difficulty must be in 0..12, got " +
             std::to_string(o.direct_max_difficulty));
}

GymRecord candidate(const GymSetOptions& opt, const std::vector<std::string>& tasks, size_t i) {
    const std::string& t = tasks[i % tasks.size()];
    std::string l = opt.lang == "both" ? ((i / tasks.size()) % 2 ? "it" : "en") : opt.lang;
    uint64_t s = opt.seed * 0x100000001b3ull ^ (uint64_t(i) * 0xd1342543de82ef95ull + 1);
    int span = opt.max_difficulty - opt.min_difficulty + 1;
    // A separate hash of the record seed: the difficulty must not correlate with the problem.
    int d = opt.min_difficulty + int(mix64(s ^ 0x5bd1e9955bd1e995ull) % uint64_t(span));
    GymRecord g = gym_generate(t, l, d, s, opt.trace);
    if (d <= opt.direct_max_difficulty) g.thinking.clear();
    return g;
}

}  // namespace

std::vector<GymRecord> gym_generate_many(const std::string& task, const std::string& lang,
                                         int difficulty, uint64_t seed, size_t n) {
    GymSetOptions o;
    o.task = task;
    o.lang = lang;
    o.min_difficulty = o.max_difficulty = difficulty;
    o.seed = seed;
    if (lang != "en" && lang != "it" && lang != "both")
        fail("gym: --lang must be en, it or both, got \"" + lang + "\"");
    if (difficulty < 1 || difficulty > 12)
        fail("gym: --difficulty must be in 1..12, got " + std::to_string(difficulty));
    return gym_generate_set(o, n);
}

void parse_difficulty_range(std::string_view spec, int& lo, int& hi) {
    auto bad = [&] {
        fail("gym: --difficulty must be D or A-B with 1 <= A <= B <= 12, got \"" +
             std::string(spec) + "\"");
    };
    auto number = [&](std::string_view s) {
        if (s.empty() || s.size() > 2) bad();
        int v = 0;
        for (char ch : s) {
            if (ch < '0' || ch > '9') bad();
            v = v * 10 + (ch - '0');
        }
        return v;
    };
    size_t dash = spec.find('-');
    lo = number(spec.substr(0, dash));
    hi = dash == std::string_view::npos ? lo : number(spec.substr(dash + 1));
    if (lo < 1 || hi > 12 || lo > hi) bad();
}

GymRecord gym_candidate(const GymSetOptions& opt, size_t i) {
    check_set_options(opt);
    return candidate(opt, task_list(opt.task), i);
}

std::vector<GymRecord> gym_generate_set(const GymSetOptions& opt, size_t n,
                                        const std::vector<std::string>& exclude) {
    check_set_options(opt);
    const std::vector<std::string> tasks = task_list(opt.task);
    std::unordered_set<std::string> seen(exclude.begin(), exclude.end());
    const bool filter = opt.unique || !exclude.empty();
    std::vector<GymRecord> out;
    out.reserve(n);
    // Small problem spaces (one-digit sums) run out; give up after many rejections in a row.
    const size_t max_rejections = 100000;
    size_t rejected_in_a_row = 0;
    for (size_t i = 0; out.size() < n; ++i) {
        GymRecord g = candidate(opt, tasks, i);
        if (filter) {
            bool dropped = opt.unique ? !seen.insert(g.question).second : seen.count(g.question);
            if (dropped) {
                if (++rejected_in_a_row == max_rejections)
                    fail("gym: only " + std::to_string(out.size()) + " of " + std::to_string(n) +
                         " problems are left after excluding repeated or held-out questions; "
                         "lower --n or widen --difficulty");
                continue;
            }
            rejected_in_a_row = 0;
        }
        out.push_back(std::move(g));
    }
    return out;
}

std::string gym_plain_text(const GymRecord& r) {
    std::string s = r.question + "\n";
    if (!r.thinking.empty()) s += r.thinking + "\n";
    return s + r.answer;
}

bool extract_answer(std::string_view output, std::string& answer) {
    size_t close = output.rfind("</think>");
    std::string_view a;
    if (close != std::string_view::npos) {
        a = output.substr(close + 8);
    } else {
        if (output.find("<think>") != std::string_view::npos) {
            answer.clear();
            return false;
        }
        a = output;
    }
    for (std::string_view tail : {"<|endoftext|>", "<|im_end|>"}) {
        size_t p = a.find(tail);
        if (p != std::string_view::npos) a = a.substr(0, p);
    }
    while (!a.empty() && is_space(a.front())) a.remove_prefix(1);
    while (!a.empty() && is_space(a.back())) a.remove_suffix(1);
    answer = std::string(a);
    return true;
}

std::vector<double> parse_numbers(std::string_view s, std::string_view lang, bool integers_only) {
    std::vector<double> out;
    auto digit = [&](size_t i) { return i < s.size() && isdigit((unsigned char)s[i]); };
    for (size_t i = 0; i < s.size();) {
        if (!digit(i)) {
            ++i;
            continue;
        }
        size_t b = i;
        while (digit(i) || (!integers_only && (s[i] == ',' || s[i] == '.') && digit(i + 1))) ++i;
        double v = interpret(s.substr(b, i - b), lang);
        // A minus sign counts when it does not follow a digit or letter ("5-3" is not -3).
        if (b > 0 && s[b - 1] == '-' && (b == 1 || !isalnum((unsigned char)s[b - 2]))) v = -v;
        out.push_back(v);
    }
    return out;
}

ScoreResult gym_score(const nlohmann::json& record, std::string_view output) {
    if (!record.is_object() || !record.contains("answer") || !record["answer"].is_string())
        fail("gym score: record has no string field \"answer\"");
    ScoreResult res;
    std::string task = record.value("task", ""), lang = record.value("lang", "");
    std::string expected = record["answer"].get<std::string>();
    size_t hash = expected.rfind("####");
    if (hash != std::string::npos) expected = expected.substr(hash + 4);
    size_t b = expected.find_first_not_of(" \t\r\n");
    expected = b == std::string::npos ? "" : expected.substr(b);
    while (!expected.empty() && is_space(expected.back())) expected.pop_back();
    res.expected = expected;
    res.kind = kind_of(task, res.expected, lang);
    if (!extract_answer(output, res.extracted)) {
        res.reason = "unterminated <think> block: no answer";
        return res;
    }
    switch (res.kind) {
        case AnswerKind::Number: {
            auto got = parse_numbers(res.extracted, lang);
            auto want = parse_numbers(res.expected, lang);
            if (want.empty())
                fail("gym score: reference answer \"" + res.expected + "\" has no number");
            if (got.empty()) {
                res.reason = "no number in the answer";
                break;
            }
            double a = got.back(), b = want.back();
            res.correct = std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b));
            if (!res.correct) res.reason = "last number differs";
            break;
        }
        case AnswerKind::NumberList:
            res.correct =
                parse_numbers(res.extracted, lang, true) == parse_numbers(res.expected, lang, true);
            if (!res.correct) res.reason = "list of numbers differs";
            break;
        case AnswerKind::Time: {
            int h1, m1, h2, m2;
            if (!last_time(res.expected, h2, m2))
                fail("gym score: reference answer \"" + res.expected + "\" is not a time h:mm");
            if (!last_time(res.extracted, h1, m1)) {
                res.reason = "no time h:mm in the answer";
                break;
            }
            res.correct = h1 == h2 && m1 == m2;
            if (!res.correct) res.reason = "time differs";
            break;
        }
        case AnswerKind::Text:
            res.correct = normalise_text(res.extracted) == normalise_text(res.expected);
            if (!res.correct) res.reason = "text differs";
            break;
    }
    return res;
}

}  // namespace np::data
