// 模拟手机: send what is typed to POST /api/v1/simulate and show the bot's reply as a bubble.
"use strict";
(() => {
  const screen = document.getElementById("sim-screen");
  const form = document.getElementById("sim-form");
  const input = document.getElementById("sim-text");
  const send = document.getElementById("sim-send");
  const channel = document.getElementById("sim-channel");
  const phone = document.getElementById("sim-phone");

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
      const data = await nb.api("POST", "/api/v1/simulate", {phone: phone.value.trim(), channel: channel.value, text});
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

  // A different person or channel is a different conversation: say so on the screen.
  for (const field of [channel, phone]) {
    field.addEventListener("change", () => {
      const name = channel.value === "sms" ? "短信" : "微信";
      const line = document.createElement("p");
      line.className = "muted";
      line.textContent = "—— 现在以 " + phone.value.trim() + " 的身份通过" + name + "发送 ——";
      screen.appendChild(line);
    });
  }
})();
