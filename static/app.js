// TinyStudio pages work without JavaScript (forms post and redirect); this
// file adds what needs it: batched uploads with progress, folder uploads,
// drag and drop, and selecting samples in the grid.
"use strict";

// A signed-in page carries its session's CSRF token; every request a
// script makes with the session cookie sends it back (see API.md). Also
// used by board.js and capture.js.
const csrfHeaders = () => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  return token ? { "x-csrf-token": token } : {};
};

document.addEventListener("DOMContentLoaded", () => {
  setUpUpload();
  setUpSelection();
  setUpConfirm();
  setUpSampleSearch();
});

// The emulated run's sample picker: a search box narrows the list (file
// names and labels); without JavaScript the box stays hidden.
function setUpSampleSearch() {
  for (const box of document.querySelectorAll("input.sample-search[data-picker]")) {
    const select = document.getElementById(box.dataset.picker);
    if (!select) continue;
    box.hidden = false;
    box.addEventListener("input", () => {
      const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      let first = null;
      for (const group of select.querySelectorAll("optgroup")) {
        let shown = 0;
        for (const option of group.querySelectorAll("option")) {
          const text = option.textContent.toLowerCase();
          const match = words.every((w) => text.includes(w));
          option.hidden = !match;
          option.disabled = !match;
          if (match) { shown++; first ??= option; }
        }
        group.hidden = shown === 0;
      }
      if (first && (select.selectedOptions[0]?.hidden ?? true)) first.selected = true;
    });
  }
}

// Forms with data-confirm ask first (e.g. deleting a sample). Without
// JavaScript they post at once.
function setUpConfirm() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
}

// After an upload: the counts, the grid and its total as the server now
// has them, without a reload (the filter and the page stay).
async function refreshDataset() {
  const reply = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!reply.ok) return;
  const fresh = new DOMParser().parseFromString(await reply.text(), "text/html");
  for (const id of ["counts", "sample-grid", "grid-total", "grid-empty"]) {
    const old = document.getElementById(id);
    const now = fresh.getElementById(id);
    if (old && now) old.replaceWith(now);
    else if (old) old.remove();
    else if (now && id === "grid-empty") document.getElementById("sample-grid")?.before(now);
  }
}

// Files per request and bytes per request: small enough for steady progress,
// large enough that per-request overhead does not dominate.
const BATCH_FILES = 25;
const BATCH_BYTES = 16 * 1024 * 1024;

function setUpUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const fileInput = document.getElementById("file-input");
  const folderInput = document.getElementById("folder-input");
  const dropzone = document.getElementById("dropzone");
  const picked = document.getElementById("picked");
  let chosen = []; // [{file, path}]

  const show = () => {
    const bytes = chosen.reduce((n, c) => n + c.file.size, 0);
    picked.textContent = chosen.length
      ? `${chosen.length} files chosen (${(bytes / 1048576).toFixed(1)} MB)`
      : "JPEG, PNG, BMP, GIF or WebP.";
  };
  fileInput.addEventListener("change", () => {
    chosen = [...fileInput.files].map((file) => ({ file, path: file.name }));
    show();
  });
  folderInput.addEventListener("change", () => {
    chosen = [...folderInput.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
    show();
  });
  dropzone.addEventListener("dragover", (e) => { e.preventDefault(); dropzone.classList.add("over"); });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", async (e) => {
    e.preventDefault();
    dropzone.classList.remove("over");
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    chosen = entries.length ? (await Promise.all(entries.map((en) => walk(en, "")))).flat()
                            : [...e.dataTransfer.files].map((file) => ({ file, path: file.name }));
    show();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!chosen.length) { picked.textContent = "Choose files or a folder first."; return; }
    await upload(form, chosen.filter((c) => !c.path.split("/").pop().startsWith(".")));
  });
}

// Reads a dropped file or folder recursively into [{file, path}].
function walk(entry, prefix) {
  return new Promise((resolve) => {
    if (entry.isFile) {
      entry.file((file) => resolve([{ file, path: prefix + file.name }]), () => resolve([]));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      const all = [];
      const next = () => reader.readEntries(async (batch) => {
        if (!batch.length) {
          resolve((await Promise.all(all.map((en) => walk(en, prefix + entry.name + "/")))).flat());
        } else { all.push(...batch); next(); }
      }, () => resolve([]));
      next();
    } else resolve([]);
  });
}

function batches(items) {
  const out = [];
  let current = [], bytes = 0;
  for (const item of items) {
    if (current.length && (current.length >= BATCH_FILES || bytes + item.file.size > BATCH_BYTES)) {
      out.push(current); current = []; bytes = 0;
    }
    current.push(item); bytes += item.file.size;
  }
  if (current.length) out.push(current);
  return out;
}

