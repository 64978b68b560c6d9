// Ordering and counting tasks of the gym: compare two numbers, sort a list, count a letter in a
// word or phrase, count the words of a sentence. Each is asked in many sentence frames and
// answered with a trace that restates the problem on its first line and then takes one visible
// step per line (one digit pair, one pick, one letter, one word).
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/gym_phrasing.h"

namespace np::data::gym {

namespace {

using S = std::string;

// ---- phrasings ----

// Slots {a} {b}: the two numbers, in the order the frame mentions them.
const Phrasings kCompareMax{
    {
        {"max_which",
         false,
         {"Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?",
          "Which is greater, {b} or {a}?", "Which of {a} and {b} is larger?",
          "Is {a} or {b} the bigger number?"}},
        {"max_between",
         false,
         {"Between {a} and {b}, which is greater?", "Between {b} and {a}, which one is bigger?",
          "Out of {a} and {b}, which number is larger?",
          "Of the two numbers {b} and {a}, which is higher?"}},
        {"max_imperative",
         false,
         {"Tell me the larger of {a} and {b}.", "Pick the bigger number: {a}, {b}.",
          "Choose the greater of {b} and {a}.", "Name the larger number out of {a} and {b}."}},
        {"max_maximum",
         true,
         {"What's the maximum of {a} and {b}?", "Find the maximum of {b} and {a}.",
          "Give me the maximum of {a} and {b}."}},
        {"max_context",
         true,
         {"I have two numbers, {a} and {b}. Which one is larger?",
          "Here are two numbers: {b} and {a}. Which is the bigger one?",
          "Looking at {a} and {b}, which would you say is greater?"}},
    },
    {
        {"max_domanda",
         false,
         {"Qual è il maggiore tra {a} e {b}?", "Quale numero è più grande, {a} o {b}?",
          "Quale dei due è più grande, {b} o {a}?", "È più grande {a} o {b}?",
          "Qual è maggiore: {a} o {b}?"}},
        {"max_tra",
         false,
         {"Tra {a} e {b}, qual è il più grande?", "Fra {b} e {a}, qual è il numero maggiore?",
          "Dei due numeri {a} e {b}, qual è il più alto?",
          "Tra i numeri {b} e {a}, quale vale di più?"}},
        {"max_imperativo",
         false,
         {"Dimmi il maggiore fra {a} e {b}.", "Scegli il numero più grande: {a}, {b}.",
          "Indica il più grande tra {b} e {a}.", "Trova il maggiore tra {a} e {b}."}},
        {"max_massimo",
         true,
         {"Qual è il massimo tra {a} e {b}?", "Calcola il massimo di {b} e {a}.",
          "Trova il valore massimo fra {a} e {b}."}},
        {"max_contesto",
         true,
         {"Ho due numeri, {a} e {b}. Qual è il più grande?",
          "Ecco due numeri: {b} e {a}. Qual è il maggiore?",
          "Ci sono due numeri, {a} e {b}: quale è più grande?"}},
    }};

const Phrasings kCompareMin{
    {
        {"min_which",
         false,
         {"Which is smaller, {a} or {b}?", "Which number is smaller: {a} or {b}?",
          "Which is lower, {b} or {a}?", "Which of {a} and {b} is smaller?",
          "Is {a} or {b} the smaller number?"}},
        {"min_between",
         false,
         {"Between {a} and {b}, which is smaller?", "Out of {b} and {a}, which number is lower?",
          "Of the two numbers {a} and {b}, which is less?",
          "Between {b} and {a}, which one is smaller?"}},
        {"min_imperative",
         false,
         {"Pick the smaller number: {a}, {b}.", "Tell me the smaller of {a} and {b}.",
          "Choose the lower of {b} and {a}.", "Name the smaller number out of {a} and {b}."}},
        {"min_minimum",
         true,
         {"What's the minimum of {a} and {b}?", "Find the minimum of {b} and {a}.",
          "Give me the minimum of {a} and {b}."}},
        {"min_context",
         true,
         {"I have two numbers, {a} and {b}. Which one is smaller?",
          "Here are two numbers: {b} and {a}. Which is the smaller one?",
          "Looking at {a} and {b}, which would you say is less?"}},
    },
    {
        {"min_domanda",
         false,
         {"Quale numero è più piccolo, {a} o {b}?", "Qual è il minore tra {a} e {b}?",
          "Quale dei due è più piccolo, {b} o {a}?", "È più piccolo {a} o {b}?",
          "Qual è minore: {a} o {b}?"}},
        {"min_tra",
         false,
         {"Tra {a} e {b}, qual è il più piccolo?", "Fra {b} e {a}, qual è il numero minore?",
          "Dei due numeri {a} e {b}, qual è il più basso?",
          "Tra i numeri {b} e {a}, quale vale di meno?"}},
        {"min_imperativo",
         false,
         {"Dimmi il minore fra {a} e {b}.", "Scegli il numero più piccolo: {a}, {b}.",
          "Indica il più piccolo tra {b} e {a}.", "Trova il minore tra {a} e {b}."}},
        {"min_minimo",
         true,
         {"Qual è il minimo tra {a} e {b}?", "Calcola il minimo di {b} e {a}.",
          "Trova il valore minimo fra {a} e {b}."}},
        {"min_contesto",
         true,
         {"Ho due numeri, {a} e {b}. Qual è il più piccolo?",
          "Ecco due numeri: {b} e {a}. Qual è il minore?",
          "Ci sono due numeri, {a} e {b}: quale è più piccolo?"}},
    }};

// Slot {list}: the numbers as one list string, its style chosen by the generator.
const Phrasings kSortAsc{
    {
        {"asc_imperative",
         false,
         {"Sort these numbers from smallest to largest: {list}.", "Put {list} in ascending order.",
          "Arrange the numbers {list} from lowest to highest.",
          "Order these from smallest to biggest: {list}.", "Sort in increasing order: {list}."}},
        {"asc_question",
         false,
         {"Can you sort {list} in ascending order?", "What is the ascending order of {list}?",
          "How do {list} look when sorted from smallest to largest?",
          "In what order do {list} go, from the smallest up?"}},
        {"asc_list_first",
         false,
         {"{list}: sort them from smallest to largest.",
          "Numbers: {list}. Put them in increasing order.",
          "Here are some numbers: {list}. Sort them in ascending order."}},
        {"asc_context",
         true,
         {"I wrote down {list}. Help me order them from the smallest to the largest.",
          "My scores were {list}; list them from lowest to highest.",
          "The teacher wrote {list} on the board. Put them in ascending order."}},
        {"asc_ranking",
         true,
         {"Rank {list} from the smallest up to the biggest.",
          "List {list} starting with the smallest and ending with the largest."}},
    },
    {
        {"asc_imperativo",
         false,
         {"Ordina questi numeri dal più piccolo al più grande: {list}.",
          "Metti {list} in ordine crescente.", "Disponi i numeri {list} dal minore al maggiore.",
          "Ordina in modo crescente: {list}.", "Riordina dal più piccolo al più grande: {list}."}},
        {"asc_domanda",
         false,
         {"Puoi ordinare {list} in ordine crescente?", "Qual è l'ordine crescente di {list}?",
          "Come si ordinano {list} dal più piccolo al più grande?",
          "In che ordine vanno {list}, partendo dal più piccolo?"}},
        {"asc_lista_prima",
         false,
         {"{list}: ordinali dal più piccolo al più grande.",
          "Numeri: {list}. Mettili in ordine crescente.",
          "Ecco alcuni numeri: {list}. Ordinali in modo crescente."}},
        {"asc_contesto",
         true,
         {"Ho scritto {list}. Aiutami a ordinarli dal più piccolo al più grande.",
          "I miei punteggi sono stati {list}: elencali dal più basso al più alto.",
          "La maestra ha scritto alla lavagna {list}. Mettili in ordine crescente."}},
        {"asc_in_fila",
         true,
         {"Metti in fila {list} partendo dal più piccolo.",
          "Elenca {list} cominciando dal più piccolo e finendo con il più grande."}},
    }};

const Phrasings kSortDesc{
    {
        {"desc_imperative",
         false,
         {"Sort these numbers from largest to smallest: {list}.", "Put {list} in descending order.",
          "Arrange the numbers {list} from highest to lowest.",
          "Order these from biggest to smallest: {list}.", "Sort in decreasing order: {list}."}},
        {"desc_question",
         false,
         {"Can you sort {list} in descending order?", "What is the descending order of {list}?",
          "How do {list} look when sorted from largest to smallest?",
          "In what order do {list} go, from the largest down?"}},
        {"desc_list_first",
         false,
         {"{list}: sort them from largest to smallest.",
          "Numbers: {list}. Put them in decreasing order.",
          "Here are some numbers: {list}. Sort them in descending order."}},
        {"desc_context",
         true,
         {"I wrote down {list}. Help me order them from the largest to the smallest.",
          "My scores were {list}; list them from highest to lowest.",
          "The teacher wrote {list} on the board. Put them in descending order."}},
        {"desc_ranking",
         true,
         {"Rank {list} from the biggest down to the smallest.",
          "List {list} starting with the largest and ending with the smallest."}},
    },
    {
        {"desc_imperativo",
         false,
         {"Ordina questi numeri dal più grande al più piccolo: {list}.",
          "Metti {list} in ordine decrescente.", "Disponi i numeri {list} dal maggiore al minore.",
          "Ordina in modo decrescente: {list}.",
          "Riordina dal più grande al più piccolo: {list}."}},
        {"desc_domanda",
         false,
         {"Puoi ordinare {list} in ordine decrescente?", "Qual è l'ordine decrescente di {list}?",
          "Come si ordinano {list} dal più grande al più piccolo?",
          "In che ordine vanno {list}, partendo dal più grande?"}},
        {"desc_lista_prima",
         false,
         {"{list}: ordinali dal più grande al più piccolo.",
          "Numeri: {list}. Mettili in ordine decrescente.",
          "Ecco alcuni numeri: {list}. Ordinali in modo decrescente."}},
        {"desc_contesto",
         true,
         {"Ho scritto {list}. Aiutami a ordinarli dal più grande al più piccolo.",
          "I miei punteggi sono stati {list}: elencali dal più alto al più basso.",
          "La maestra ha scritto alla lavagna {list}. Mettili in ordine decrescente."}},
        {"desc_in_fila",
         true,
         {"Metti in fila {list} partendo dal più grande.",
          "Elenca {list} cominciando dal più grande e finendo con il più piccolo."}},
    }};

// Slots {l} (the letter) and {w} (one word). Some frames leave the word unquoted, which only
// reads well for a single word; phrases have their own frames, always quoted.
const Phrasings kLettersWord{
    {
        {"word_how_many_times",
         false,
         {"How many times does the letter '{l}' appear in '{w}'?",
          "How many times does {l} appear in the word {w}?",
          "How often does the letter \"{l}\" occur in \"{w}\"?",
          "How many times can you find the letter {l} in \"{w}\"?"}},
        {"word_how_many",
         false,
         {"How many {l}'s are in \"{w}\"?", "How many {l} are there in the word {w}?",
          "How many letters '{l}' does the word '{w}' contain?", "How many {l}'s does {w} have?"}},
        {"word_count",
         false,
         {"Count the {l}'s in {w}.", "Count the letter '{l}' in the word '{w}'.",
          "Count how many times \"{l}\" shows up in \"{w}\".",
          "Tell me how many {l}'s there are in \"{w}\"."}},
        {"word_first",
         true,
         {"In \"{w}\", how often does {l} occur?",
          "The word '{w}': how many times does '{l}' appear in it?",
          "Take the word {w}. How many {l}'s does it have?"}},
        {"word_spelling",
         true,
         {"If you spell {w}, how many times do you write the letter {l}?",
          "When you spell \"{w}\" letter by letter, how many of the letters are {l}'s?"}},
    },
    {
        {"parola_quante_volte",
         false,
         {"Quante volte compare la lettera {l} in {w}?",
          "Quante volte appare la lettera '{l}' nella parola '{w}'?",
          "Quante volte trovi la lettera \"{l}\" in \"{w}\"?",
          "Quante volte c'è la {l} in «{w}»?"}},
        {"parola_quante",
         false,
         {"Quante {l} ci sono nella parola {w}?", "Quante lettere '{l}' contiene la parola '{w}'?",
          "Quante {l} ha «{w}»?", "Quante sono le {l} in \"{w}\"?"}},
        {"parola_conta",
         false,
         {"Conta le {l} nella parola {w}.", "Conta quante volte compare '{l}' in '{w}'.",
          "Dimmi quante {l} ci sono in \"{w}\".", "Conta la lettera «{l}» nella parola «{w}»."}},
        {"parola_prima",
         true,
         {"Nella parola «{w}», quante volte compare la {l}?",
          "Prendi la parola {w}: quante {l} contiene?",
          "\"{w}\": quante volte c'è la lettera {l}?"}},
        {"parola_spelling",
         true,
         {"Se scrivi {w} lettera per lettera, quante volte scrivi la {l}?",
          "Facendo lo spelling di \"{w}\", quante {l} pronunci?"}},
    }};

// Slots {l} and {w} (a phrase of several words).
const Phrasings kLettersPhrase{
    {
        {"phrase_how_many",
         false,
         {"How many times does the letter '{l}' appear in the phrase \"{w}\"?",
          "How many {l}'s are there in \"{w}\"?",
          "In the phrase '{w}', how many times does {l} appear?"}},
        {"phrase_count",
         false,
         {"Count the letter {l} in \"{w}\".", "Count all the {l}'s in the words \"{w}\".",
          "Tell me how often '{l}' occurs in '{w}'."}},
        {"phrase_context",
         true,
         {"Someone wrote \"{w}\" on a note. How many {l}'s did they write?",
          "Looking at the words \"{w}\", how many times is the letter {l} used?"}},
    },
    {
        {"frase_quante",
         false,
         {"Quante volte compare la lettera '{l}' nella frase \"{w}\"?",
          "Quante {l} ci sono in «{w}»?", "Nella frase '{w}', quante volte appare la {l}?"}},
        {"frase_conta",
         false,
         {"Conta la lettera {l} in \"{w}\".", "Conta tutte le {l} nelle parole «{w}».",
          "Dimmi quante volte compare '{l}' in '{w}'."}},
        {"frase_contesto",
         true,
         {"Qualcuno ha scritto «{w}» su un biglietto. Quante {l} ha scritto?",
          "Guardando le parole \"{w}\", quante volte è usata la lettera {l}?"}},
    }};

// Slot {s}: the sentence, capitalised, without a final mark.
const Phrasings kWordCount{
    {
        {"how_many_words",
         false,
         {"How many words are in the sentence \"{s}\"?", "How many words does \"{s}\" have?",
          "How many words are there in '{s}'?", "How many words make up the sentence \"{s}\"?",
          "How many words does the sentence '{s}' contain?",
          "How many words can you count in \"{s}\"?", "How many words are in this sentence: {s}?"}},
        {"count_words",
         false,
         {"Count the words in \"{s}\".", "Count how many words this sentence has: {s}.",
          "Count the words of the sentence '{s}'.", "Tell me how many words are in \"{s}\".",
          "Please count the words: \"{s}\"."}},
        {"number_of_words",
         false,
         {"What is the number of words in \"{s}\"?", "Give the word count of '{s}'.",
          "What's the word count of the sentence \"{s}\"?",
          "Find the number of words in \"{s}\"."}},
        {"sentence_first",
         true,
         {"\"{s}\" - how many words is that?", "{s}. How many words are in that sentence?",
          "'{s}': count its words.", "\"{s}\": how many words does it have?"}},
        {"words_context",
         true,
         {"My friend wrote \"{s}\". How many words did she write?",
          "A child read \"{s}\" aloud. How many words did he read?",
          "On the board it says '{s}'. How many words is that?"}},
    },
    {
        {"quante_parole",
         false,
         {"Quante parole ci sono nella frase \"{s}\"?", "Quante parole ha la frase «{s}»?",
          "Quante parole contiene \"{s}\"?", "Di quante parole è fatta la frase '{s}'?",
          "Quante parole compongono la frase «{s}»?", "Quante parole riesci a contare in \"{s}\"?",
          "Quante parole ci sono in questa frase: {s}?"}},
        {"conta_parole",
         false,
         {"Conta le parole in \"{s}\".", "Conta quante parole ha questa frase: {s}.",
          "Conta le parole della frase «{s}».", "Dimmi quante parole ci sono in \"{s}\".",
          "Per favore, conta le parole: '{s}'."}},
        {"numero_parole",
         false,
         {"Qual è il numero di parole in \"{s}\"?", "Dammi il numero di parole di «{s}».",
          "Quante sono le parole della frase '{s}'?", "Trova il numero di parole in \"{s}\"."}},
        {"frase_prima",
         true,
         {"«{s}»: quante parole sono?", "{s}. Quante parole ci sono in questa frase?",
          "\"{s}\": contane le parole.", "'{s}' - di quante parole è composta?"}},
        {"parole_contesto",
         true,
         {"Il mio amico ha scritto \"{s}\". Quante parole ha scritto?",
          "Un bambino ha letto ad alta voce «{s}». Quante parole ha letto?",
          "Sulla lavagna c'è scritto '{s}'. Quante parole sono?"}},
    }};

// ---- compare ----

// The longer number has d digits; 60% share the length and a prefix of 1..d-1 digits, so the
// comparison has to look past the first digits. Trace:
//   max(487,485)      numbers in the order the question mentions them
//   4=4               digit pairs from the left, until the first that differs
//   8=8
//   7>5
//   487
// or, for different lengths, one line comparing the digit counts: "4>3 digits".
GymRecord compare_gen(Ctx& c) {
    const int n = c.d;
    int64_t a = with_digits(c.r, n), b = 0;
    if (n >= 2 && c.r.chance(0.6)) {
        const int keep = int(c.r.range(1, n - 1));
        const int64_t p = pow10(n - keep);
        do b = a / p * p + c.r.range(0, p - 1);
        while (b == a);
    } else {
        do b = with_digits(c.r, int(c.r.range(std::max(1, n - 2), n)));
        while (b == a);
    }
    if (c.r.chance(0.5)) std::swap(a, b);
    const bool want_max = c.r.chance(0.5);
    const S qa = c.num(a), qb = c.num(b);
    std::string_view frame;
    GymRecord g;
    g.question = c.ask(want_max ? kCompareMax : kCompareMin, {{"a", qa}, {"b", qb}}, frame);
    if (frame.find("{b}") < frame.find("{a}")) std::swap(a, b);
    const S x = str(a), y = str(b);
    const int64_t pick = want_max ? std::max(a, b) : std::min(a, b);
    S t = S(want_max ? "max(" : "min(") + x + "," + y + ")";
    if (x.size() != y.size()) {
        t += "\n" + str(int64_t(x.size())) + (x.size() > y.size() ? ">" : "<") +
             str(int64_t(y.size())) + " digits";
    } else {
        for (size_t i = 0; i < x.size(); ++i) {
            t += "\n";
            t += x[i];
            t += x[i] == y[i] ? '=' : x[i] > y[i] ? '>' : '<';
            t += y[i];
            if (x[i] != y[i]) break;
        }
    }
    t += "\n" + str(pick);
    g.thinking = t;
    g.answer = str(pick);
    return g;
}

// ---- sort ----

// The numbers as the question lists them: "a, b, c", "a, b and c" ("e" in Italian) or "a; b; c".
// An English list with a thousands separator ("5,319") is written with semicolons, so that every
// comma in it separates thousands or items unambiguously ("2; 5,319; 9" and not "2, 5,319, 9").
S list_text(Ctx& c, const std::vector<int64_t>& v) {
    int style = int(c.r.range(0, 2));
    std::vector<S> parts;
    for (int64_t x : v) {
        parts.push_back(c.num(x));
        if (!c.it && parts.back().find(',') != S::npos) style = 2;
    }
    S s;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) {
            if (style == 2)
                s += "; ";
            else if (style == 1 && i + 1 == parts.size())
                s += c.L(" and ", " e ");
            else
                s += ", ";
        }
        s += parts[i];
    }
    return s;
}

