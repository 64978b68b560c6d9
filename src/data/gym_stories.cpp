// Word problems of the gym: money left after shopping, a clock after some durations, ages from
// chained relations, stock after sales and deliveries, amounts converted between units. Each story
// is told in several sentence styles and asked in many sentence frames; the trace restates it as
// a formula on the first line ("45-3*4-2*5", "(7+5)*2+3", "9:35+1h20m+45m"), so the model's first
// job is the translation, then evaluates that formula one operation per line.
#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/gym_phrasing.h"

namespace np::data::gym {

namespace {

using S = std::string;

// Appends a trace line: a newline, then the parts.
void add_line(S& trace, std::initializer_list<std::string_view> parts) {
    trace += '\n';
    for (std::string_view p : parts) trace += p;
}

// ---- the formula a story restates as, and its one-operation-per-line evaluation ----

// One step applied to the running value: op ('+', '-', '*') with operand a, or with the product
// a*b when b > 0 ("+2*12": two more boxes of twelve). '*' only multiplies the running value.
struct Step {
    char op;
    int64_t a, b = 0;
};

struct Chain {
    int64_t start = 0, start_by = 0;  // start_by > 0: the chain starts from start*start_by
    std::vector<Step> steps;

    // "45-3*4-2*5", "(7+5)*2+3": a running-value product wraps what came before in parentheses
    // when it holds a sum, so the formula means what the lines compute.
    S formula() const {
        S f = str(start);
        if (start_by) f += '*' + str(start_by);
        bool has_sum = false;
        for (const Step& s : steps) {
            if (s.op == '*') {
                if (has_sum) f.insert(0, "(") += ")";
                f += '*' + str(s.a);
                has_sum = false;
                continue;
            }
            f += s.op;
            f += str(s.a);
            if (s.b) f += '*' + str(s.b);
            has_sum = true;
        }
        return f;
    }
    // The formula's lines: each product of a term first ("2*12=24"), then the step ("53+24=77").
    int64_t evaluate(S& trace) const {
        int64_t v = start;
        if (start_by) {
            v = start * start_by;
            add_line(trace, {str(start), "*", str(start_by), "=", str(v)});
        }
        for (const Step& s : steps) {
            int64_t x = s.a;
            if (s.b) {
                x = s.a * s.b;
                add_line(trace, {str(s.a), "*", str(s.b), "=", str(x)});
            }
            const int64_t next = s.op == '+' ? v + x : s.op == '-' ? v - x : v * x;
            add_line(trace, {str(v), std::string_view(&s.op, 1), str(x), "=", str(next)});
            v = next;
        }
        return v;
    }
};

GymRecord from_chain(S question, const Chain& c) {
    GymRecord g;
    g.question = std::move(question);
    g.thinking = c.formula();
    g.answer = str(c.evaluate(g.thinking));
    return g;
}

// " and " / ", " list joining in either language.
S join_list(const std::vector<S>& parts, bool it) {
    S s;
    for (size_t i = 0; i < parts.size(); ++i)
        s += (i == 0 ? "" : i + 1 == parts.size() ? (it ? " e " : " and ") : ", ") + parts[i];
    return s;
}

struct Person {
    S name;
    bool female;
};
// Italian names start with a consonant so that frames may write "a {who}" (not "ad Anna").
const std::vector<Person>& people(bool it) {
    static const std::vector<Person> en = {{"Anna", true},   {"Tom", false},  {"Sara", true},
                                           {"James", false}, {"Emma", true},  {"Leo", false},
                                           {"Mia", true},    {"Jack", false}, {"Lucy", true},
                                           {"Ben", false},   {"Nora", true},  {"Omar", false}};
    static const std::vector<Person> itp = {
        {"Giulia", true}, {"Marco", false},   {"Sofia", true}, {"Luca", false},
        {"Chiara", true}, {"Paolo", false},   {"Marta", true}, {"Matteo", false},
        {"Lucia", true},  {"Giorgio", false}, {"Nadia", true}, {"Davide", false}};
    return it ? itp : en;
}

// k distinct people.
std::vector<Person> cast(Ctx& c, int k) {
    std::vector<Person> out;
    while (int(out.size()) < k) {
        const Person& p = c.r.pick(people(c.it));
        if (std::none_of(out.begin(), out.end(), [&](const Person& q) { return q.name == p.name; }))
            out.push_back(p);
    }
    return out;
}

// ---- word_money: money left after buying d kinds of item ----

// Slots {who}, {has} (the money at the start), {buys} (what is bought, with unit prices).
const Phrasings kMoney{
    {
        {"money_left",
         false,
         {"{who} has {has}. {who} buys {buys}. How much money does {who} have left?",
          "{who} has {has} and buys {buys}. How much money is left?",
          "{who} had {has}, then bought {buys}. How much money remains?",
          "{who} has {has} in the wallet. After buying {buys}, how much is left?",
          "{who} goes shopping with {has} and buys {buys}. How much money is left over?",
          "{who} starts the day with {has} and buys {buys}. How much is left at the end?"}},
        {"money_change",
         false,
         {"{who} pays with {has} for {buys}. How much change does {who} get?",
          "{who} buys {buys} and pays with {has}. What is the change?",
          "{who} hands over {has} to pay for {buys}. How much change comes back?",
          "At the shop, {who} buys {buys}, paying with {has}. How much change is due?",
          "{who} gives the cashier {has} for {buys}. How much change should {who} receive?"}},
        {"money_budget",
         false,
         {"{who} has a budget of {has} and buys {buys}. How much of the budget is left?",
          "With a budget of {has}, {who} buys {buys}. What remains of the budget?",
          "{who}'s budget is {has}. The shopping list is {buys}. How much will be left?",
          "{who} saved {has} and spends part of it on {buys}. How much is still saved?",
          "{who} may spend {has} and buys {buys}. How much is unspent?"}},
        {"money_story",
         false,
         {"Yesterday {who} got {has} as a gift and bought {buys}. How much of the gift is left?",
          "{who} earned {has} this week and used it to buy {buys}. How much money is left?",
          "{who} takes {has} to the market and buys {buys}. How much money comes back home?",
          "{who} found {has} in an old jacket and bought {buys}. How much is left now?"}},
        {"money_question_first",
         true,
         {"How much money does {who} have left after buying {buys} with {has}?",
          "How much is left if {who} has {has} and buys {buys}?",
          "What remains of {has} once {who} has bought {buys}?",
          "How much change does {who} get from {has} after buying {buys}?"}},
        {"money_terse",
         true,
         {"{who}: {has}. Bought: {buys}. Left?",
          "Start: {has}. Purchases by {who}: {buys}. Remaining money?",
          "Wallet of {who}: {has}; purchases: {buys}. How much is left?"}},
    },
    {
        {"soldi_restano",
         false,
         {"{who} ha {has}. Compra {buys}. Quanti soldi restano a {who}?",
          "{who} ha {has} e compra {buys}. Quanti soldi restano?",
          "{who} aveva {has}, poi ha comprato {buys}. Quanti soldi rimangono?",
          "{who} ha {has} nel portafoglio. Dopo aver comprato {buys}, quanto resta?",
          "{who} va a fare la spesa con {has} e compra {buys}. Quanti soldi avanzano?",
          "{who} inizia la giornata con {has} e compra {buys}. Quanto resta alla fine?"}},
        {"soldi_resto",
         false,
         {"{who} paga {buys} con {has}. Quanto riceve di resto?",
          "{who} compra {buys} e paga con {has}. Qual è il resto?",
          "{who} dà {has} alla cassa per {buys}. Quanto resto torna indietro?",
          "Al negozio {who} compra {buys} pagando con {has}. Quanto resto spetta a {who}?",
          "{who} consegna {has} al cassiere per {buys}. Quanto deve ricevere di resto?"}},
        {"soldi_budget",
         false,
         {"{who} ha un budget di {has} e compra {buys}. Quanto resta del budget?",
          "Con un budget di {has}, {who} compra {buys}. Cosa rimane del budget?",
          "Il budget di {who} è {has}. La lista della spesa è {buys}. Quanto avanzerà?",
          "{who} ha risparmiato {has} e ne spende una parte per {buys}. Quanto resta dei "
          "risparmi?",
          "{who} può spendere {has} e compra {buys}. Quanto non viene speso?"}},
        {"soldi_storia",
         false,
         {"Ieri {who} ha ricevuto {has} in regalo e ha comprato {buys}. Quanto resta del regalo?",
          "{who} ha guadagnato {has} questa settimana e ha comprato {buys}. Quanti soldi restano?",
          "{who} porta {has} al mercato e compra {buys}. Quanti soldi riporta a casa?",
          "{who} ha trovato {has} in una vecchia giacca e ha comprato {buys}. Quanto resta "
          "adesso?"}},
        {"soldi_domanda_prima",
         true,
         {"Quanti soldi restano a {who} dopo aver comprato {buys} con {has}?",
          "Quanto resta se {who} ha {has} e compra {buys}?",
          "Cosa rimane di {has} dopo che {who} ha comprato {buys}?",
          "Quanto resto riceve {who} da {has} dopo aver comprato {buys}?"}},
        {"soldi_telegrafico",
         true,
         {"{who}: {has}. Acquisti: {buys}. Resto?",
          "Inizio: {has}. Acquisti di {who}: {buys}. Soldi rimasti?",
          "Portafoglio di {who}: {has}; acquisti: {buys}. Quanto resta?"}},
    }};

struct Goods {
    S en_many, it_many;
    bool it_female;
};

S money(Ctx& c, int64_t v) {
    if (c.it) return c.r.chance(0.7) ? c.num(v) + " euro" : "€" + c.num(v);
    return c.r.chance(0.75) ? "$" + c.num(v) : c.num(v) + " dollars";
}

GymRecord word_money(Ctx& c) {
    static const std::vector<Goods> goods = {
        {"notebooks", "quaderni", false}, {"pens", "penne", true},
        {"books", "libri", false},        {"sandwiches", "panini", false},
        {"tickets", "biglietti", false},  {"apples", "mele", true},
        {"t-shirts", "magliette", true},  {"candles", "candele", true},
        {"postcards", "cartoline", true}, {"mugs", "tazze", true},
        {"batteries", "batterie", true},  {"comics", "fumetti", false}};
    const int kinds = std::min(c.d, 6);
    std::vector<size_t> chosen;
    while (int(chosen.size()) < kinds) {
        const size_t k = size_t(c.r.next() % goods.size());
        if (std::find(chosen.begin(), chosen.end(), k) == chosen.end()) chosen.push_back(k);
    }
    Chain ch;
    std::vector<S> parts;
    int64_t spent = 0;
    const int style = int(c.r.range(0, 2));
    for (size_t k : chosen) {
        const int64_t q = c.r.range(2, std::min(c.d + 3, 9)), p = c.r.range(1, 5 * c.d + 5);
        spent += q * p;
        ch.steps.push_back({'-', q, p});
        const Goods& g = goods[k];
        const S price = money(c, p);
        if (c.it)
            parts.push_back(str(q) + " " + g.it_many +
                            (style == 0 ? " a " + price + (g.it_female ? " l'una" : " l'uno")
                             : style == 1
                                 ? " da " + price
                                 : " a " + price + " ciascun" + (g.it_female ? "a" : "o")));
        else
            parts.push_back(str(q) + " " + g.en_many +
                            (style == 0   ? " at " + price + " each"
                             : style == 1 ? " costing " + price + " each"
                                          : " for " + price + " apiece"));
    }
    ch.start = (spent + c.r.range(0, 10 * c.d)) / 5 * 5 + 5;
    const Person who = c.r.pick(people(c.it));
    return from_chain(
        c.ask(kMoney,
              {{"who", who.name}, {"has", money(c, ch.start)}, {"buys", join_list(parts, c.it)}}),
        ch);
}

// ---- word_time: a clock time after d durations ----

// Slots {start} (h:mm), {legs} (the durations, in order); some frames also name {who}.
const Phrasings kTime{
    {
        {"time_journey",
         false,
         {"A train leaves at {start} and travels for {legs}. At what time does it arrive?",
          "A bus departs at {start}. The trip takes {legs}. When does it arrive?",
          "The ferry leaves at {start} and sails for {legs}. What time does it reach port?",
          "A flight takes off at {start} and is in the air for {legs}. At what time does it land?",
          "{who} leaves home at {start} and walks for {legs}. What time does {who} arrive?"}},
        {"time_activity",
         false,
         {"A film starts at {start} and runs for {legs}. When does it end?",
          "{who} starts studying at {start} and studies for {legs}. At what time does {who} stop?",
          "The meeting begins at {start} and lasts {legs}. What time does it finish?",
          "A cake goes in the oven at {start} and bakes for {legs}. When is it ready?",
          "{who} begins a game at {start} and plays for {legs}. What time is it when the game "
          "ends?",
          "The concert starts at {start}. It lasts {legs}. When is it over?"}},
        {"time_clock",
         false,
         {"It is {start}. What time will it be after {legs}?",
          "The clock shows {start}. What will it show after {legs}?",
          "Starting at {start}, what time is it after {legs}?",
          "If it is {start} now, what time is it after {legs}?",
          "Add {legs} to {start}. What time do you get?"}},
        {"time_chores",
         false,
         {"{who} puts the laundry on at {start}; it takes {legs}. At what time is it done?",
          "Roadworks start at {start} and go on for {legs}. When do they stop?",
          "The shop opens at {start} and stays open for {legs}. When does it close?",
          "{who} falls asleep at {start} and sleeps for {legs}. At what time does {who} wake up?"}},
        {"time_question_first",
         true,
         {"At what time does a train arrive if it leaves at {start} and travels for {legs}?",
          "What time is it {legs} after {start}?",
          "When does a film end that starts at {start} and runs for {legs}?",
          "What time will the clock show {legs} after {start}?"}},
        {"time_terse",
         true,
         {"Start {start}, duration {legs}. End time?",
          "Departure {start}; travel time {legs}. Arrival?",
          "From {start}, {legs} pass. Time now?"}},
    },
    {
        {"tempo_viaggio",
         false,
         {"Un treno parte alle {start} e viaggia per {legs}. A che ora arriva?",
          "Un autobus parte alle {start}. Il viaggio dura {legs}. Quando arriva?",
          "Il traghetto salpa alle {start} e naviga per {legs}. A che ora arriva in porto?",
          "Un aereo decolla alle {start} e vola per {legs}. A che ora atterra?",
          "{who} esce di casa alle {start} e cammina per {legs}. A che ora arriva?"}},
        {"tempo_attivita",
         false,
         {"Un film inizia alle {start} e dura {legs}. Quando finisce?",
          "{who} inizia a studiare alle {start} e studia per {legs}. A che ora smette?",
          "La riunione comincia alle {start} e dura {legs}. A che ora finisce?",
          "Una torta entra in forno alle {start} e cuoce per {legs}. Quando è pronta?",
          "{who} inizia una partita alle {start} e gioca per {legs}. Che ore sono quando la "
          "partita finisce?",
          "Il concerto inizia alle {start}. Dura {legs}. Quando finisce?"}},
        {"tempo_orologio",
         false,
         {"Sono le {start}. Che ore saranno dopo {legs}?",
          "L'orologio segna le {start}. Cosa segnerà dopo {legs}?",
          "Partendo dalle {start}, che ore sono dopo {legs}?",
          "Se adesso sono le {start}, che ore sono dopo {legs}?",
          "Aggiungi {legs} alle {start}. Che ora ottieni?"}},
        {"tempo_faccende",
         false,
         {"{who} avvia la lavatrice alle {start}; il lavaggio dura {legs}. A che ora finisce?",
          "I lavori in strada iniziano alle {start} e vanno avanti per {legs}. Quando si fermano?",
          "Il negozio apre alle {start} e resta aperto per {legs}. Quando chiude?",
          "{who} si addormenta alle {start} e dorme per {legs}. A che ora si sveglia?"}},
        {"tempo_domanda_prima",
         true,
         {"A che ora arriva un treno che parte alle {start} e viaggia per {legs}?",
          "Che ore sono {legs} dopo le {start}?",
          "Quando finisce un film che inizia alle {start} e dura {legs}?",
          "Che ora segnerà l'orologio {legs} dopo le {start}?"}},
        {"tempo_telegrafico",
         true,
         {"Inizio {start}, durata {legs}. Ora di fine?",
          "Partenza {start}; tempo di viaggio {legs}. Arrivo?",
          "Dalle {start} passano {legs}. Che ore sono?"}},
    }};

S clock(int64_t minutes) {
    minutes %= 24 * 60;
    const int64_t m = minutes % 60;
    return str(minutes / 60) + ":" + (m < 10 ? "0" : "") + str(m);
}

// A duration in words: "1 hour and 20 minutes", "45 minutes", sometimes "half an hour", "an hour
// and a half", "a quarter of an hour" (the trace restates every one as NhMm).
S duration_words(Ctx& c, int64_t h, int64_t m) {
    if (c.r.chance(0.5)) {
        if (h == 0 && m == 30) return c.L("half an hour", "mezz'ora");
        if (h == 1 && m == 30) return c.L("an hour and a half", "un'ora e mezza");
        if (h == 0 && m == 15) return c.L("a quarter of an hour", "un quarto d'ora");
    }
    S s;
    if (h) s += str(h) + (c.it ? (h == 1 ? " ora" : " ore") : (h == 1 ? " hour" : " hours"));
    if (h && m) s += c.r.chance(0.7) ? c.L(" and ", " e ") : " ";
    if (m || !h)
        s += str(m) + (c.it ? (m == 1 ? " minuto" : " minuti") : (m == 1 ? " minute" : " minutes"));
    return s;
}

GymRecord word_time(Ctx& c) {
    const int legs = std::min(c.d, 6);
    const int64_t start =
        c.r.range(5, 20) * 60 + c.r.range(0, 11) * 5 + (c.r.chance(0.3) ? c.r.range(1, 4) : 0);
    std::vector<std::pair<int64_t, int64_t>> dur;
    for (int i = 0; i < legs; ++i) {
        const int64_t h = c.r.range(0, std::min(1 + c.d, 5));
        const int64_t m =
            c.r.chance(0.2) ? 30 * c.r.range(0, 1) + 15 * c.r.range(0, 1) : c.r.range(1, 59);
        dur.push_back({h, m == 0 && h == 0 ? 45 : m});
    }
    std::vector<S> words;
    for (auto [h, m] : dur) words.push_back(duration_words(c, h, m));
    S legs_text = words[0];
    for (size_t i = 1; i < words.size(); ++i)
        legs_text += (c.it ? (i + 1 == words.size() ? " e poi " : ", poi ")
                           : (i + 1 == words.size() ? " and then " : ", then ")) +
                     words[i];
    const Person who = c.r.pick(people(c.it));
    GymRecord g;
    g.question = c.ask(kTime, {{"start", clock(start)}, {"legs", legs_text}, {"who", who.name}});
    // 9:35+1h20m+45m, then per duration an hour line "9:35+1h=10:35" and a minute line
    // "10:35+20m: 35+20=55 -> 10:55" whose sum shows any carry into the hour.
    S t = clock(start);
    for (auto [h, m] : dur) {
        t += '+';
        if (h) t += str(h) + "h";
        if (m) t += str(m) + "m";
    }
    int64_t now = start;
    for (auto [h, m] : dur) {
        if (h) {
            add_line(t, {clock(now), "+", str(h), "h=", clock(now + h * 60)});
            now += h * 60;
        }
        if (m) {
            add_line(t, {clock(now), "+", str(m), "m: ", str(now % 60), "+", str(m), "=",
                         str(now % 60 + m), " -> ", clock(now + m)});
            now += m;
        }
    }
    g.thinking = t;
    g.answer = clock(now);
    return g;
}

// ---- word_age: ages from d chained relations ----

// Slots {facts} (the sentences relating the ages) and {who} (the person asked about); kAgeLater
// also {k}, the years from now.
const Phrasings kAgeNow{
    {
        {"age_how_old",
         false,
         {"{facts} How old is {who}?", "{facts} How old is {who} now?",
          "{facts} What is {who}'s age?", "{facts} So how old is {who}?"}},
        {"age_find",
         false,
         {"{facts} Find {who}'s age.", "{facts} Work out how old {who} is.",
          "{facts} Tell me {who}'s age."}},
        {"age_intro",
         false,
         {"Here are some facts about ages. {facts} How old is {who}?",
          "Some friends compare ages. {facts} What is {who}'s age?",
          "Think about this family. {facts} How old is {who}?"}},
        {"age_question_first",
         true,
         {"How old is {who}? {facts}", "What is {who}'s age, knowing that: {facts}",
          "Can you tell {who}'s age? {facts}", "Age of {who}? {facts}"}},
    },
    {
        {"eta_quanti_anni",
         false,
         {"{facts} Quanti anni ha {who}?", "{facts} Quanti anni ha {who} adesso?",
          "{facts} Qual è l'età di {who}?", "{facts} Quindi quanti anni ha {who}?"}},
        {"eta_trova",
         false,
         {"{facts} Trova l'età di {who}.", "{facts} Calcola quanti anni ha {who}.",
          "{facts} Dimmi l'età di {who}."}},
        {"eta_intro",
         false,
         {"Ecco alcuni fatti sulle età. {facts} Quanti anni ha {who}?",
          "Alcuni amici confrontano le età. {facts} Qual è l'età di {who}?",
          "Pensa a questa famiglia. {facts} Quanti anni ha {who}?"}},
        {"eta_domanda_prima",
         true,
         {"Quanti anni ha {who}? {facts}", "Qual è l'età di {who}, sapendo che: {facts}",
          "Sai dire l'età di {who}? {facts}", "Età di {who}? {facts}"}},
    }};

const Phrasings kAgeLater{
    {
        {"later_how_old",
         false,
         {"{facts} How old will {who} be in {k} years?",
          "{facts} How old will {who} be {k} years from now?",
          "{facts} What age will {who} be in {k} years?"}},
        {"later_after",
         false,
         {"{facts} In {k} years, how old will {who} be?",
          "{facts} After {k} more years, what will {who}'s age be?",
          "{facts} Looking {k} years ahead, how old is {who}?"}},
        {"later_intro",
         false,
         {"Some friends compare ages. {facts} How old will {who} be in {k} years?",
          "Think about this family. {facts} What age will {who} reach in {k} years?",
          "Here are some ages. {facts} Find {who}'s age {k} years from now."}},
        {"later_question_first",
         true,
         {"How old will {who} be in {k} years? {facts}",
          "What will {who}'s age be {k} years from now, given: {facts}",
          "Tell me how old {who} will be in {k} years. {facts}",
          "Age of {who} in {k} years? {facts}"}},
    },
    {
        {"futuro_quanti_anni",
         false,
         {"{facts} Quanti anni avrà {who} tra {k} anni?",
          "{facts} Quanti anni avrà {who} fra {k} anni?",
          "{facts} Che età avrà {who} tra {k} anni?"}},
        {"futuro_dopo",
         false,
         {"{facts} Tra {k} anni, quanti anni avrà {who}?",
          "{facts} Dopo altri {k} anni, quale sarà l'età di {who}?",
          "{facts} Fra {k} anni, che età avrà {who}?"}},
        {"futuro_intro",
         false,
         {"Alcuni amici confrontano le età. {facts} Quanti anni avrà {who} tra {k} anni?",
          "Pensa a questa famiglia. {facts} Che età raggiungerà {who} tra {k} anni?",
          "Ecco alcune età. {facts} Trova l'età di {who} tra {k} anni."}},
        {"futuro_domanda_prima",
         true,
         {"Quanti anni avrà {who} tra {k} anni? {facts}",
          "Che età avrà {who} fra {k} anni, sapendo che: {facts}",
          "Dimmi quanti anni avrà {who} tra {k} anni. {facts}",
          "Età di {who} tra {k} anni? {facts}"}},
    }};

// "x is k years older than y" in one of its phrasings; the sentence may name the two people in
// either order ("y is k years younger than x"), and the trace always computes x from y.
S relation_sentence(Ctx& c, const Person& x, const Person& y, char op, int64_t k) {
    const S ks = str(k);
    const int form = int(c.r.range(0, 2));
    if (op == '*') {
        static const char* en_times[] = {"", "", "twice", "three times", "four times"};
        static const char* it_times[] = {"", "", "il doppio", "il triplo", "il quadruplo"};
        if (c.it)
            return form == 0 ? x.name + " ha " + it_times[k] + " degli anni di " + y.name + "."
                             : "L'età di " + x.name + " è " + it_times[k] + " di quella di " +
                                   y.name + ".";
        return form == 0 ? x.name + " is " + en_times[k] + " as old as " + y.name + "."
                         : x.name + "'s age is " + en_times[k] + " " + y.name + "'s.";
    }
    const bool older = op == '+';
    if (form == 1) {  // named the other way round
        if (c.it)
            return y.name + " ha " + ks + " anni " + (older ? "meno" : "più") + " di " + x.name +
                   ".";
        return y.name + " is " + ks + " years " + (older ? "younger" : "older") + " than " +
               x.name + ".";
    }
    if (form == 2) {  // birth order
        if (c.it)
            return x.name + " è nat" + (x.female ? "a " : "o ") + ks + " anni " +
                   (older ? "prima" : "dopo") + " di " + y.name + ".";
        return x.name + " was born " + ks + " years " + (older ? "before " : "after ") + y.name +
               ".";
    }
    if (c.it)
        return x.name + " ha " + ks + " anni " + (older ? "più" : "meno") + " di " + y.name + ".";
    return x.name + " is " + ks + " years " + (older ? "older" : "younger") + " than " + y.name +
           ".";
}

GymRecord word_age(Ctx& c) {
    const int steps = std::min(c.d, 6);
    const std::vector<Person> who = cast(c, steps + 1);
    Chain ch;
    ch.start = c.r.range(3, 15);
    S facts = c.it
                  ? (c.r.chance(0.7) ? who[0].name + " ha " + str(ch.start) + " anni."
                                     : "L'età di " + who[0].name + " è " + str(ch.start) + " anni.")
                  : (c.r.chance(0.7) ? who[0].name + " is " + str(ch.start) + " years old."
                                     : who[0].name + "'s age is " + str(ch.start) + ".");
    int64_t age = ch.start;
    for (int i = 1; i <= steps; ++i) {
        int kind = int(c.r.range(0, 2));
        if (kind == 2 && age * 2 > 90) kind = 0;
        if (kind == 1 && age <= 3) kind = 0;
        if (kind == 0 && age > 80) kind = 1;
        int64_t k;
        char op;
        if (kind == 0) {
            op = '+', k = c.r.range(2, 30);
        } else if (kind == 1) {
            op = '-', k = c.r.range(2, std::min<int64_t>(age - 1, 30));
        } else {
            op = '*', k = c.r.range(2, std::max<int64_t>(2, std::min<int64_t>(4, 90 / age)));
        }
        ch.steps.push_back({op, k});
        age = op == '+' ? age + k : op == '-' ? age - k : age * k;
        facts += " " + relation_sentence(c, who[size_t(i)], who[size_t(i - 1)], op, k);
    }
    if (c.d >= 2 && c.r.chance(0.5)) {
        const int64_t later = c.r.range(2, 10);
        ch.steps.push_back({'+', later});
        return from_chain(
            c.ask(kAgeLater, {{"facts", facts}, {"who", who.back().name}, {"k", str(later)}}), ch);
    }
    return from_chain(c.ask(kAgeNow, {{"facts", facts}, {"who", who.back().name}}), ch);
}

// ---- word_quantity: stock after d sales and deliveries ----

// Slots {story} (the stock and its changes) and {things} (plural noun); Italian frames use {hm}
// ("quante mele", "quanti libri": the agreement follows the noun's gender).
const Phrasings kQuantity{
    {
        {"qty_now",
         false,
         {"{story} How many {things} does it have now?", "{story} How many {things} are there now?",
          "{story} How many {things} are left?",
          "{story} How many {things} does the store have at the end?",
          "{story} How many {things} does it have after that?"}},
        {"qty_count",
         false,
         {"{story} Count the {things} it has now.",
          "{story} Work out how many {things} there are now.",
          "{story} Find the number of {things} at the end.",
          "{story} Say how many {things} it has now."}},
        {"qty_intro",
         false,
         {"Keep track of the stock. {story} How many {things} are there now?",
          "A shopkeeper counts the stock. {story} How many {things} does the store have now?",
          "Inventory time. {story} How many {things} remain?",
          "Let's follow the {things}. {story} How many are there now?"}},
        {"qty_total",
         false,
         {"{story} What is the total number of {things} now?",
          "{story} In total, how many {things} does it hold now?",
          "{story} What is the final count of {things}?"}},
        {"qty_question_first",
         true,
         {"How many {things} does the store have at the end? {story}",
          "How many {things} are left after all this? {story}",
          "What is the final number of {things}? {story}",
          "Tell me how many {things} remain. {story}"}},
        {"qty_terse",
         true,
         {"{story} Stock of {things} left?", "{story} Final stock of {things}?",
          "{story} Remaining {things}: how many?"}},
    },
    {
        {"qta_adesso",
         false,
         {"{story} E adesso, {hm} ha?", "{story} {Hm} ci sono adesso?", "{story} {Hm} restano?",
          "{story} {Hm} ha il negozio alla fine?", "{story} Dopo tutto questo, {hm} ha?"}},
        {"qta_conta",
         false,
         {"{story} Conta il numero di {things} che ha adesso.",
          "{story} Calcola {hm} ci sono adesso.", "{story} Trova il numero di {things} alla fine.",
          "{story} Di' {hm} ha adesso."}},
        {"qta_intro",
         false,
         {"Tieni il conto della merce. {story} {Hm} ci sono adesso?",
          "Un negoziante conta la merce. {story} {Hm} ha il negozio adesso?",
          "È ora dell'inventario. {story} {Hm} rimangono?",
          "Seguiamo le scorte di {things}. {story} Quante unità ci sono adesso?"}},
        {"qta_totale",
         false,
         {"{story} Qual è il numero totale di {things} adesso?",
          "{story} In tutto, {hm} ha adesso?", "{story} Qual è il conteggio finale di {things}?"}},
        {"qta_domanda_prima",
         true,
         {"{Hm} ha il negozio alla fine? {story}", "{Hm} restano dopo tutto questo? {story}",
          "Qual è il numero finale di {things}? {story}", "Dimmi {hm} rimangono. {story}"}},
        {"qta_telegrafico",
         true,
         {"{story} Scorte di {things} rimaste?", "{story} Scorta finale di {things}?",
          "{story} {Hm} restano in tutto?"}},
    }};

struct Stock {
    S en_box, en_boxes, en_things, it_box, it_boxes, it_things;
    bool it_box_female, it_female;  // Italian genders of the container and of the things
};

GymRecord word_quantity(Ctx& c) {
    static const std::vector<Stock> stock = {
        {"box", "boxes", "apples", "scatola", "scatole", "mele", true, true},
        {"carton", "cartons", "eggs", "cartone", "cartoni", "uova", false, true},
        {"shelf", "shelves", "books", "scaffale", "scaffali", "libri", false, false},
        {"crate", "crates", "bottles", "cassa", "casse", "bottiglie", true, true},
        {"pack", "packs", "pencils", "confezione", "confezioni", "matite", true, true},
        {"bag", "bags", "oranges", "sacchetto", "sacchetti", "arance", false, true},
        {"case", "cases", "cans", "cassetta", "cassette", "lattine", true, true},
        {"tray", "trays", "cups", "vassoio", "vassoi", "bicchieri", false, false}};
    const Stock& s = c.r.pick(stock);
    const S& things = c.it ? s.it_things : s.en_things;
    Chain ch;
    const int64_t per = c.r.range(4, 6 + 4 * c.d), n = c.r.range(2, 3 + 2 * c.d);
    ch.start = n;
    ch.start_by = per;
    const int opening = int(c.r.range(0, 2));
    S story =
        c.it ? (opening == 0 ? "Un negozio ha " + str(n) + " " + s.it_boxes + " con " + str(per) +
                                   " " + things + (s.it_box_female ? " ciascuna." : " ciascuno.")
                : opening == 1 ? "Un negozio ha " + str(n) + " " + s.it_boxes + " da " + str(per) +
                                     " " + things + "."
                               : "In magazzino ci sono " + str(n) + " " + s.it_boxes +
                                     (s.it_box_female ? ", ognuna con " : ", ognuno con ") +
                                     str(per) + " " + things + ".")
             : (opening == 0 ? "A store has " + str(n) + " " + s.en_boxes + " with " + str(per) +
                                   " " + things + " in each."
                : opening == 1 ? "A store has " + str(n) + " " + s.en_boxes + " of " + str(per) +
                                     " " + things + " each."
                               : "A store has " + str(n) + " " + s.en_boxes + ", each holding " +
                                     str(per) + " " + things + ".");
    int64_t total = n * per;
    for (int e = 0; e < std::min(c.d, 6); ++e) {
        const int kind = total <= 1 ? 1 + int(c.r.range(0, 1)) : int(c.r.range(0, 3)) % 3;
        const S then = e == 0 ? "" : c.L("Then ", "Poi ");
        if (kind == 0) {
            const int64_t sold = c.r.range(std::min<int64_t>(2, total), total);
            ch.steps.push_back({'-', sold});
            total -= sold;
            story +=
                " " +
                (c.r.chance(0.5)
                     ? then + c.L(e ? "it sells " : "It sells ", e ? "ne vende " : "Ne vende ") +
                           str(sold) + (c.it ? "." : " " + things + ".")
                     : c.L("Customers buy ", "I clienti comprano ") + str(sold) + " " + things +
                           ".");
        } else if (kind == 1) {
            const int64_t more = c.r.range(1, 4);
            ch.steps.push_back({'+', more, per});
            total += more * per;
            const S unit = more == 1 ? c.L(s.en_box, s.it_box) : c.L(s.en_boxes, s.it_boxes);
            story +=
                " " +
                (c.r.chance(0.5)
                     ? then + c.L(e ? "it receives " : "It receives ", e ? "riceve " : "Riceve ") +
                           str(more) + c.L(" more " + unit + ".", " " + unit + " in più.")
                     : c.L("A delivery brings " + str(more) + " more " + unit + ".",
                           "Una consegna porta " + str(more) + " " + unit + " in più."));
        } else {
            const int64_t found = c.r.range(1, 9);
            ch.steps.push_back({'+', found});
            total += found;
            story += " " + c.L("A clerk finds " + str(found) + " more " + things + " in the back.",
                               "Un commesso trova altr" + S(s.it_female ? "e " : "i ") +
                                   str(found) + " " + things + " nel retro.");
        }
    }
    const S hm = S(s.it_female ? "quante " : "quanti ") + things;
    S cap = hm;
    cap[0] = char(cap[0] - 'a' + 'A');
    return from_chain(
        c.ask(kQuantity, {{"story", story}, {"things", things}, {"hm", hm}, {"Hm", cap}}), ch);
}

// Amounts that may hold " and " themselves are summed with "plus": "3 km and 250 m plus 2 km".
S join_plus(const std::vector<S>& parts, bool it) {
    S s;
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? (it ? " più " : " plus ") : "") + parts[i];
    return s;
}

// ---- word_units: amounts converted to a smaller unit ----

// kUnitsOne: slots {amount} ("3 km and 250 m") and {unit} (the target unit, plural); kUnitsSum:
// {amounts} (several amounts) and {unit}.
const Phrasings kUnitsOne{
    {
        {"units_how_many",
         false,
         {"How many {unit} are in {amount}?", "How many {unit} is {amount}?",
          "How many {unit} make {amount}?", "{amount} is how many {unit}?"}},
        {"units_convert",
         false,
         {"Convert {amount} to {unit}.", "Express {amount} in {unit}.", "Write {amount} in {unit}.",
          "Change {amount} into {unit}."}},
        {"units_context",
         false,
         {"{who} measured {amount}. How many {unit} is that?",
          "{who} writes down {amount}. What is that in {unit}?",
          "The label says {amount}. How many {unit} is that?"}},
        {"units_question_first",
         true,
         {"In {unit}, how much is {amount}?", "What is {amount} in {unit}?", "{amount} = ? {unit}",
          "{amount} in {unit}?"}},
    },
    {
        {"unita_quanti",
         false,
         {"Quanti {unit} ci sono in {amount}?", "A quanti {unit} corrispondono {amount}?",
          "Quanti {unit} fanno {amount}?", "{amount} sono quanti {unit}?"}},
        {"unita_converti",
         false,
         {"Converti {amount} in {unit}.", "Esprimi {amount} in {unit}.",
          "Scrivi {amount} in {unit}.", "Trasforma {amount} in {unit}."}},
        {"unita_contesto",
         false,
         {"{who} ha misurato {amount}. Quanti {unit} sono?",
          "{who} annota {amount}. Quanto fa in {unit}?",
          "L'etichetta dice {amount}. Quanti {unit} sono?"}},
        {"unita_domanda_prima",
         true,
         {"In {unit}, quanto fa {amount}?", "Quanto sono {amount} in {unit}?",
          "{amount} = ? {unit}", "{amount} in {unit}?"}},
    }};

const Phrasings kUnitsSum{
    {
        {"sum_total",
         false,
         {"How many {unit} are {amounts} altogether?", "How many {unit} is {amounts} in total?",
          "Add {amounts}. How many {unit} is that?"}},
        {"sum_convert",
         false,
         {"Add up {amounts} and give the result in {unit}.",
          "Find the total of {amounts} in {unit}.", "Express the sum of {amounts} in {unit}."}},
        {"sum_context",
         false,
         {"{who} records {amounts}. How many {unit} is that altogether?",
          "A log lists {amounts}. What is the total in {unit}?"}},
        {"sum_terse",
         true,
         {"{amounts}: total in {unit}?", "Total of {amounts}, in {unit}?",
          "In {unit}, what do {amounts} add up to?"}},
    },
    {
        {"somma_totale",
         false,
         {"Quanti {unit} sono {amounts} in tutto?", "Quanti {unit} fanno {amounts} in totale?",
          "Somma {amounts}. Quanti {unit} sono?"}},
        {"somma_converti",
         false,
         {"Somma {amounts} e dai il risultato in {unit}.",
          "Trova il totale di {amounts} in {unit}.", "Esprimi la somma di {amounts} in {unit}."}},
        {"somma_contesto",
         false,
         {"{who} registra {amounts}. Quanti {unit} sono in tutto?",
          "Un registro elenca {amounts}. Qual è il totale in {unit}?"}},
        {"somma_telegrafica",
         true,
         {"{amounts}: totale in {unit}?", "Totale di {amounts}, in {unit}?",
          "In {unit}, quanto fanno {amounts} sommati?"}},
    }};

struct UnitPair {
    S en_big, en_bigs, en_small, en_smalls, it_big, it_bigs, it_small, it_smalls;
    int64_t factor;
    S big_abbr, small_abbr;  // "" when the unit has no usual symbol
};

const std::vector<UnitPair>& unit_pairs() {
    static const std::vector<UnitPair> u = {
        {"kilometer", "kilometers", "meter", "meters", "chilometro", "chilometri", "metro", "metri",
         1000, "km", "m"},
        {"meter", "meters", "centimeter", "centimeters", "metro", "metri", "centimetro",
         "centimetri", 100, "m", "cm"},
        {"kilogram", "kilograms", "gram", "grams", "chilogrammo", "chilogrammi", "grammo", "grammi",
         1000, "kg", "g"},
        {"liter", "liters", "milliliter", "milliliters", "litro", "litri", "millilitro",
         "millilitri", 1000, "L", "ml"},
        {"hour", "hours", "minute", "minutes", "ora", "ore", "minuto", "minuti", 60, "", ""},
        {"minute", "minutes", "second", "seconds", "minuto", "minuti", "secondo", "secondi", 60, "",
         ""},
        {"day", "days", "hour", "hours", "giorno", "giorni", "ora", "ore", 24, "", ""},
        {"week", "weeks", "day", "days", "settimana", "settimane", "giorno", "giorni", 7, "", ""},
        {"year", "years", "month", "months", "anno", "anni", "mese", "mesi", 12, "", ""},
        {"euro", "euros", "cent", "cents", "euro", "euro", "centesimo", "centesimi", 100, "", ""}};
    return u;
}

// "3 km and 250 m" / "3 kilometers 250 meters" / "250 meters" (big = 0 only when small > 0).
S amount_words(Ctx& c, const UnitPair& u, int64_t big, int64_t small, bool abbr) {
    auto part = [&](int64_t v, bool is_big) {
        const S& ab = is_big ? u.big_abbr : u.small_abbr;
        if (abbr && !ab.empty()) return c.num(v) + " " + ab;
        const S& name =
            c.it ? (is_big ? (v == 1 ? u.it_big : u.it_bigs) : (v == 1 ? u.it_small : u.it_smalls))
                 : (is_big ? (v == 1 ? u.en_big : u.en_bigs) : (v == 1 ? u.en_small : u.en_smalls));
        return c.num(v) + " " + name;
    };
    if (small == 0) return part(big, true);
    return part(big, true) + (c.r.chance(0.6) ? c.L(" and ", " e ") : " ") + part(small, false);
}

GymRecord word_units(Ctx& c) {
    const UnitPair& u = c.r.pick(unit_pairs());
    const bool abbr = !u.big_abbr.empty() && c.r.chance(0.5);
    const S unit = c.it ? u.it_smalls : u.en_smalls;
    const Person who = c.r.pick(people(c.it));
    const int64_t big_max = c.d <= 2 ? 9 : 5 * c.d;
    Chain ch;
    if (c.d <= 2) {
        const int64_t big = c.r.range(1, big_max),
                      small = c.d == 1 ? 0 : c.r.range(1, u.factor - 1);
        ch.start = big;
        ch.steps.push_back({'*', u.factor});
        if (small) ch.steps.push_back({'+', small});
        return from_chain(c.ask(kUnitsOne, {{"amount", amount_words(c, u, big, small, abbr)},
                                            {"unit", unit},
                                            {"who", who.name}}),
                          ch);
    }
    // Several amounts, converted and summed in order: "3*1000+250+2*1000+850".
    std::vector<S> amounts;
    for (int i = 0; i < std::min(c.d - 1, 4); ++i) {
        const int64_t big = c.r.range(1, big_max),
                      small = c.r.chance(0.7) ? c.r.range(1, u.factor - 1) : 0;
        if (i == 0) {
            ch.start = big;
            ch.start_by = u.factor;
        } else {
            ch.steps.push_back({'+', big, u.factor});
        }
        if (small) ch.steps.push_back({'+', small});
        amounts.push_back(amount_words(c, u, big, small, abbr));
    }
    return from_chain(
        c.ask(kUnitsSum,
              {{"amounts", join_plus(amounts, c.it)}, {"unit", unit}, {"who", who.name}}),
        ch);
}

}  // namespace

std::vector<TaskDef> story_tasks() {
    return {
        {"word_money",
         word_money,
         {&kMoney},
         "d kinds of item bought (at most 6), quantities up to d+3, prices up to 5d+5",
         AnswerKind::Number},
        {"word_time",
         word_time,
         {&kTime},
         "d durations (at most 6) added to a start time; answered as h:mm",
         AnswerKind::Time},
        {"word_age",
         word_age,
         {&kAgeNow, &kAgeLater},
         "d chained age relations (at most 6); from d=2 half the questions ask about a later year",
         AnswerKind::Number},
        {"word_quantity",
         word_quantity,
         {&kQuantity},
         "a stock of boxes, then d sales, deliveries or finds (at most 6)",
         AnswerKind::Number},
        {"word_units",
         word_units,
         {&kUnitsOne, &kUnitsSum},
         "d=1: whole big units; d=2: big and small units; d>=3: the sum of min(d-1, 4) amounts",
         AnswerKind::Number},
    };
}

}  // namespace np::data::gym