async function upload(form, items) {
  const button = document.getElementById("upload-button");
  const panel = document.getElementById("upload-progress");
  const fill = document.getElementById("upload-fill");
  const status = document.getElementById("upload-status");
  const errors = document.getElementById("upload-errors");
  const options = new FormData(form);
  const total = items.reduce((n, c) => n + c.file.size, 0) || 1;
  let sent = 0, stored = 0, skipped = 0, failed = 0;
  button.disabled = true;
  panel.hidden = false;
  errors.replaceChildren();
  const fail = (text) => { const li = document.createElement("li"); li.textContent = text; errors.append(li); };

  for (const batch of batches(items)) {
    const body = new FormData();
    for (const name of ["labelMode", "label", "category", "disallowDuplicates"]) body.append(name, options.get(name) || "");
    for (const { file, path } of batch) body.append("data", file, path);
    const batchBytes = batch.reduce((n, c) => n + c.file.size, 0);
    try {
      const reply = await post(form.action, body, (loaded) => {
        fill.style.width = `${Math.min(100, (100 * (sent + loaded * batchBytes)) / total)}%`;
      });
      for (const f of reply.files || []) {
        if (f.success) stored++;
        else if (f.duplicate) skipped++;
        else { failed++; fail(f.error || `${f.fileName}: failed`); }
      }
      if (!reply.files) { failed += batch.length; fail(reply.error || "upload failed"); }
    } catch (err) {
      failed += batch.length;
      fail(String(err));
    }
    sent += batchBytes;
    fill.style.width = `${(100 * sent) / total}%`;
    status.textContent = `Uploaded ${stored} of ${items.length} files${summary(skipped, failed)}…`;
  }
  status.textContent = `Done: ${stored} of ${items.length} files stored${summary(skipped, failed)}.`;
  status.classList.toggle("failed", failed > 0);
  button.disabled = false;
  try { await refreshDataset(); } catch { /* the link below still shows it */ }
  const link = document.createElement("a");
  link.href = location.pathname;
  link.textContent = " Show the dataset";
  status.append(link);
}

function summary(skipped, failed) {
  return (skipped ? `, ${skipped} already in the project (skipped)` : "") + (failed ? `, ${failed} failed` : "");
}

// XHR rather than fetch: only XHR reports upload progress.
function post(url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      try { resolve(JSON.parse(xhr.responseText)); }
      catch { reject(new Error(`HTTP ${xhr.status}`)); }
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send(body);
  });
}

function setUpSelection() {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");
  const boxes = () => [...form.querySelectorAll("input[name=ids]")];
  const update = () => {
    const n = boxes().filter((b) => b.checked).length;
    count.textContent = n ? `${n} selected` : "";
  };
  all.addEventListener("change", () => { boxes().forEach((b) => (b.checked = all.checked)); update(); });
  form.addEventListener("change", update);
  form.addEventListener("submit", (e) => {
    const action = form.elements.action.value;
    const n = boxes().filter((b) => b.checked).length;
    if (action === "delete" && !confirm(`Delete ${n} samples?`)) e.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpEstimate();
  setUpJob();
});

// The Impulse page: ask the server for the cost estimate as fields change.
function setUpEstimate() {
  const form = document.getElementById("impulse-form");
  if (!form) return;
  const n = (name) => Number(form.elements[name].value);
  const config = () => ({
    input: { width: n("width"), height: n("height"), resizeMode: form.elements.resizeMode.value },
    image: { colorDepth: form.elements.colorDepth.value },
    learning: {
      alpha: n("alpha"), denseNeurons: n("denseNeurons"), dropout: n("dropout"), epochs: n("epochs"),
      learningRate: n("learningRate"), batchSize: n("batchSize"), validationShare: n("validationShare") / 100,
      augmentation: form.elements.augmentation.checked, fineTuneBlocks: n("fineTuneBlocks"), seed: n("seed"),
      calibrationSamples: n("calibrationSamples"),
    },
  });
  const fmt = (x) => x.toLocaleString("en-US");
  const kb = (x) => `${(x / 1024).toFixed(1)} KB`;
  let pending = null;
  form.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const r = await fetch(form.dataset.estimate, {
        method: "POST", headers: { "content-type": "application/json", ...csrfHeaders() }, body: JSON.stringify(config()),
      });
      const e = await r.json();
      if (!r.ok) { document.getElementById("est-macs").textContent = e.error || "invalid"; return; }
      document.getElementById("est-parameters").textContent = fmt(e.parameters);
      document.getElementById("est-macs").textContent = fmt(e.macs);
      document.getElementById("est-flash").textContent = kb(e.flashBytes);
      document.getElementById("est-arena").textContent = kb(e.arenaBytes);
    }, 200);
  });
}

