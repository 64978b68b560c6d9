// The official `openai` npm client, unchanged, against a running `nanoprime serve`:
// chat and completions, streamed and not, reasoning_content, stop strings and an error case.
// Usage: node openai_client.js BASE_URL API_KEY
const OpenAI = require("openai");

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: baseURL + "/v1", apiKey, maxRetries: 0, timeout: 60000 });

function check(ok, what, value) {
    if (!ok) {
        console.log("FAIL:", what, JSON.stringify(value));
        process.exit(1);
    }
}

async function main() {
    const models = await client.models.list();
    check(models.data.length === 1 && models.data[0].id, "models.list", models.data);

    const ask = {
        model: models.data[0].id,
        messages: [{ role: "user", content: "What is 245 + 318?" }],
        temperature: 0,
        max_tokens: 120,
        reasoning_effort: "high",
    };
    const r = await client.chat.completions.create(ask);
    const msg = r.choices[0].message;
    check(r.object === "chat.completion" && msg.role === "assistant", "chat response", r);
    check(typeof msg.reasoning_content === "string" && msg.reasoning_content.length > 0,
        "reasoning_content", msg);
    check(!msg.content.includes("<think>"), "content without the think block", msg);
    check(r.usage.completion_tokens_details.reasoning_tokens > 0, "reasoning tokens", r.usage);

    const stream = await client.chat.completions.create({
        ...ask, stream: true, stream_options: { include_usage: true } });
    let reasoning = "", content = "", usage = null, finish = null;
    for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
            reasoning += c.delta.reasoning_content || "";
            content += c.delta.content || "";
            if (c.finish_reason) finish = c.finish_reason;
        }
    }
    check(reasoning === msg.reasoning_content && content === msg.content,
        "streamed reasoning and content equal the response", { reasoning, content, msg });
    check(usage && usage.completion_tokens === r.usage.completion_tokens, "stream usage", usage);
    check(finish === r.choices[0].finish_reason, "stream finish_reason", finish);

    // A stop string cuts the text before it.
    const words = msg.reasoning_content.split(/\s+/);
    const stop = words[Math.floor(words.length / 2)];
    const cut = await client.chat.completions.create({ ...ask, stop: [stop] });
    const got = cut.choices[0].message.reasoning_content || "";
    check(!got.includes(stop) && cut.choices[0].finish_reason === "stop", "stop string",
        { stop, got });

    const c = await client.completions.create({
        model: ask.model, prompt: "What is 3 + 4?", max_tokens: 8, temperature: 0 });
    check(c.object === "text_completion" && c.choices[0].text.length > 0, "completions", c);
    let text = "";
    for await (const chunk of await client.completions.create({
        model: ask.model, prompt: "What is 3 + 4?", max_tokens: 8, temperature: 0,
        stream: true })) {
        for (const ch of chunk.choices) text += ch.text;
    }
    check(text === c.choices[0].text, "streamed completion", { text, want: c.choices[0].text });

    // An error comes back as the client's APIError with the status and the field.
    try {
        await client.chat.completions.create({ ...ask, temperature: 7 });
        check(false, "temperature 7 accepted", null);
    } catch (e) {
        check(e instanceof OpenAI.APIError && e.status === 400 && e.param === "temperature",
            "APIError naming temperature", { status: e.status, param: e.param, msg: e.message });
    }
    try {
        await new OpenAI({ baseURL: baseURL + "/v1", apiKey: "wrong", maxRetries: 0 })
            .models.list();
        check(false, "a wrong key accepted", null);
    } catch (e) {
        check(e instanceof OpenAI.AuthenticationError, "AuthenticationError", e.message);
    }
    console.log("openai client: ok");
}

main().catch((e) => {
    console.log("FAIL:", e.stack || e);
    process.exit(1);
});
