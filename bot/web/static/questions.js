// 问答收件箱: live character and SMS-segment count under the reply box (same rules as bot/sms.py).
"use strict";
(() => {
  const box = document.getElementById("reply-text");
  const out = document.getElementById("reply-count");
  if (!box || !out) return;
  const GSM = new Set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
  const EXT = new Set("^{}\\[~]|€\f");
  const chars = (text) => Array.from(text);
  function segments(text) {
    const all = chars(text);
    let used, single, multi;
    if (all.every((c) => GSM.has(c) || EXT.has(c))) {
      used = all.reduce((n, c) => n + (EXT.has(c) ? 2 : 1), 0); single = 160; multi = 153;
    } else {
      used = text.length; single = 70; multi = 67;  // UTF-16 code units = UCS-2 units
    }
    if (used === 0) return 0;
    return used <= single ? 1 : Math.ceil(used / multi);
  }
  function update() {
    const count = chars(box.value).length;
    if (box.dataset.channel !== "sms") {
      out.textContent = `${count} 字（微信消息，不按条计费）`;
      return;
    }
    const signature = box.dataset.signature || "";
    const max = Number(box.dataset.maxSegments) || 3;
    const parts = count ? segments(signature + box.value) : 0;
    let text = `${count} 字，加上签名“${signature}”共 ${parts} 条短信`;
    if (parts > max) text += `，超过 ${max} 条：费用更高，请尽量精简`;
    out.textContent = text;
    out.className = parts > max ? "flash err" : "hint";
  }
  box.addEventListener("input", nb.debounce(update, 150));
  update();
})();