// A job's page: follow its events live and draw the training curves.
function setUpJob() {
  const panel = document.getElementById("job");
  if (!panel) return;
  const rows = document.querySelector("#epochs tbody"); // training jobs only
  const epochs = [...(rows ? rows.querySelectorAll("tr") : [])].map((tr) => {
    const c = [...tr.children].map((td) => td.textContent);
    return { epoch: +c[0], loss: +c[1], accuracy: parseFloat(c[2]) / 100, valLoss: +c[3], valAccuracy: parseFloat(c[4]) / 100 };
  });
  drawCurves(epochs);
  if (panel.dataset.running !== "true") return;
  const log = document.getElementById("log") || document.createElement("pre");
  const seen = log.textContent.split("\n").filter(Boolean).length;
  let logged = 0;
  const source = new EventSource(panel.dataset.events);
  source.addEventListener("log", (m) => {
    if (++logged <= seen) return; // already rendered by the server
    const { at, data } = JSON.parse(m.data);
    const time = new Date(at).toISOString().slice(11, 16);
    log.textContent += `${time}  ${data}\n`;
    log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("epoch", (m) => {
    const e = JSON.parse(m.data).data;
    if (!rows || epochs.some((x) => x.epoch === e.epoch)) return;
    epochs.push(e);
    const tr = document.createElement("tr");
    for (const v of [e.epoch, e.loss.toFixed(4), pct(e.accuracy), e.valLoss == null ? "" : e.valLoss.toFixed(4), pct(e.valAccuracy)]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    rows.append(tr);
    drawCurves(epochs);
  });
  source.addEventListener("status", (m) => {
    const job = JSON.parse(m.data);
    const progress = document.getElementById("job-progress");
    if (progress) progress.value = Math.round(job.progress * 100);
    const status = document.getElementById("job-status");
    status.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    status.className = `status ${job.status}`;
    if (["succeeded", "failed", "cancelled"].includes(job.status)) {
      source.close();
      setTimeout(() => location.reload(), 300); // show the final results
    }
  });
}

function pct(x) { return x == null ? "" : `${(x * 100).toFixed(1)}%`; }

// Loss (red, left axis) and accuracy (blue, right axis) per epoch; dashed
// lines are validation. The legend is in the page (#curves-legend).
function drawCurves(epochs) {
  const svg = document.getElementById("curves");
  if (!svg) return;
  const NS = "http://www.w3.org/2000/svg";
  const W = 600, H = 290, L = 56, R = 56, T = 12, B = 46;
  svg.replaceChildren();
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    svg.append(e);
    return e;
  };
  const n = Math.max(2, epochs.length ? epochs[epochs.length - 1].epoch : 2);
  const maxLoss = Math.max(0.1, ...epochs.flatMap((e) => [e.loss, e.valLoss].filter((v) => v != null && isFinite(v))));
  const x = (ep) => L + ((ep - 1) / Math.max(1, n - 1)) * (W - L - R);
  const yAcc = (a) => T + (1 - a) * (H - T - B);
  const yLoss = (l) => T + (1 - l / maxLoss) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = T + (i / 4) * (H - T - B);
    el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid-line" });
    el("text", { x: W - R + 4, y: y + 4, class: "axis-label" }, `${100 - i * 25}%`);
    el("text", { x: L - 4, y: y + 4, class: "axis-label", "text-anchor": "end" }, (maxLoss * (1 - i / 4)).toFixed(2));
  }
  el("text", { x: L, y: H - B + 16, class: "axis-label" }, "1");
  el("text", { x: W - R, y: H - B + 16, class: "axis-label", "text-anchor": "end" }, `${n}`);
  const mid = T + (H - T - B) / 2;
  el("text", { x: (L + W - R) / 2, y: H - 8, class: "axis-title", "text-anchor": "middle" }, "epoch");
  el("text", { x: 12, y: mid, class: "axis-title", "text-anchor": "middle", transform: `rotate(-90 12 ${mid})` }, "loss");
  el("text", { x: W - 10, y: mid, class: "axis-title", "text-anchor": "middle", transform: `rotate(90 ${W - 10} ${mid})` }, "accuracy");
  const line = (key, y, cls) => {
    const pts = epochs.filter((e) => e[key] != null && isFinite(e[key])).map((e) => `${x(e.epoch)},${y(e[key])}`);
    if (pts.length) el("polyline", { points: pts.join(" "), class: cls });
  };
  line("loss", yLoss, "loss");
  line("valLoss", yLoss, "val-loss");
  line("accuracy", yAcc, "acc");
  line("valAccuracy", yAcc, "val-acc");
}