S joined(const std::vector<int64_t>& v, const char* sep) {
    S s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + str(v[i]);
    return s;
}

// d+2 distinct numbers of 1..d+1 digits. Trace: selection sort, one pick per line from the
// numbers still left (kept in question order), then the picks in order:
//   asc(42,7,19,3)
//   min(42,7,19,3)=3
//   min(42,7,19)=7
//   min(42,19)=19
//   min(42)=42
//   3,7,19,42
// The one-number pick closes the run so that the last line just collects what follows each "=".
GymRecord sort_gen(Ctx& c) {
    const size_t count = size_t(c.d) + 2;
    std::vector<int64_t> v;
    while (v.size() < count) {
        const int64_t x = with_digits(c.r, int(c.r.range(1, c.d + 1)));
        if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    }
    const bool asc = c.r.chance(0.5);
    GymRecord g;
    g.question = c.ask(asc ? kSortAsc : kSortDesc, {{"list", list_text(c, v)}});
    const S op = asc ? "min(" : "max(";
    S t = S(asc ? "asc(" : "desc(") + joined(v, ",") + ")";
    std::vector<int64_t> rest = v, out;
    while (!rest.empty()) {
        const auto it = asc ? std::min_element(rest.begin(), rest.end())
                            : std::max_element(rest.begin(), rest.end());
        t += "\n" + op + joined(rest, ",") + ")=" + str(*it);
        out.push_back(*it);
        rest.erase(it);
    }
    t += "\n" + joined(out, ",");
    g.thinking = t;
    g.answer = joined(out, ", ");
    return g;
}

