// 农户 page: upload a CSV to the API, follow its NDJSON progress stream, then show the report.
"use strict";
(() => {
  const form = document.getElementById("import-form");
  if (!form) return;
  const box = document.getElementById("import-progress");
  const bar = box.querySelector(".progress");
  const fill = bar.querySelector("span");
  const status = document.getElementById("import-status");
  const reportBox = document.getElementById("import-report");
  const summary = document.getElementById("import-summary");
  const errors = document.getElementById("import-errors");
  const button = form.querySelector("button[type=submit]");

  function setProgress(done, total) {
    const pct = total > 0 ? Math.round((done / total) * 100) : 100;
    fill.style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
    status.textContent = `已保存 ${done} / ${total} 人（${pct}%）`;
  }

  function showReport(report) {
    const parts = [`导入完成：新增 ${report.created} 人，更新资料 ${report.updated} 人`];
    if (report.unchanged) parts.push(`资料没有变化 ${report.unchanged} 人`);
    let text = parts.join("，") + "。";
    if (report.opted_out) text += `其中 ${report.opted_out} 人此前已退订，仍保持退订，不会收到推送。`;
    text += report.errors.length ? `${report.errors.length} 行有错没有导入，见下表，改正后重新导入即可。` : "没有出错的行。";
    summary.textContent = text;
    summary.className = report.errors.length ? "flash err" : "flash ok";
    const body = errors.querySelector("tbody");
    body.replaceChildren();
    for (const item of report.errors) {
      const row = body.insertRow();
      row.insertCell().textContent = `第 ${item.line} 行`;
      row.insertCell().textContent = item.error;
    }
    errors.hidden = report.errors.length === 0;
    reportBox.hidden = false;
  }

  function fail(message) {
    summary.textContent = message;
    summary.className = "flash err";
    errors.hidden = true;
    reportBox.hidden = false;
  }

  async function upload(file) {
    const response = await fetch(form.dataset.url, {
      method: "POST", credentials: "same-origin", body: file,
      headers: {"Content-Type": "text/csv", "Accept": "application/x-ndjson", "X-CSRF-Token": nb.csrf()},
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      if (response.status === 413) throw new Error("文件太大（最多 20 MB），请分成几个文件导入。");
      if (response.status === 401 || response.status === 403) throw new Error("登录已过期，请刷新页面重新登录后再导入。");
      throw new Error("导入失败：" + (data.error || ("HTTP " + response.status)));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    let finished = false;
    let total = 0;
    for (;;) {
      const {value, done} = await reader.read();
      if (value) buffered += decoder.decode(value, {stream: true});
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) continue;
        const item = JSON.parse(line);
        if (item.report) { setProgress(total, total); showReport(item.report); finished = true; }
        else if (item.error) { fail(item.error); finished = true; }
        else { total = item.total; setProgress(item.done, item.total); }
      }
      if (done) break;
    }
    if (!finished) fail("连接中断，导入可能没有完成。请刷新名单查看，需要时重新导入同一个文件（已导入的行不会重复）。");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    reportBox.hidden = true;
    if (file.size > Number(form.dataset.maxBytes)) { fail("文件太大（最多 20 MB），请分成几个文件导入。"); return; }
    box.hidden = false;
    fill.style.width = "0%";
    status.textContent = "正在上传……";
    button.disabled = true;
    try {
      await upload(file);
    } catch (err) {
      fail(err instanceof TypeError ? "网络连接失败或中断，请检查网络后重试。" : (err.message || "导入失败，请稍后再试。"));
    } finally {
      button.disabled = false;
    }
  });
})();
