// End-to-end test of the zinit web dashboard in headless Chromium.
//
// Run by crates/zinit/tests/http/dashboard.rs, which starts a real daemon
// with the services named below and two real proxies (one without a token,
// one with), then runs `node dashboard.mjs` with:
//   ZD_URL          the proxy without a token, e.g. http://127.0.0.1:PORT/
//   ZD_TOKEN_URL    the proxy that requires ZD_TOKEN
//   ZD_TOKEN        that token
//   ZD_SCREENSHOT   where to save a screenshot of the page
//   ZD_CHROMIUM     the browser (default /usr/bin/chromium; never downloaded)
// It prints "ok - CASE" per case and "measure: ..." lines, and exits 0 only
// when every case passed. No fixed sleeps: every wait polls a condition
// with a deadline.
import { chromium } from "playwright-core";

const URL = need("ZD_URL");
const TOKEN_URL = need("ZD_TOKEN_URL");
const TOKEN = need("ZD_TOKEN");
const SCREENSHOT = need("ZD_SCREENSHOT");
const EXECUTABLE = process.env.ZD_CHROMIUM || "/usr/bin/chromium";
const DEADLINE_MS = 20000;

function need(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

let passed = 0;
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
  } catch (e) {
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
    throw e;
  }
  passed += 1;
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

function assert(condition, message) {
  if (!condition) throw new Error("assertion failed: " + message);
}

// Poll `probe` until it returns something truthy; fail with `what` (and
// the last value seen) after the deadline.
async function until(what, probe, timeout = DEADLINE_MS) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last saw ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Poll until `probe` returns the same text as `want` (or matches it).
async function untilText(what, probe, want) {
  let seen;
  await until(what + ` to be ${want}`, async () => {
    seen = (await probe()).trim();
    return want instanceof RegExp ? want.test(seen) : seen === want;
  }).catch((e) => {
    throw new Error(e.message + `; text was ${JSON.stringify(seen)}`);
  });
}

const row = (page, name) => page.locator(`#services tbody tr[data-service="${name}"]`);
const badge = (page, name) => row(page, name).locator(".badge").textContent();
const cell = (page, name, cls) => row(page, name).locator(`td.${cls}`).textContent();
const feedback = (page) => page.locator("#feedback").textContent();
const logTexts = (page) => page.locator("#log .line .text").allTextContents();