// ---- letters ----

// Lower-case ASCII only (no accented Italian words), so that letters and traces stay plain.
const std::vector<S>& letter_words(bool it) {
    static const std::vector<S> en = {
        "strawberry", "banana",     "mississippi", "elephant",     "letter",    "committee",
        "balloon",    "bookkeeper", "apple",       "window",       "garden",    "pepper",
        "coffee",     "giraffe",    "mountain",    "assessment",   "butterfly", "river",
        "success",    "address",    "yellow",      "teacher",      "necessary", "keyboard",
        "parallel",   "tomorrow",   "umbrella",    "programming",  "sheep",     "accommodation",
        "cat",        "dog",        "book",        "tree",         "moon",      "pizza",
        "cookie",     "rabbit",     "kitten",      "puzzle",       "bottle",    "summer",
        "little",     "orange",     "school",      "cherry",       "tomato",    "potato",
        "coconut",    "chocolate",  "dinosaur",    "hippopotamus", "sun",       "egg",
        "bee",        "ball",       "door",        "grass",        "zebra",     "queen"};
    static const std::vector<S> itw = {
        "fragola",    "banana",      "cappello",   "mozzarella", "ragazzo",    "pappagallo",
        "settembre",  "caramella",   "ombrello",   "bicicletta", "farfalla",   "cioccolato",
        "montagna",   "finestra",    "giardino",   "gelato",     "pomodoro",   "spaghetti",
        "tartaruga",  "coccodrillo", "matematica", "scuola",     "lavagna",    "zucchero",
        "biblioteca", "carrozza",    "anatra",     "telefono",   "mattina",    "sassofono",
        "gatto",      "cane",        "mela",       "pane",       "sole",       "luna",
        "casa",       "pizza",       "palla",      "nonna",      "carota",     "limone",
        "uccello",    "tazza",       "torre",      "pesca",      "rana",       "stella",
        "mare",       "libro",       "albero",     "cassetto",   "ippopotamo", "arancia",
        "ciliegia",   "quaderno",    "zaino",      "bottiglia",  "orologio",   "coniglio"};
    return it ? itw : en;
}

