// Headless Chromium (Debian's, driven by playwright-core) opens the web chat of a running
// `nanoprime serve`, sends a message with thinking on, and checks the streamed answer and the
// thinking block: in the page's text (equal to what the API answers the same conversation) and in
// the screenshot (their pixels change when their text is hidden). Saves webchat.png.
// Usage: node webchat_check.js BASE_URL CHROMIUM_PATH OUT_DIR
const { chromium } = require("playwright-core");
const path = require("path");

const [base, executablePath, outDir] = process.argv.slice(2);

function check(ok, what, value) {
    if (!ok) {
        console.log("FAIL:", what, JSON.stringify(value));
        process.exit(1);
    }
}

async function main() {
    const question = "What is 245 + 318?";
    const api = await fetch(base + "/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: question }], think: "on" }),
    }).then((r) => r.json());
    const want = api.choices[0].message;
    check(want.reasoning_content && want.content, "the API's answer", want);

    const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("requestfailed", (r) => {
        if (!r.url().startsWith(base)) pageErrors.push("fetched from outside: " + r.url());
    });
    await page.goto(base + "/");
    await page.selectOption("#think", "on");
    await page.fill("#input", question);
    await page.press("#input", "Enter");
    // The stop button is enabled while the answer streams, disabled when it is done.
    await page.waitForSelector("#stop:not([disabled])", { timeout: 30000 }).catch(() => {});
    await page.waitForSelector("#stop[disabled]", { timeout: 60000 });
    const answer = page.locator(".assistant .answer").last();
    const thinking = page.locator(".assistant details.thinking").last();
    check(await thinking.isVisible(), "the thinking block is shown", null);
    await thinking.locator("summary").click();  // collapsed once the answer is done: open it
    const shown = {
        answer: await answer.textContent(),
        thinking: await thinking.locator("div").textContent(),
    };
    check(shown.answer === want.content && shown.thinking === want.reasoning_content,
        "the page shows the API's answer and thinking", { shown, want });
    check(pageErrors.length === 0, "page errors", pageErrors);
    check((await page.locator(".msg.user").textContent()) === question, "the user bubble", null);

    await page.screenshot({ path: path.join(outDir, "webchat.png") });
    // The screenshot holds the text: hiding it changes the pixels of its element.
    for (const [name, el] of [["answer", answer], ["thinking", thinking.locator("div")]]) {
        const before = await el.screenshot();
        await el.evaluate((e) => { e.style.color = "transparent"; });
        const hidden = await el.screenshot();
        await el.evaluate((e) => { e.style.color = ""; });
        check(!before.equals(hidden), "the " + name + " text is drawn in the screenshot", name);
    }
    await browser.close();
    console.log("web chat: streamed answer and thinking block shown; screenshot checked");
}

main().catch((e) => {
    console.log("FAIL:", e.stack || e);
    process.exit(1);
});