// The proxy's own view (not the page's), for waiting on the daemon.
async function rpc(method, params) {
  const response = await fetch(URL, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const answer = await response.json();
  if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

async function kill(page, name, signal) {
  await row(page, name).getByRole("button", { name: `Kill… ${name}` }).click();
  const dialog = page.locator("#kill-dialog");
  await dialog.waitFor({ state: "visible" });
  await page.locator("#kill-signal").selectOption(signal);
  await page.locator("#kill-send").click();
  await dialog.waitFor({ state: "hidden" });
}

const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  // Playwright gives each launch a fresh temporary profile (--user-data-dir).
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console error: " + m.text());
  });
  const posts = [];
  page.on("request", (r) => {
    if (r.method() === "POST") posts.push({ at: Date.now(), auth: r.headers()["authorization"] });
  });

  await check("page_lists_services_with_their_states", async () => {
    const response = await page.goto(URL);
    assert(response.status() === 200, "GET / is 200");
    const csp = response.headers()["content-security-policy"] || "";
    assert(csp.includes("default-src 'self'"), "CSP on the page: " + csp);
    for (const [name, want] of [
      ["web", "Running"],
      ["talker", "Running"],
      ["flood", "Running"],
      ["gate", "Spawned"],
      ["app", "Blocked"],
      ["migrate", "Success"],
      ["broken", "Error"],
    ]) {
      await untilText(`${name}'s state`, () => badge(page, name), want);
    }
    const classOf = (name) => row(page, name).locator(".badge").getAttribute("class");
    assert((await classOf("web")).includes("ok"), "Running is coloured ok");
    assert((await classOf("broken")).includes("bad"), "Error is coloured bad");
    assert((await classOf("app")).includes("wait"), "Blocked is coloured wait");
    assert((await cell(page, "broken", "state")).includes("exited with code 3"), "the reason is shown");
    const pid = Number((await cell(page, "web", "pid")).trim());
    assert(pid > 0, "web has a pid");
    assert((await cell(page, "web", "target")).trim() === "Up", "web's target is Up");
    await untilText("web's memory", () => cell(page, "web", "memory"), /\d.*(KiB|MiB)/);
    // With cgroups (root), web's memory_max makes the cell its cgroup's
    // memory against the limit, with the cgroup's figures in the tooltip.
    if ((await cell(page, "web", "memory")).includes(" of ")) {
      assert((await cell(page, "web", "memory")).includes("of 256 MiB"), "web's limit is shown");
      const title = await row(page, "web").locator("td.memory").getAttribute("title");
      assert(/peak .*CPU \d/.test(title), `web's cgroup figures in the tooltip: ${title}`);
    }
    await untilText("web's uptime", () => cell(page, "web", "uptime"), /^\d+(s|m)/);
    await untilText("web's CPU", () => cell(page, "web", "cpu"), /^\d+\.\d %$/);
    await untilText("app's dependencies", () => cell(page, "app", "deps"), "waits for gate");
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const data = performance.getEntriesByName("zinit-first-data")[0];
      const size = performance
        .getEntriesByType("resource")
        .concat([nav])
        .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0);
      return {
        dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
        load_ms: Math.round(nav.loadEventEnd),
        first_data_ms: data ? Math.round(data.startTime) : null,
        transferred_bytes: size,
      };
    });
    console.log(
      `measure: page load ${timing.load_ms} ms (DOMContentLoaded ${timing.dom_content_loaded_ms} ms), ` +
        `first data shown ${timing.first_data_ms} ms, ${timing.transferred_bytes} bytes received (page, assets and first answers)`,
    );
  });

  await check("table_semantics_labels_and_button_names", async () => {
    const headers = await page.locator("#services thead th[scope=col]").count();
    assert(headers === 10, "10 column headers, got " + headers);
    assert((await page.locator("#services tbody th[scope=row]").count()) === 7, "a row header per service");
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelectorAll("button, input, select"))
        .filter((e) => !e.closest("[hidden]") && !e.closest("dialog:not([open])"))
        .filter((e) => {
          if (e.tagName === "BUTTON") return !(e.getAttribute("aria-label") || e.textContent.trim());
          return e.labels.length === 0 && !e.getAttribute("aria-label");
        })
        .map((e) => e.outerHTML),
    );
    assert(unnamed.length === 0, "every control has a name: " + unnamed.join(" "));
    assert((await page.locator("#feedback[aria-live=polite]").count()) === 1, "feedback is a live region");
  });

  await check("log_view_shows_lines_with_stdout_and_stderr_apart", async () => {
    await until("talker's first line in the log view", async () => (await logTexts(page)).includes("talker ready"));
    const warn = page.locator("#log .line.err", { hasText: "talker warming up" });
    await warn.first().waitFor();
    assert((await warn.first().locator(".stream").textContent()) === "err", "stderr is marked err");
    const ready = page.locator("#log .line", { hasText: "talker ready" }).first();
    assert((await ready.locator(".stream").textContent()) === "out", "stdout is marked out");
    assert(!(await ready.getAttribute("class")).includes("err"), "stdout is not styled as stderr");
  });

  await check("dependency_view_says_who_waits_and_why", async () => {
    const app = page.locator('#deps tbody tr[data-service="app"]');
    await untilText("app's wait list", () => app.locator("td").nth(0).textContent(), /gate: Spawned \(requires\)/);
    await untilText("app's conflicts", () => app.locator("td").nth(0).textContent(), /conflicts with maintenance/);
    const gate = page.locator('#deps tbody tr[data-service="gate"]');
    await untilText("gate's dependents", () => gate.locator("td").nth(1).textContent(), "app");
    await untilText("app's explanation", () => app.locator("td.why").textContent(), /gate/);
    const web = page.locator('#deps tbody tr[data-service="web"]');
    await untilText("web's unapplied limit", () => web.locator("td.why").textContent(), /resources\.memory_high not applied/);
  });

  await check("kill_with_a_chosen_signal", async () => {
    await kill(page, "talker", "SIGUSR1");
    await untilText("feedback", () => feedback(page), "talker: SIGUSR1 sent");
    await until("talker's answer to SIGUSR1 in the log view", async () =>
      (await logTexts(page)).includes("talker got USR1"),
    );
    assert((await badge(page, "talker")) === "Running", "talker survived its trap");
  });

  await check("screenshot", async () => {
    await page.locator("#log").evaluate((box) => (box.scrollTop = box.scrollHeight));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  await check("the_daemons_refusal_is_shown", async () => {
    await kill(page, "migrate", "SIGTERM");
    await untilText("the refusal", () => feedback(page), /Could not send SIGTERM to migrate: .*is down.*ServiceIsDown/);
    assert((await page.locator("#feedback .msg.error").count()) === 1, "shown as an error");
  });

  await check("focus_survives_the_live_refresh_and_escape_closes_the_dialog", async () => {
    const button = row(page, "web").getByRole("button", { name: "Restart web" });
    await button.focus();
    const before = await page.locator("#conn-text").textContent();
    await until("two refreshes", async () => (await page.locator("#conn-text").textContent()) !== before);
    const again = await page.locator("#conn-text").textContent();
    await until("another refresh", async () => (await page.locator("#conn-text").textContent()) !== again);
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute("aria-label"));
    assert(focused === "Restart web", "focus stayed on the button, got " + focused);
    const kill = row(page, "web").getByRole("button", { name: "Kill… web" });
    await kill.focus();
    await page.keyboard.press("Enter");
    await page.locator("#kill-dialog").waitFor({ state: "visible" });
    await page.keyboard.press("Escape");
    await page.locator("#kill-dialog").waitFor({ state: "hidden" });
  });

  await check("pause_then_resume_loses_and_repeats_nothing_and_shows_the_gap", async () => {
    await page.locator("#log-pause").click();
    assert((await page.locator("#log-pause").getAttribute("aria-pressed")) === "true", "pause is pressed");
    const seqs = () => page.locator("#log .line").evaluateAll((lines) => lines.map((l) => Number(l.dataset.seq)));
    const shown = await seqs();
    const last = Math.max(...shown);
    await kill(page, "talker", "SIGUSR1");
    await kill(page, "flood", "SIGUSR2");
    await until("flood to finish (asked of the daemon)", async () => {
      const page = await rpc("stream_readLogs", { name: "flood", last: 1 });
      return page.lines.length === 1 && page.lines[0].text === "flood done";
    });
    await until("talker's second answer (asked of the daemon)", async () => {
      const page = await rpc("stream_readLogs", { name: "talker" });
      return page.lines.filter((l) => l.text === "talker got USR1").length === 2;
    });
    // The page read nothing while paused (its ticks go on, without logs).
    const tick = await page.locator("#conn-text").textContent();
    await until("a refresh while paused", async () => (await page.locator("#conn-text").textContent()) !== tick);
    assert(Math.max(...(await seqs())) === last, "no line was read while paused");
    await page.locator("#log-pause").click();
    await until("flood's last line after resuming", async () => (await logTexts(page)).includes("flood done"));
    const after = await seqs();
    const sorted = after.every((s, i) => i === 0 || s > after[i - 1]);
    assert(sorted, "lines are in order, each once");
    const usr1 = (await logTexts(page)).filter((t) => t === "talker got USR1").length;
    assert(usr1 === 2, "both answers once each, got " + usr1);
    const gap = await page.locator("#log .gap").allTextContents();
    assert(gap.length === 1 && /\d+ lines dropped/.test(gap[0]), "one gap, with a count: " + JSON.stringify(gap));
    console.log("measure: gap shown after resume: " + gap[0]);
  });

  await check("filter_by_text", async () => {
    await page.locator("#log-filter").fill("USR1");
    const visible = await page.locator("#log .line:not([hidden]) .text").allTextContents();
    assert(visible.length === 2 && visible.every((t) => t.includes("USR1")), "only matches: " + visible);
    await untilText("the log status", () => page.locator("#log-status").textContent(), /2 of \d+ lines match/);
    await page.locator("#log-filter").fill("");
    assert((await page.locator("#log .line[hidden]").count()) === 0, "filter cleared");
  });

  await check("one_service_log", async () => {
    await page.locator("#log-service").selectOption("talker");
    await until("talker's lines only", async () => {
      const services = await page.locator("#log .line .svc").allTextContents();
      return services.length > 0 && services.every((s) => s === "talker");
    });
    await page.locator("#log-service").selectOption("");
  });

  await check("stop_from_the_page", async () => {
    const pid = (await cell(page, "web", "pid")).trim();
    await row(page, "web").getByRole("button", { name: "Stop web" }).click();
    await untilText("feedback", () => feedback(page), "web: stop requested");
    await untilText("web's state", () => badge(page, "web"), "Stopped");
    await untilText("web's target", () => cell(page, "web", "target"), "Down");
    await untilText("web's pid", () => cell(page, "web", "pid"), "—");
    console.log(`measure: stopped web, pid ${pid}`);
  });

  await check("at_most_one_request_a_second_when_idle", async () => {
    // Let any action's extra refresh pass, then count the page's own
    // requests (resource timing, on the page's clock) over five seconds.
    const tick = await page.locator("#conn-text").textContent();
    await until("a refresh", async () => (await page.locator("#conn-text").textContent()) !== tick);
    const from = await page.evaluate(() => {
      performance.setResourceTimingBufferSize(1000);
      performance.clearResourceTimings();
      return performance.now();
    });
    const started = Date.now();
    await until("five seconds of idling", async () => Date.now() - started >= 5000, 10000);
    const { starts, to } = await page.evaluate(() => ({
      starts: performance
        .getEntriesByType("resource")
        .filter((e) => e.initiatorType === "fetch")
        .map((e) => e.startTime),
      to: performance.now(),
    }));
    const seconds = (to - from) / 1000;
    const rate = starts.length / seconds;
    const gaps = starts.slice(1).map((s, i) => Math.round(s - starts[i]));
    const posted = posts.filter((p) => p.at >= started).length;
    console.log(
      `measure: idle requests ${starts.length} in ${seconds.toFixed(2)} s = ${rate.toFixed(2)}/s ` +
        `(the browser saw ${posted} POSTs), gaps ${gaps.join(", ")} ms`,
    );
    assert(starts.length >= 3, "the page keeps refreshing");
    assert(starts.length <= Math.floor(seconds) + 1, "at most one request a second");
    assert(gaps.every((g) => g >= 900), "never two requests within a second: " + gaps);
  });

  await check("no_errors_in_the_console", async () => {
    assert(problems.length === 0, problems.join("\n"));
  });
  await context.close();

  // A proxy with a token: nothing but the prompt until the token works.
  const secure = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const guarded = await secure.newPage();
  const statuses = [];
  const sent = [];
  guarded.on("response", (r) => {
    if (r.request().method() === "POST") statuses.push(r.status());
  });
  guarded.on("request", (r) => {
    if (r.method() === "POST") sent.push(r.headers()["authorization"] || "");
  });

  await check("with_a_token_the_page_asks_for_it_and_shows_nothing_else", async () => {
    await guarded.goto(TOKEN_URL);
    await guarded.locator("#login").waitFor({ state: "visible" });
    await until("the 401 of the first data call", async () => statuses.includes(401));
    assert(await guarded.locator("#app").isHidden(), "no data shown");
    assert((await guarded.locator("#services tbody tr").count()) === 0, "no service rendered");
    assert((await guarded.locator("#log .line").count()) === 0, "no log line rendered");
    assert(await guarded.locator("#token").evaluate((e) => e === document.activeElement), "the prompt has focus");
    await guarded.locator("#token").fill("not-the-token");
    await guarded.locator("#login-form button[type=submit]").click();
    await untilText("the refusal", () => guarded.locator("#login-message").textContent(), /refused this token/);
    assert(await guarded.locator("#app").isHidden(), "still no data after a wrong token");
    assert(sent.includes("Bearer not-the-token"), "the token went as a bearer token");
  });

  await check("with_the_right_token_the_data_comes", async () => {
    await guarded.locator("#token").fill(TOKEN);
    await guarded.keyboard.press("Enter");
    await untilText("talker's state", () => badge(guarded, "talker"), "Running");
    assert(await guarded.locator("#login").isHidden(), "the prompt is gone");
    assert(sent[sent.length - 1] === "Bearer " + TOKEN, "data calls carry the token");
    // Asked once: a reload in the same tab does not ask again.
    await guarded.reload();
    await untilText("talker's state after a reload", () => badge(guarded, "talker"), "Running");
    assert(await guarded.locator("#login").isHidden(), "no prompt after a reload");
    // Forgetting the token brings the prompt back and stops the data.
    await guarded.locator("#signout").click();
    await guarded.locator("#login").waitFor({ state: "visible" });
    assert(await guarded.locator("#app").isHidden(), "data hidden again");
  });
  await secure.close();
} catch (e) {
  failed = true;
} finally {
  await browser.close();
}
console.log(failed ? `dashboard: FAILED after ${passed} cases passed` : `dashboard: all ${passed} cases passed`);
process.exit(failed ? 1 : 0);