// d=1: a word of up to 6 letters; d=2: any word; d>=3: a phrase of min(d-1, 6) distinct words.
// The letter occurs in the text 85% of the time. Trace: every letter followed by the running
// count, one line per word, then the count:
//   count(r,strawberry)
//   s0 t0 r1 a1 w1 b1 e1 r2 r3 y3
//   3
GymRecord letters_gen(Ctx& c) {
    const size_t n_words = c.d <= 2 ? 1 : size_t(std::min(c.d - 1, 6));
    std::vector<S> ws;
    while (ws.size() < n_words) {
        const S& w = c.r.pick(letter_words(c.it));
        if (c.d == 1 && w.size() > 6) continue;
        if (std::find(ws.begin(), ws.end(), w) == ws.end()) ws.push_back(w);
    }
    S all, phrase;
    for (const S& w : ws) {
        all += w;
        phrase += (phrase.empty() ? "" : " ") + w;
    }
    S absent;
    for (char ch = 'a'; ch <= 'z'; ++ch)
        if (all.find(ch) == S::npos) absent += ch;
    const bool present = absent.empty() || c.r.chance(0.85);
    const S& from = present ? all : absent;
    const char letter = from[size_t(c.r.next() % from.size())];
    GymRecord g;
    g.question =
        c.ask(ws.size() == 1 ? kLettersWord : kLettersPhrase, {{"l", S(1, letter)}, {"w", phrase}});
    S t = S("count(") + letter + "," + phrase + ")";
    int64_t k = 0;
    for (const S& w : ws) {
        t += "\n";
        for (size_t i = 0; i < w.size(); ++i) {
            if (w[i] == letter) ++k;
            t += (i ? " " : "") + S(1, w[i]) + str(k);
        }
    }
    t += "\n" + str(k);
    g.thinking = t;
    g.answer = str(k);
    return g;
}

