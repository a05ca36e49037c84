// 模拟手机: send what is typed to POST /api/v1/simulate (as the officer's own sandbox villager, never a
// real one) and show the bot's reply as a bubble.
"use strict";
(() => {
  const screen = document.getElementById("sim-screen");
  const form = document.getElementById("sim-form");
  const input = document.getElementById("sim-text");
  const send = document.getElementById("sim-send");
  const channel = document.getElementById("sim-channel");
  const status = document.getElementById("sim-status");
  const STATUS = {active: "接收推送", opted_out: "已退订（TD）"};

  function showStatus(sandbox) {
    if (sandbox) status.textContent = STATUS[sandbox.status] || sandbox.status;
  }

  function line(text) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    screen.appendChild(p);
    screen.scrollTop = screen.scrollHeight;
  }

  function bubble(who, text, note) {
    const div = document.createElement("div");
    div.className = "bubble " + who;
    div.textContent = text;
    if (note) {
      const small = document.createElement("div");
      small.className = "muted";
      small.textContent = note;
      div.appendChild(small);
    }
    screen.appendChild(div);
    screen.scrollTop = screen.scrollHeight;
    return div;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || send.disabled) return;
    bubble("me", text);
    input.value = "";
    send.disabled = true;
    try {
      const data = await nb.api("POST", "/api/v1/simulate", {channel: channel.value, text});
      showStatus(data.sandbox);
      const note = data.handed_to_officer ? "（没有答准，已转到问答收件箱等农技员回复）" : "";
      bubble("bot", data.reply || "（机器人没有回复）", note);
    } catch (err) {
      bubble("bot", "发送失败：" + err.message).classList.add("error");
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  document.getElementById("sim-quick").addEventListener("click", (event) => {
    const chip = event.target.closest("button[data-text]");
    if (!chip) return;
    input.value = chip.dataset.text;
    input.focus();
  });

  // Another channel is another way of reaching the bot: say so on the screen.
  channel.addEventListener("change", () => {
    line("—— 现在通过" + (channel.value === "sms" ? "短信" : "微信") + "发送（仍是您的模拟农户） ——");
  });

  document.getElementById("sim-reset").addEventListener("click", async () => {
    try {
      const data = await nb.api("POST", "/api/v1/simulate/reset");
      showStatus(data.sandbox);
      line("—— 已重新开始：模拟农户的登记、订阅和对话都已清空 ——");
    } catch (err) {
      line("重新开始失败：" + err.message);
    }
  });
})();
