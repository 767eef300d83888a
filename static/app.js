// TinyStudio pages work without JavaScript (forms post and redirect); this
// file adds what needs it: batched uploads with progress, folder uploads,
// drag and drop, and selecting samples in the grid.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  setUpUpload();
  setUpSelection();
});

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
  let sent = 0, stored = 0, failed = 0;
  button.disabled = true;
  panel.hidden = false;
  errors.replaceChildren();
  const fail = (text) => { const li = document.createElement("li"); li.textContent = text; errors.append(li); };

  for (const batch of batches(items)) {
    const body = new FormData();
    for (const name of ["labelMode", "label", "category"]) body.append(name, options.get(name) || "");
    for (const { file, path } of batch) body.append("data", file, path);
    const batchBytes = batch.reduce((n, c) => n + c.file.size, 0);
    try {
      const reply = await post(form.action, body, (loaded) => {
        fill.style.width = `${Math.min(100, (100 * (sent + loaded * batchBytes)) / total)}%`;
      });
      for (const f of reply.files || []) {
        if (f.success) stored++; else { failed++; fail(f.error || `${f.fileName}: failed`); }
      }
      if (!reply.files) { failed += batch.length; fail(reply.error || "upload failed"); }
    } catch (err) {
      failed += batch.length;
      fail(String(err));
    }
    sent += batchBytes;
    fill.style.width = `${(100 * sent) / total}%`;
    status.textContent = `Uploaded ${stored} of ${items.length} files${failed ? `, ${failed} failed` : ""}…`;
  }
  status.textContent = `Done: ${stored} of ${items.length} files stored${failed ? `, ${failed} failed` : ""}.`;
  button.disabled = false;
  const link = document.createElement("a");
  link.href = location.pathname;
  link.textContent = " Show the dataset";
  status.append(link);
}

// XHR rather than fetch: only XHR reports upload progress.
function post(url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
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