// ---- word count ----

// Vocabulary of the sentences: singular subjects, present tense, one clause shape
//   subject verb [object] [place] [adverb]
// Italian nouns all take il/un or la/una (no elision), adjectives follow the noun and agree.
struct Noun {
    const char* w;
    bool f;  // Italian feminine
};
struct Adj {
    const char* m;
    const char* f;
};
struct Place {
    const char* prep;  // English preposition, or Italian articulated one (nel, sulla...)
    Noun n;
};
struct Lexicon {
    std::vector<const char*> names;
    std::vector<Noun> beings, things;
    std::vector<Adj> adjs;
    std::vector<const char*> trans, intrans, advs;
    std::vector<Place> places;
    int pp_short;  // words in a place phrase without adjective
};

const Lexicon& lexicon(bool it) {
    static const Lexicon en{{"Anna", "Tom", "Sara", "Leo", "Mia", "Ben", "Emma", "Jack"},
                            {{"cat", false},
                             {"dog", false},
                             {"boy", false},
                             {"girl", false},
                             {"teacher", false},
                             {"farmer", false},
                             {"bird", false},
                             {"horse", false},
                             {"baker", false},
                             {"doctor", false},
                             {"rabbit", false},
                             {"child", false}},
                            {{"book", false},
                             {"apple", false},
                             {"ball", false},
                             {"letter", false},
                             {"cake", false},
                             {"kite", false},
                             {"hat", false},
                             {"box", false},
                             {"picture", false},
                             {"flower", false}},
                            {{"big", ""},
                             {"small", ""},
                             {"little", ""},
                             {"old", ""},
                             {"new", ""},
                             {"red", ""},
                             {"white", ""},
                             {"black", ""},
                             {"brown", ""},
                             {"yellow", ""},
                             {"pretty", ""},
                             {"tiny", ""}},
                            {"sees", "finds", "carries", "wants", "paints", "holds", "takes",
                             "watches", "likes", "draws"},
                            {"sleeps", "runs", "sings", "plays", "laughs", "jumps", "waits",
                             "walks", "dances", "smiles"},
                            {"today", "again", "slowly", "quietly", "happily", "now", "tonight",
                             "carefully", "outside"},
                            {{"in", {"park", false}},
                             {"in", {"garden", false}},
                             {"in", {"kitchen", false}},
                             {"on", {"sofa", false}},
                             {"on", {"table", false}},
                             {"near", {"river", false}},
                             {"by", {"window", false}},
                             {"under", {"tree", false}},
                             {"behind", {"house", false}}},
                            3};
    static const Lexicon itl{
        {"Giulia", "Marco", "Sofia", "Luca", "Chiara", "Paolo", "Marta", "Matteo"},
        {{"gatto", false},
         {"cane", false},
         {"ragazzo", false},
         {"bambino", false},
         {"maestro", false},
         {"cavallo", false},
         {"nonno", false},
         {"ragazza", true},
         {"bambina", true},
         {"maestra", true},
         {"mucca", true},
         {"gallina", true}},
        {{"libro", false},
         {"panino", false},
         {"fiore", false},
         {"regalo", false},
         {"cappello", false},
         {"pallone", false},
         {"mela", true},
         {"palla", true},
         {"torta", true},
         {"lettera", true},
         {"borsa", true},
         {"bambola", true}},
        {{"piccolo", "piccola"},
         {"grande", "grande"},
         {"nuovo", "nuova"},
         {"vecchio", "vecchia"},
         {"bianco", "bianca"},
         {"nero", "nera"},
         {"rosso", "rossa"},
         {"giallo", "gialla"},
         {"bello", "bella"},
         {"marrone", "marrone"}},
        {"vede", "guarda", "cerca", "trova", "porta", "prende", "disegna", "vuole", "tiene",
         "segue"},
        {"dorme", "corre", "canta", "gioca", "ride", "salta", "aspetta", "cammina", "balla",
         "mangia"},
        {"oggi", "spesso", "ancora", "lentamente", "volentieri", "adesso", "stasera",
         "tranquillamente", "sempre"},
        {{"nel", {"parco", false}},
         {"nel", {"giardino", false}},
         {"nella", {"cucina", true}},
         {"sul", {"divano", false}},
         {"sul", {"tavolo", false}},
         {"sul", {"prato", false}},
         {"nella", {"stanza", true}},
         {"sulla", {"sedia", true}},
         {"nel", {"bosco", false}}},
        2};
    return it ? itl : en;
}

