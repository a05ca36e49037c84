// Knowledge base editor: live SMS/WeChat preview while typing, and the 试问 box (asks the live index).
"use strict";
(() => {
  const el = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };

  const form = document.getElementById("article-form");
  if (form) {
    const status = document.getElementById("preview-status");
    const pages = document.getElementById("sms-pages");
    const total = document.getElementById("sms-total");
    const wechat = document.getElementById("wechat-text");
    const forbidden = document.getElementById("preview-forbidden");
    let asked = 0;

    const show = (data) => {
      const sms = data.sms;
      pages.replaceChildren();
      if (!sms.pages.length) pages.append(el("p", "填写摘要或正文后在这里显示。", "muted"));
      sms.pages.forEach((page, i) => {
        const box = el("div", undefined, "sms-page");
        box.append(el("p", `第 ${i + 1} 页 · ${page.chars} 字 · 按 ${page.segments} 条短信计费`, "muted"),
                   el("pre", page.text, "sms"));
        pages.append(box);
      });
      total.textContent = sms.pages.length
        ? `第一页按 ${sms.first_segments} 条计费；农户读完全部 ${sms.pages.length} 页共 ${sms.segments} 条，约 ${sms.cost_yuan} 元/人。`
        : "";
      wechat.textContent = data.wechat;
      forbidden.replaceChildren(...data.forbidden.map((text) => el("li", text)));
      forbidden.hidden = !data.forbidden.length;
    };

    const refresh = nb.debounce(async () => {
      const values = new FormData(form);
      const mine = ++asked;
      try {
        const data = await nb.api("POST", "/api/v1/articles/preview", {
          title: values.get("title"), summary: values.get("summary"), body: values.get("body"),
          crops: values.getAll("crops"),
        });
        if (mine !== asked) return; // an older answer arriving after a newer one
        show(data);
        status.textContent = "边写边更新（按当前填写的内容，尚未保存）。";
      } catch (err) {
        if (mine === asked) status.textContent = "预览暂时无法更新：" + err.message;
      }
    }, 400);
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
  }

  const tryForm = document.getElementById("try-ask");
  if (tryForm) {
    const result = document.getElementById("try-result");
    const current = tryForm.dataset.article;
    tryForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = tryForm.elements.q.value.trim();
      if (!q) return;
      result.replaceChildren(el("p", "正在查……", "muted"));
      try {
        const data = await nb.api("GET", "/api/v1/search?limit=5&q=" + encodeURIComponent(q));
        const badge = data.answered ? el("span", "直接回答", "badge ok") : el("span", "不直接回答，转农技员", "badge warn");
        const list = el("ol");
        data.hits.forEach((hit) => {
          const item = el("li");
          const link = el("a", hit.title);
          link.href = "/admin/articles/" + hit.id;
          item.append(link, el("span", ` ${hit.relevance}`, "muted"));
          if (String(hit.id) === current) item.append(" ", el("span", "本篇", "badge ok"));
          list.append(item);
        });
        const found = data.hits.some((hit) => String(hit.id) === current);
        const rows = [el("p"), el("pre", data.answer, "sms")];
        rows[0].append(badge);
        if (current && !found) rows.push(el("p", "本篇不在前 5 名里：可以在关键词里加上农户的这种说法。", "hint"));
        if (data.hits.length) rows.push(el("p", "检索排名：", "muted"), list);
        result.replaceChildren(...rows);
      } catch (err) {
        result.replaceChildren(el("p", "查询失败：" + err.message, "flash err"));
      }
    });
  }
})();
