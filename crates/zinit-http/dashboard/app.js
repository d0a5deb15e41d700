// zinit dashboard: plain JavaScript, no framework, no build step.
//
// Everything comes from the JSON-RPC API on POST / (the same API and token
// as any other client). Once a second the page sends ONE batch:
// system_metrics, then service_status and (while running) service_stats for
// each service, service_why for each service that is not Running, and
// stream_readLogs after the last line seen. Nothing else is requested while
// idle; actions add one request each.
"use strict";

(() => {
  const TOKEN_KEY = "zinit.token";
  const TICK_MS = 1000;
  const FIRST_LOG_LINES = 500;
  const MAX_LOG_LINES = 2000;
  const FEEDBACK_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.startsWith("aria-") || key.startsWith("data-")) node.setAttribute(key, value);
        else node[key] = value;
      }
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  };

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    authorised: false,
    names: [],
    metrics: new Map(), // name -> system_metrics service entry
    status: new Map(), // name -> service_status
    stats: new Map(), // name -> service_stats
    why: new Map(), // name -> service_why
    rows: new Map(), // name -> row cells of the services table
    log: { name: "", after: null, paused: false, generation: 0, count: 0, filter: "", stick: true },
    timer: 0,
    running: false,
    again: false,
    stopped: false,
    lastTick: 0,
  };

  // ---- transport -------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  class RpcError extends Error {
    constructor(error) {
      super(error && error.message ? error.message : "unknown error");
      this.code = error && error.code;
      this.data = (error && error.data) || {};
    }
  }

  async function post(body) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch("/", {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new HttpError(0, "cannot reach the zinit HTTP proxy");
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (!response.ok) {
      const message = json && json.error && json.error.message;
      throw new HttpError(response.status, message || "HTTP " + response.status);
    }
    return json;
  }

  // Send calls [{method, params}] as one batch; the answers in call order,
  // each {result} or {error}.
  async function batch(calls) {
    const body = calls.map((c, i) => {
      const request = { jsonrpc: "2.0", id: i + 1, method: c.method };
      if (c.params !== undefined) request.params = c.params;
      return request;
    });
    const answer = await post(body);
    const out = new Array(calls.length).fill(null);
    for (const item of Array.isArray(answer) ? answer : [answer]) {
      if (item && typeof item.id === "number" && item.id >= 1 && item.id <= calls.length) {
        out[item.id - 1] = item;
      }
    }
    return out.map((item) => item || { error: { code: -32603, message: "no answer" } });
  }

  async function call(method, params) {
    const [answer] = await batch([{ method, params }]);
    if (answer.error) throw new RpcError(answer.error);
    return answer.result;
  }

  // ---- formatting ------------------------------------------------------

  function bytes(n) {
    if (n == null) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
  }

  function duration(seconds) {
    if (seconds == null) return "—";
    const s = Math.floor(seconds);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    const h = Math.floor(m / 60);
    if (h < 24) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }

  function clock(date) {
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  function logTime(text) {
    const date = new Date(text);
    if (isNaN(date)) return text || "";
    return clock(date) + "." + String(date.getMilliseconds()).padStart(3, "0");
  }

  // "Error(exited with code 3)" -> ["Error", "exited with code 3"]
  function splitState(text) {
    const match = /^(\w+)(?:\((.*)\))?$/s.exec(text || "");
    return match ? [match[1], match[2] || ""] : [text || "Unknown", ""];
  }

  const KIND = {
    Running: "ok",
    Spawned: "run",
    Blocked: "wait",
    Success: "done",
    Error: "bad",
    Failure: "bad",
    TestFailure: "bad",
  };

  // What the badge says and its colour. A service the operator stopped
  // (target Down, no process) reads "Stopped"; the daemon's own state word
  // stays beside it.
  function describe(name) {
    const m = state.metrics.get(name) || {};
    const [word, reason] = splitState(m.state);
    if (m.target === "Down" && !m.pid) {
      return { label: "Stopped", kind: "off", detail: m.state || "" };
    }
    return { label: word, kind: KIND[word] || "off", detail: reason };
  }

  function ready(depState) {
    const [word] = splitState(depState);
    return word === "Running" || word === "Success";
  }

  // ---- services table --------------------------------------------------

  function actionButton(label, name, handler, danger) {
    const button = el("button", {
      type: "button",
      class: danger ? "danger" : "",
      text: label,
      "aria-label": label + " " + name,
      "data-action": label.toLowerCase().replace(/\W/g, ""),
    });
    button.addEventListener("click", () => handler(name, button));
    return button;
  }

  function makeRow(name) {
    const tr = el("tr", { "data-service": name });
    const cells = {
      tr,
      name: el("th", { scope: "row", text: name }),
      state: el("td", { class: "state" }),
      target: el("td", { class: "target" }),
      pid: el("td", { class: "num pid" }),
      uptime: el("td", { class: "num uptime" }),
      restarts: el("td", { class: "num restarts" }),
      memory: el("td", { class: "num memory" }),
      cpu: el("td", { class: "num cpu" }),
      deps: el("td", { class: "deps" }),
      actions: el("td", { class: "actions" }),
      badge: el("span", { class: "badge" }),
      reason: el("span", { class: "reason" }),
    };
    cells.state.append(cells.badge, cells.reason);
    cells.actions.append(
      actionButton("Start", name, (n, b) => act(n, b, "service_start", "start")),
      actionButton("Stop", name, (n, b) => act(n, b, "service_stop", "stop")),
      actionButton("Restart", name, (n, b) => act(n, b, "service_restart", "restart", null, "restarted")),
      actionButton("Kill…", name, openKill, true),
    );
    tr.append(
      cells.name,
      cells.state,
      cells.target,
      cells.pid,
      cells.uptime,
      cells.restarts,
      cells.memory,
      cells.cpu,
      cells.deps,
      cells.actions,
    );
    return cells;
  }

  // Set text only when it changed, so focus, selection and screen readers
  // are left alone by the once-a-second refresh.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setClass(node, name) {
    if (node.className !== name) node.className = name;
  }

  // What a service is ordered after, from its status: `after` and
  // `requires` (hard), and `wants` (only while the wanted one starts).
  // `{dep: state}`; the kinds other than after are named in `kinds`.
  function orderedAfter(status) {
    const after = Object.assign({}, (status && status.after) || {});
    const kinds = {};
    for (const kind of ["requires", "wants"]) {
      for (const [dep, st] of Object.entries((status && status[kind]) || {})) {
        after[dep] = st;
        if (!kinds[dep]) kinds[dep] = kind;
      }
    }
    return { after, kinds };
  }

  function depsSummary(name) {
    const status = state.status.get(name);
    const after = orderedAfter(status).after;
    const deps = Object.keys(after);
    if (deps.length === 0) return { text: "none", kind: "dim" };
    const waiting = deps.filter((d) => !ready(after[d]));
    if (waiting.length === 0) return { text: "ready (" + deps.length + ")", kind: "deps-ok" };
    const blocked = splitState((state.metrics.get(name) || {}).state)[0] === "Blocked";
    const list = waiting.join(", ");
    return { text: blocked ? "waits for " + list : list + " not ready", kind: "deps-wait" };
  }

  function renderServices() {
    const tbody = document.querySelector("#services tbody");
    for (const [name, cells] of state.rows) {
      if (!state.metrics.has(name)) {
        cells.tr.remove();
        state.rows.delete(name);
      }
    }
    let previous = null;
    for (const name of state.names) {
      let cells = state.rows.get(name);
      if (!cells) {
        cells = makeRow(name);
        state.rows.set(name, cells);
      }
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (expected !== cells.tr) tbody.insertBefore(cells.tr, expected);
      previous = cells.tr;

      const m = state.metrics.get(name) || {};
      const stats = m.pid ? state.stats.get(name) : null;
      const look = describe(name);
      setText(cells.badge, look.label);
      setClass(cells.badge, "badge " + look.kind);
      setText(cells.reason, look.detail);
      cells.reason.title = look.detail;
      setText(cells.target, m.target || "—");
      setText(cells.pid, m.pid ? String(m.pid) : "—");
      setText(cells.uptime, stats ? duration(stats.uptime_seconds) : "—");
      setText(cells.restarts, String(m.restarts ?? 0));
      const rss = stats && stats.total_memory_usage != null ? stats.total_memory_usage : m.memory_rss_bytes;
      // With a memory limit, the cgroup's own count against that limit.
      const cg = (stats && stats.cgroup) || m.cgroup || {};
      const limited = cg.memory_max_bytes != null && cg.memory_current_bytes != null;
      setText(
        cells.memory,
        !m.pid ? "—" : limited ? bytes(cg.memory_current_bytes) + " of " + bytes(cg.memory_max_bytes) : bytes(rss),
      );
      cells.memory.title = m.pid ? cgroupSummary(cg, limited) : "";
      const cpu = stats ? stats.total_cpu_usage ?? stats.cpu_usage : null;
      setText(cells.cpu, cpu == null ? "—" : cpu.toFixed(1) + " %");
      const deps = depsSummary(name);
      setText(cells.deps, deps.text);
      setClass(cells.deps, "deps " + deps.kind);
    }
    $("empty").hidden = state.names.length > 0;

    const counts = {};
    for (const name of state.names) {
      const label = describe(name).label;
      counts[label] = (counts[label] || 0) + 1;
    }
    const parts = Object.keys(counts)
      .sort()
      .map((k) => counts[k] + " " + k.toLowerCase());
    const total = state.names.length;
    setText(
      $("summary"),
      total + (total === 1 ? " service" : " services") + (parts.length ? ": " + parts.join(", ") : ""),
    );
  }

  // What the service's cgroups count, for the memory cell's tooltip; each
  // figure only where the kernel keeps it.
  function cgroupSummary(cg, limited) {
    const parts = [];
    if (limited) parts.push("cgroup memory (page cache included) of its limit");
    if (cg.memory_peak_bytes != null) parts.push("peak " + bytes(cg.memory_peak_bytes));
    if (cg.oom_kills) parts.push("OOM kills: " + cg.oom_kills);
    if (cg.pids_current != null) {
      parts.push("tasks " + cg.pids_current + (cg.pids_max != null ? " of " + cg.pids_max : ""));
    }
    if (cg.cpu_usage_seconds != null) parts.push("CPU " + cg.cpu_usage_seconds.toFixed(2) + " s");
    const p = cg.pressure || {};
    const psi = [["cpu", p.cpu_some_avg10], ["memory", p.memory_some_avg10], ["io", p.io_some_avg10]]
      .filter(([, v]) => v != null)
      .map(([k, v]) => k + " " + v.toFixed(1) + " %");
    if (psi.length) parts.push("pressure (10 s) " + psi.join(", "));
    return parts.join("; ");
  }

  // ---- dependencies ----------------------------------------------------

  function renderDeps() {
    const tbody = document.querySelector("#deps tbody");
    const neededBy = new Map();
    for (const name of state.names) {
      const after = orderedAfter(state.status.get(name)).after;
      for (const dep of Object.keys(after)) {
        if (!neededBy.has(dep)) neededBy.set(dep, []);
        neededBy.get(dep).push(name);
      }
    }
    const rows = [];
    for (const name of state.names) {
      const status = state.status.get(name) || {};
      const { after, kinds } = orderedAfter(status);
      const waits = Object.keys(after);
      const conflicts = Object.keys(status.conflicts || {});
      const needed = neededBy.get(name) || [];
      const why = state.why.get(name);
      const look = describe(name);
      const waitCell = el("td");
      if (waits.length === 0) waitCell.append(el("span", { class: "dim", text: "nothing" }));
      else {
        const list = el("span", { class: "deplist" });
        for (const dep of waits) {
          const [word] = splitState(after[dep]);
          const kind = ready(after[dep]) ? "ok" : KIND[word] || "off";
          const how = kinds[dep] ? " (" + kinds[dep] + ")" : "";
          list.append(el("span", { class: "badge " + kind, text: dep + ": " + word + how, title: after[dep] }));
        }
        waitCell.append(list);
      }
      if (conflicts.length) {
        const list = el("span", { class: "deplist" });
        for (const other of conflicts) {
          list.append(el("span", { class: "badge off", text: "conflicts with " + other, title: status.conflicts[other] }));
        }
        waitCell.append(list);
      }
      const whyCell = el("td", { class: "why" });
      // What the run lacks of its file (a limit not applied), whatever its state.
      const warnings = status.warnings || [];
      if (warnings.length) {
        whyCell.append(el("ul", { class: "warnings" }, ...warnings.map((t) => el("li", { text: "⚠ " + t }))));
      }
      if (why && look.label !== "Running") {
        whyCell.append(el("span", { text: why.summary }));
        const more = [];
        if (why.blocked_by && why.blocked_by.length) more.push("Blocked by " + why.blocked_by.join(" → "));
        for (const d of why.details || []) more.push(d);
        if (more.length) whyCell.append(el("ul", { class: "details" }, ...more.map((t) => el("li", { text: t }))));
      } else {
        whyCell.append(el("span", { class: "dim", text: look.label === "Running" ? "running" : "—" }));
      }
      rows.push(
        el(
          "tr",
          { "data-service": name },
          el("th", { scope: "row", text: name }),
          waitCell,
          el("td", { class: needed.length ? "" : "dim", text: needed.length ? needed.join(", ") : "nothing" }),
          whyCell,
        ),
      );
    }
    // Rebuilt only when something changed (it holds no controls).
    const signature = JSON.stringify(rows.map((r) => r.textContent));
    if (tbody.dataset.signature !== signature) {
      tbody.replaceChildren(...rows);
      tbody.dataset.signature = signature;
    }
  }

  // ---- log view --------------------------------------------------------

  function logParams() {
    const params = {};
    if (state.log.name) params.name = state.log.name;
    if (state.log.after == null) params.last = FIRST_LOG_LINES;
    else params.after_seq = state.log.after;
    return params;
  }

  function matches(node) {
    const filter = state.log.filter;
    return !filter || node.dataset.search.includes(filter);
  }

  function appendLog(page, resumed, generation) {
    if (generation !== state.log.generation) return; // the view changed meanwhile
    const box = $("log");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const fragment = document.createDocumentFragment();
    if (resumed && page.missed !== 0) {
      const text =
        page.missed == null
          ? "Some lines were dropped by zinit before this view read them"
          : page.missed + (page.missed === 1 ? " line" : " lines") + " dropped by zinit before this view read them";
      const gap = el("div", { class: "gap", role: "note", text: "— " + text + " —", "data-search": "" });
      fragment.append(gap);
    }
    for (const line of page.lines) {
      const err = line.stream === "stderr";
      const node = el(
        "div",
        { class: err ? "line err" : "line", "data-seq": String(line.seq) },
        el("time", { dateTime: line.time, text: logTime(line.time) }),
        el("span", { class: "svc", text: line.service }),
        el("span", { class: "stream " + (err ? "err" : "out"), text: err ? "err" : "out", title: line.stream }),
        el("span", { class: "text", text: line.text + (line.truncated ? " [cut]" : "") }),
      );
      node.dataset.search = (line.service + " " + line.text).toLowerCase();
      node.hidden = !matches(node);
      fragment.append(node);
    }
    box.append(fragment);
    state.log.count += page.lines.length;
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
    state.log.after = Math.max(0, page.next_seq - 1);
    if (atBottom || state.log.stick) {
      box.scrollTop = box.scrollHeight;
      state.log.stick = false;
    }
    renderLogStatus();
  }

  function renderLogStatus() {
    const what = state.log.name ? "Following " + state.log.name : "Following all services";
    const shown = $("log").querySelectorAll(".line:not([hidden])").length;
    const total = $("log").querySelectorAll(".line").length;
    let text = state.log.paused ? "Paused: new lines are fetched on resume" : what;
    text += " · " + (shown === total ? total + " lines" : shown + " of " + total + " lines match");
    setText($("log-status"), text);
  }

  function resetLog() {
    state.log.generation += 1;
    state.log.after = null;
    state.log.stick = true;
    $("log").replaceChildren();
    renderLogStatus();
  }

  function updateLogChoices() {
    const select = $("log-service");
    const wanted = ["", ...state.names];
    const have = Array.from(select.options).map((o) => o.value);
    if (JSON.stringify(have) === JSON.stringify(wanted)) return;
    const current = select.value;
    select.replaceChildren(
      el("option", { value: "", text: "All services" }),
      ...state.names.map((n) => el("option", { value: n, text: n })),
    );
    select.value = wanted.includes(current) ? current : "";
  }

  // ---- refresh loop ----------------------------------------------------

  async function tick() {
    const calls = [{ method: "system_metrics" }];
    const handlers = [applyMetrics];
    const names = state.names.slice();
    for (const name of names) {
      calls.push({ method: "service_status", params: { name } });
      handlers.push((a) => keep(state.status, name, a));
      const m = state.metrics.get(name);
      if (m && m.pid) {
        calls.push({ method: "service_stats", params: { name } });
        handlers.push((a) => keep(state.stats, name, a));
      } else {
        state.stats.delete(name);
      }
      if (!m || splitState(m.state)[0] !== "Running") {
        calls.push({ method: "service_why", params: { name } });
        handlers.push((a) => keep(state.why, name, a));
      }
    }
    if (!state.log.paused) {
      const generation = state.log.generation;
      const resumed = state.log.after != null;
      calls.push({ method: "stream_readLogs", params: logParams() });
      handlers.push((a) => {
        if (a.result) appendLog(a.result, resumed, generation);
        else if (generation === state.log.generation) showFeedback("Cannot read logs: " + a.error.message, true);
      });
    }
    const answers = await batch(calls);
    // The token was forgotten or refused meanwhile: show nothing.
    if (state.stopped) return false;
    // Shown before the first render, so the log can scroll to its end.
    if (!state.authorised) authorised();
    answers.forEach((answer, i) => handlers[i](answer));
    const before = names.join("\n");
    updateAll();
    return before !== state.names.join("\n");
  }

  function keep(map, name, answer) {
    if (answer.result) map.set(name, answer.result);
    else map.delete(name);
  }

  function applyMetrics(answer) {
    if (answer.error) throw new RpcError(answer.error);
    const services = answer.result.services || [];
    state.metrics = new Map(services.map((s) => [s.name, s]));
    state.names = services.map((s) => s.name).sort();
    for (const map of [state.status, state.stats, state.why]) {
      for (const name of map.keys()) if (!state.metrics.has(name)) map.delete(name);
    }
    state.daemon = answer.result.process || {};
  }

  function updateAll() {
    renderServices();
    renderDeps();
    updateLogChoices();
  }

  function setConnection(kind, text) {
    setClass($("conn"), "conn " + kind);
    setText($("conn-text"), text);
  }

  // One loop: a tick at most once a second; schedule() asks for an early
  // one (after an action), never two at once.
  async function loop() {
    if (state.running) {
      state.again = true;
      return;
    }
    clearTimeout(state.timer);
    state.running = true;
    state.lastTick = performance.now();
    let soon = false;
    try {
      soon = await tick();
      if (state.stopped) {
        state.running = false;
        return;
      }
      if (!state.firstData) {
        state.firstData = true;
        performance.mark("zinit-first-data");
      }
      const memory = state.daemon && state.daemon.rss_bytes ? " · zinit " + bytes(state.daemon.rss_bytes) : "";
      setConnection("live", "Live · updated " + clock(new Date()) + memory);
    } catch (e) {
      state.running = false;
      if (e instanceof HttpError && e.status === 401) {
        refused();
        return;
      }
      setConnection("down", "Cannot update: " + e.message);
    }
    state.running = false;
    if (state.stopped) return;
    const again = state.again || soon;
    state.again = false;
    const wait = again ? 150 : Math.max(0, TICK_MS - (performance.now() - state.lastTick));
    state.timer = setTimeout(loop, document.hidden ? Math.max(wait, 10 * TICK_MS) : wait);
  }

  function schedule() {
    if (state.stopped) return;
    if (state.running) state.again = true;
    else {
      clearTimeout(state.timer);
      state.timer = setTimeout(loop, 0);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.authorised) schedule();
  });

  // ---- token -----------------------------------------------------------

  // A 401: forget the token that did not work and ask again.
  function refused() {
    const had = state.token;
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = "";
    askForToken(had ? "The proxy refused this token. Check it and try again." : "");
  }

  function askForToken(message) {
    state.stopped = true;
    state.authorised = false;
    clearTimeout(state.timer);
    $("app").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    setConnection("", "Token required");
    setText($("login-message"), message);
    const input = $("token");
    input.value = "";
    input.focus();
  }

  function authorised() {
    state.authorised = true;
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = !state.token;
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    setText($("login-message"), "");
    state.stopped = false;
    resetLog();
    schedule();
  });

  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = "";
    askForToken("Token forgotten. Enter it again to continue.");
  });

  // ---- actions ---------------------------------------------------------

  let feedbackTimer = 0;
  function showFeedback(text, error) {
    const box = $("feedback");
    clearTimeout(feedbackTimer);
    box.replaceChildren(el("span", { class: error ? "msg error" : "msg", text }));
    feedbackTimer = setTimeout(() => box.replaceChildren(), FEEDBACK_MS);
  }

  function refusal(e) {
    if (e instanceof RpcError) {
      const name = e.data && e.data.code_name ? e.data.code_name + ", " : "";
      return e.message + " (" + name + e.code + ")";
    }
    return e.message;
  }

  // Run one action; say what happened, or the daemon's refusal in its
  // own words.
  async function act(name, button, method, verb, params, done) {
    button.setAttribute("aria-busy", "true");
    try {
      await call(method, params || { name });
      showFeedback(name + ": " + (done || verb + " requested"), false);
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) {
        refused();
        return;
      }
      showFeedback("Could not " + verb + " " + name + ": " + refusal(e), true);
    } finally {
      button.removeAttribute("aria-busy");
    }
    schedule();
  }

  let killTarget = null;
  function openKill(name, button) {
    killTarget = { name, button };
    setText($("kill-name"), name);
    $("kill-dialog").showModal();
    $("kill-signal").focus();
  }

  $("kill-cancel").addEventListener("click", () => $("kill-dialog").close());
  $("kill-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const signal = $("kill-signal").value;
    $("kill-dialog").close();
    if (!killTarget) return;
    const { name, button } = killTarget;
    button.focus();
    act(name, button, "service_kill", "send " + signal + " to", { name, signal }, signal + " sent");
  });

  // ---- log controls ----------------------------------------------------

  $("log-service").addEventListener("change", (event) => {
    state.log.name = event.target.value;
    resetLog();
    schedule();
  });

  $("log-filter").addEventListener("input", (event) => {
    state.log.filter = event.target.value.trim().toLowerCase();
    for (const node of $("log").children) {
      if (node.classList.contains("line")) node.hidden = !matches(node);
    }
    renderLogStatus();
  });

  $("log-pause").addEventListener("click", (event) => {
    state.log.paused = !state.log.paused;
    const button = event.currentTarget;
    button.setAttribute("aria-pressed", String(state.log.paused));
    button.textContent = state.log.paused ? "Resume" : "Pause";
    renderLogStatus();
    if (!state.log.paused) schedule();
  });

  $("log-clear").addEventListener("click", () => {
    // Keeps the position: only lines after the last one read come next.
    $("log").replaceChildren();
    renderLogStatus();
  });

  // ---- start -----------------------------------------------------------

  setText($("origin"), location.host);
  renderLogStatus();
  loop();
})();