// A noun phrase of `words` words (1: a name; 2: article and noun; 3: with an adjective).
S noun_phrase(Ctx& c, const Lexicon& lx, const std::vector<Noun>& nouns, int words) {
    if (words == 1) return c.r.pick(lx.names);
    const Noun& n = c.r.pick(nouns);
    const bool definite = c.r.chance(0.5);
    if (c.it) {
        S np = S(definite ? (n.f ? "la " : "il ") : (n.f ? "una " : "un ")) + n.w;
        if (words == 3) {
            const Adj& a = c.r.pick(lx.adjs);
            np += S(" ") + (n.f ? a.f : a.m);
        }
        return np;
    }
    S rest = n.w;
    if (words == 3) rest = S(c.r.pick(lx.adjs).m) + " " + rest;
    if (definite) return "the " + rest;
    return (S("aeiou").find(rest[0]) == S::npos ? "a " : "an ") + rest;
}

// A clause of exactly k words (2 <= k <= the longest shape): the shape is drawn uniformly among
// those of k words.
S clause(Ctx& c, const Lexicon& lx, int k) {
    struct Shape {
        int subj, obj, pp, adv;
    };
    std::vector<Shape> shapes;
    for (int s = 1; s <= 3; ++s)
        for (int o = 0; o <= 3; ++o)
            for (int p : {0, lx.pp_short, lx.pp_short + 1})
                for (int a = 0; a <= 1; ++a)
                    if (s + 1 + o + p + a == k) shapes.push_back({s, o, p, a});
    if (shapes.empty()) fail("gym word_count: no clause of " + str(k) + " words");
    const Shape sh = c.r.pick(shapes);
    S out = noun_phrase(c, lx, lx.beings, sh.subj);
    if (sh.obj) {
        out += S(" ") + c.r.pick(lx.trans);
        std::vector<Noun> objs = lx.things;
        objs.insert(objs.end(), lx.beings.begin(), lx.beings.end());
        out += " " + noun_phrase(c, lx, objs, sh.obj);
    } else {
        out += S(" ") + c.r.pick(lx.intrans);
    }
    if (sh.pp) {
        const Place& pl = c.r.pick(lx.places);
        const bool adj = sh.pp > lx.pp_short;
        if (c.it) {
            out += S(" ") + pl.prep + " " + pl.n.w;
            if (adj) {
                const Adj& a = c.r.pick(lx.adjs);
                out += S(" ") + (pl.n.f ? a.f : a.m);
            }
        } else {
            out += S(" ") + pl.prep + " the ";
            if (adj) out += S(c.r.pick(lx.adjs).m) + " ";
            out += pl.n.w;
        }
    }
    if (sh.adv) out += S(" ") + c.r.pick(lx.advs);
    return out;
}

