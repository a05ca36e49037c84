// Broadcast pages: the compose form's live recipient preview, and live progress on a broadcast's page.
"use strict";

// --- compose: count recipients while the officer ticks boxes and types ------------------------
(function compose() {
  const form = document.getElementById("compose");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const checked = (name) => Array.from(form.querySelectorAll(`input[name="${name}"]:checked`), (i) => i.value);
  const channelNames = {sms: "短信", wechat: "微信"};

  function showMode() {
    const mode = (form.querySelector('input[name="schedule"]:checked') || {}).value || "now";
    form.querySelectorAll("fieldset[data-mode]").forEach((f) => { f.hidden = f.dataset.mode !== mode; });
  }

  function showText() {
    const text = form.elements.text.value;
    $("text-count").textContent = text.trim().length;
    $("pv-text").textContent = $("pv-text").dataset.signature + text.trim();
  }

  let asked = 0;
  async function preview() {
    const mine = ++asked;
    const audience = {};
    for (const name of ["townships", "villages", "crops", "topics", "channels"]) {
      const values = checked(name);
      if (values.length) audience[name] = values;
    }
    try {
      const p = await nb.api("POST", "/api/v1/broadcasts/preview", {text: form.elements.text.value.trim(), audience});
      if (mine !== asked) return; // an older answer arriving late
      $("pv-error").hidden = true;
      $("pv-recipients").textContent = p.recipients;
      const split = Object.entries(p.by_channel).map(([c, n]) => `${channelNames[c] || c} ${n} 人`);
      $("pv-channels").textContent = split.join(" · ");
      $("pv-segments").textContent = p.by_channel.sms
        ? `每条短信 ${p.sms_segments} 条计费（含签名），共 ${p.sms_segments_total} 条`
        : "不发短信";
      $("pv-cost").textContent = `短信费用约 ¥${p.estimated_cost_yuan.toFixed(2)}`;
      // Placeholders ({价格:水果}) as they would be filled today, each price with its market.
      if (typeof p.text === "string") $("pv-text").textContent = $("pv-text").dataset.signature + p.text;
      if ($("pv-filled")) $("pv-filled").hidden = !p.filled;
    } catch (error) {
      if (mine !== asked) return;
      $("pv-error").textContent = "无法计算人数：" + error.message;
      $("pv-error").hidden = false;
    }
  }

  const later = nb.debounce(preview, 400);
  form.addEventListener("input", (event) => {
    if (event.target.name === "text") showText();
    later();
  });
  form.addEventListener("change", () => { showMode(); later(); });
  showMode();
  showText();
  preview();
})();

// --- details: poll the API every 2 s while the broadcast is sending -------------------------
(function progress() {
  const root = document.getElementById("broadcast");
  if (!root || root.dataset.poll !== "1") return;
  const names = JSON.parse(document.getElementById("broadcast-names").textContent);
  const badge = document.getElementById("broadcast-state");
  const shownRuns = Number(root.dataset.runs);
  const WAIT_LIMIT = Date.now() + 15 * 60 * 1000; // a firing due soon: wait this long for it at most
  let waiting = true;

  function skipReason(note) {
    const found = /missed by (\d+) min/.exec(note || "");
    return found ? `服务停机，错过发送时间 ${found[1]} 分钟，已超过补发时限` : (note || "已跳过");
  }

  // The same words as progress() in broadcasts/pages.py.
  function label(run) {
    const done = run.sent + run.failed;
    const counted = `已发送 ${done} / ${run.targeted}`;
    if (run.state === "skipped") return "未发送：" + skipReason(run.note);
    if (["done", "cancelled", "paused"].includes(run.state)) return `${names.runs[run.state]} · ${counted}`;
    return counted;
  }

  function percent(run) {
    if (run.state === "skipped") return 0;
    if (run.state === "done" || !run.targeted) return 100;
    return Math.min(100, Math.round((run.sent + run.failed) * 100 / run.targeted));
  }

  function showRun(run) {
    const box = root.querySelector(`[data-run-id="${run.id}"]`);
    if (!box) return false;
    const bar = box.querySelector(".progress");
    bar.dataset.state = run.state;
    bar.querySelector("span").style.width = percent(run) + "%";
    box.querySelector('[data-field="label"]').textContent = label(run);
    const state = box.querySelector('[data-field="state"]');
    state.className = "badge " + run.state;
    state.textContent = names.runs[run.state] || run.state;
    const counts = {...run.by_state, targeted: run.targeted, opted_out_since: run.opted_out_since,
                    replies_24h: run.replies_24h};
    box.querySelectorAll("[data-count]").forEach((cell) => { cell.textContent = counts[cell.dataset.count] ?? 0; });
    const reasons = Object.entries(run.failed_by_reason).sort()
      .map(([code, n]) => `${code === "None" ? "未说明原因" : "错误码 " + code} ${n} 条`);
    box.querySelector('[data-field="reasons"]').textContent = reasons.length ? "失败原因：" + reasons.join("；") : "";
    return true;
  }

  async function poll() {
    let data;
    try {
      data = await nb.api("GET", `/api/v1/broadcasts/${root.dataset.id}?runs=20`);
    } catch (error) {
      setTimeout(poll, 5000); // the server restarting: try again a little later
      return;
    }
    const complete = data.runs.map(showRun).every(Boolean);
    if (!complete || data.run_count !== shownRuns || data.state !== badge.dataset.state) {
      // A new run or a new state: the server draws the page (and its buttons) again, without the old flash.
      window.location.replace(window.location.pathname);
      return;
    }
    const live = data.state === "sending" || data.runs.some((r) => ["enqueuing", "sending"].includes(r.state));
    if (live) waiting = false;
    if (live || (waiting && Date.now() < WAIT_LIMIT)) setTimeout(poll, 2000);
  }

  setTimeout(poll, 2000);
})();