// A sentence of min(d+2, 14) words: one clause, or two joined by "and" / "e" (always from 11
// words, sometimes from 7). Trace: the sentence, then one numbered word per line, then the count:
//   words(The cat sees a dog)
//   1 The
//   2 cat
//   ...
//   5 dog
//   5
GymRecord word_count_gen(Ctx& c) {
    const int n = std::min(c.d + 2, 14);
    const Lexicon& lx = lexicon(c.it);
    S s;
    if (n >= 7 && (n > 10 || c.r.chance(0.3))) {
        const int k1 = int(c.r.range(2, n - 3));
        s = clause(c, lx, k1);
        s += c.L(" and ", " e ") + clause(c, lx, n - 1 - k1);
    } else {
        s = clause(c, lx, n);
    }
    s[0] = char(std::toupper((unsigned char)s[0]));
    GymRecord g;
    g.question = c.ask(kWordCount, {{"s", s}});
    S t = "words(" + s + ")";
    int64_t k = 0;
    for (size_t i = 0; i < s.size();) {
        const size_t e = std::min(s.find(' ', i), s.size());
        t += "\n" + str(++k) + " " + s.substr(i, e - i);
        i = e + 1;
    }
    t += "\n" + str(k);
    g.thinking = t;
    g.answer = str(k);
    return g;
}

}  // namespace

std::vector<TaskDef> ordering_tasks() {
    return {
        {"compare",
         compare_gen,
         {&kCompareMax, &kCompareMin},
         "the longer number has d digits",
         AnswerKind::Number},
        {"sort",
         sort_gen,
         {&kSortAsc, &kSortDesc},
         "d+2 distinct numbers of 1 to d+1 digits",
         AnswerKind::NumberList},
        {"letters",
         letters_gen,
         {&kLettersWord, &kLettersPhrase},
         "d=1: a word of up to 6 letters; d=2: any word; d>=3: a phrase of min(d-1, 6) words",
         AnswerKind::Number},
        {"word_count",
         word_count_gen,
         {&kWordCount},
         "a sentence of min(d+2, 14) words",
         AnswerKind::Number},
    };
}

}  // namespace np::data::gym
