// The camera in the studio: the Capture panel (Dataset page, capture page,
// a phone's capture link) and live classification on the Test page. Pages
// render without this file and say that the camera needs JavaScript.
"use strict";

// `csrfHeaders` comes from app.js, which every page loads first (a second
// top-level declaration would stop this whole script with a SyntaxError).

document.addEventListener("DOMContentLoaded", () => {
  setUpCapture();
  setUpLive();
});

// Frames of this size are plenty for models of at most 320x320 and keep each
// upload small on a phone's connection.
const CAMERA_SIZE = { width: { ideal: 640 }, height: { ideal: 480 } };
// Live classification sends frames no larger than this (longer side): the
// model's input is at most 320 pixels, and smaller frames go faster.
const LIVE_MAX_SIDE = 480;

// Why the camera cannot open here, or null when it can.
function cameraProblem() {
  if (!window.isSecureContext) {
    return "Browsers open the camera only on https pages (or on localhost). Start the studio with --tls and open it at its https address.";
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "This browser cannot open a camera.";
  }
  return null;
}

// getUserMedia constraints for the camera select's value: "" (the default
// camera), "facing:user" / "facing:environment" (a phone's front or rear
// camera) or "device:ID" (one listed camera).
function constraintsFor(choice) {
  const video = { ...CAMERA_SIZE };
  if (choice.startsWith("facing:")) video.facingMode = { ideal: choice.slice(7) };
  if (choice.startsWith("device:")) video.deviceId = { exact: choice.slice(7) };
  return { video, audio: false };
}

// A camera on `video`, switched by `select`; calls onReady once it plays.
function camera(select, video, onError) {
  let stream = null;
  let listed = false;
  const stop = () => {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
  };
  const start = async () => {
    stop();
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraintsFor(select.value));
    } catch (err) {
      onError(`The camera did not open: ${err.message || err.name}`);
      return false;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    if (!listed) {
      listed = true;
      await listCameras(select);
    }
    return true;
  };
  select.addEventListener("change", start);
  return { start, stop, active: () => stream !== null };
}

// Device labels are only known once the person has allowed the camera, so
// the list is filled after the first stream opens.
async function listCameras(select) {
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  devices
    .filter((d) => d.kind === "videoinput")
    .forEach((d, i) => {
      const option = document.createElement("option");
      option.value = `device:${d.deviceId}`;
      option.textContent = d.label || `Camera ${i + 1}`;
      select.append(option);
    });
}

// The part of a w x h frame the impulse keeps, and where it lands in a
// W x H target, following images::preprocess: squash stretches the whole
// frame, fitShortest crops the centre, fitLongest pads with black.
function cropFor(w, h, W, H, mode) {
  if (mode === "fitShortest") {
    const scale = Math.max(W / w, H / h);
    const sw = W / scale, sh = H / scale;
    return { sx: (w - sw) / 2, sy: (h - sh) / 2, sw, sh, dx: 0, dy: 0, dw: W, dh: H };
  }
  if (mode === "fitLongest") {
    const scale = Math.min(W / w, H / h);
    const dw = w * scale, dh = h * scale;
    return { sx: 0, sy: 0, sw: w, sh: h, dx: (W - dw) / 2, dy: (H - dh) / 2, dw, dh };
  }
  return { sx: 0, sy: 0, sw: w, sh: h, dx: 0, dy: 0, dw: W, dh: H };
}

// ITU-R BT.601 luma in place, as images::luma_bt601 computes it.
function toGray(data) {
  for (let i = 0; i < data.length; i += 4) {
    const y = (19595 * data[i] + 38470 * data[i + 1] + 7471 * data[i + 2] + 32768) >>> 16;
    data[i] = data[i + 1] = data[i + 2] = y;
  }
}

function setUpCapture() {
  const panel = document.getElementById("capture-panel");
  if (!panel) return;
  const unavailable = document.getElementById("capture-unavailable");
  const problem = cameraProblem();
  if (problem) {
    unavailable.textContent = problem;
    unavailable.hidden = false;
    return;
  }
  document.getElementById("capture-ui").hidden = false;
  const $ = (id) => document.getElementById(id);
  const video = $("capture-video");
  const canvas = $("capture-canvas");
  const button = $("capture-button");
  const status = $("capture-status");
  const errors = $("capture-errors");
  const W = Number(panel.dataset.width), H = Number(panel.dataset.height);
  const mode = panel.dataset.resize;
  const gray = panel.dataset.grayscale === "true";
  const fail = (text) => {
    const li = document.createElement("li");
    li.textContent = text;
    errors.append(li);
  };
  const cam = camera($("capture-camera"), video, (text) => { status.textContent = text; });

  // The preview: the impulse's crop at a size people can frame with (the
  // model's own resolution scaled up to about 300 pixels wide).
  const zoom = Math.max(1, Math.round(300 / Math.max(W, H)));
  canvas.width = W * zoom;
  canvas.height = H * zoom;
  const ctx = canvas.getContext("2d", { willReadFrequently: gray });
  const draw = () => {
    if (video.videoWidth) {
      const c = cropFor(video.videoWidth, video.videoHeight, canvas.width, canvas.height, mode);
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(video, c.sx, c.sy, c.sw, c.sh, c.dx, c.dy, c.dw, c.dh);
      if (gray) {
        const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
        toGray(frame.data);
        ctx.putImageData(frame, 0, 0);
      }
    }
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);

  const modeInputs = [...document.querySelectorAll("input[name=capture-mode]")];
  const burst = () => modeInputs.find((i) => i.checked).value === "burst";
  // The camera opens when asked, not with every visit of the page.
  const setLabel = () => {
    button.textContent = !cam.active() ? "Start camera" : burst() ? "Start burst" : "Take photo";
  };
  modeInputs.forEach((i) => i.addEventListener("change", setLabel));

  let shot = 0;
  let newestTotal = -1;
  // Takes the whole frame (the crop is applied at training, so a later
  // impulse can crop differently) as a JPEG.
  const grab = () => new Promise((resolve) => {
    const frame = document.createElement("canvas");
    frame.width = video.videoWidth;
    frame.height = video.videoHeight;
    frame.getContext("2d").drawImage(video, 0, 0);
    frame.toBlob(resolve, "image/jpeg", 0.92);
  });
  const send = async (blob, label, category) => {
    const body = new FormData();
    body.append("labelMode", label ? "fixed" : "none");
    body.append("label", label);
    body.append("category", category);
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(".", "-").slice(0, 19);
    const base = (label || "capture").replace(/[^A-Za-z0-9_-]+/g, "_");
    body.append("data", blob, `${base}.${stamp}.${++shot}.jpg`);
    const headers = { Accept: "application/json", ...csrfHeaders() };
    if (panel.dataset.token) headers["x-capture-token"] = panel.dataset.token;
    const response = await fetch(panel.dataset.upload, { method: "POST", headers, body, credentials: "same-origin" });
    const reply = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
    return reply;
  };
  const show = (reply, blob) => {
    // Replies can arrive out of order; the counter keeps the newest counts.
    if (reply.counts && reply.counts.total >= newestTotal) {
      newestTotal = reply.counts.total;
      showCounts(reply.counts);
    }
    for (const f of reply.files || []) {
      if (!f.success) { fail(f.error || `${f.fileName}: not stored`); continue; }
      // The Dataset page shows new photos in its grid; other pages in a strip.
      if (document.getElementById("sample-grid")) addToGrid(panel.dataset.project, f);
      else addRecent(blob, f);
    }
  };

  button.addEventListener("click", async () => {
    if (!cam.active()) {
      button.disabled = true;
      await cam.start();
      button.disabled = false;
      setLabel();
      return;
    }
    if (!video.videoWidth) { status.textContent = "Waiting for the camera…"; return; }
    const label = $("capture-label").value.trim();
    const category = $("capture-category").value;
    const n = burst() ? Math.max(1, Math.min(100, Number($("capture-count").value) || 1)) : 1;
    const every = Math.max(50, Number($("capture-interval").value) || 250);
    button.disabled = true;
    errors.replaceChildren();
    let stored = 0, failed = 0;
    const pending = [];
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      // Shots keep their rhythm however long an upload takes.
      const wait = started + i * every - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const blob = await grab();
      status.textContent = n > 1 ? `Photo ${i + 1} of ${n}…` : "Saving…";
      pending.push(send(blob, label, category).then(
        (reply) => { show(reply, blob); stored += (reply.files || []).filter((f) => f.success).length; },
        (err) => { failed++; fail(String(err.message || err)); },
      ));
    }
    await Promise.all(pending);
    status.textContent = `Stored ${stored} of ${n} photo${n > 1 ? "s" : ""}${label ? ` labelled “${label}”` : ""}${failed ? `, ${failed} failed` : ""}.`;
    status.dataset.stored = String(Number(status.dataset.stored || 0) + stored);
    button.disabled = false;
  });
}

// The panel's per-label counter, rebuilt from the server's counts.
function showCounts(counts) {
  const body = document.querySelector("#capture-counts tbody");
  if (!body) return;
  body.replaceChildren(...counts.labels.map((l) => {
    const name = l.label == null ? "unlabeled" : l.label;
    const tr = document.createElement("tr");
    tr.dataset.label = name;
    for (const [text, cls] of [[name, ""], [l.training + l.testing, "count"], [l.training, ""], [l.testing, ""]]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }));
}

// The photos just taken, newest first, from the browser's own copy (a
// phone cannot read the project's thumbnails).
function addRecent(blob, file) {
  const strip = document.getElementById("capture-recent");
  if (!strip) return;
  const li = document.createElement("li");
  li.className = "card";
  const img = document.createElement("img");
  img.src = URL.createObjectURL(blob);
  img.alt = file.fileName;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${file.label || "unlabeled"} · ${file.category || ""}`;
  li.append(img, meta);
  strip.prepend(li);
  while (strip.children.length > 12) {
    URL.revokeObjectURL(strip.lastElementChild.querySelector("img").src);
    strip.lastElementChild.remove();
  }
}

// The Dataset page's grid: the stored sample, as the page would render it.
function addToGrid(project, file) {
  const grid = document.getElementById("sample-grid");
  if (!grid || !file.sampleId) return;
  const empty = document.getElementById("grid-empty");
  if (empty) empty.remove();
  const li = document.createElement("li");
  li.className = "card captured";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.name = "ids";
  box.value = file.sampleId;
  box.setAttribute("aria-label", `Select ${file.fileName}`);
  const link = document.createElement("a");
  link.href = `/projects/${project}/samples/${file.sampleId}`;
  const img = document.createElement("img");
  img.src = `/api/projects/${project}/samples/${file.sampleId}/thumbnail`;
  img.alt = file.fileName;
  link.append(img);
  const meta = document.createElement("div");
  meta.className = "meta";
  const label = document.createElement("span");
  label.className = file.label ? "label" : "label none";
  label.textContent = file.label || "unlabeled";
  const tag = document.createElement("span");
  tag.className = `tag ${file.category}`;
  tag.textContent = file.category;
  meta.append(label, tag);
  li.append(box, link, meta);
  grid.prepend(li);
  const total = document.getElementById("grid-total");
  if (total) {
    total.dataset.total = String(Number(total.dataset.total) + 1);
    total.textContent = `${total.dataset.total} matching`;
  }
}

// The Test page: classify the camera continuously with the selected model,
// one frame in flight at a time, and show the scores and the model's input.
function setUpLive() {
  const panel = document.getElementById("live-panel");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const problem = cameraProblem();
  if (problem) {
    $("live-unavailable").textContent = problem;
    $("live-unavailable").hidden = false;
    return;
  }
  $("live-ui").hidden = false;
  const video = $("live-video");
  const button = $("live-button");
  const status = $("live-status");
  const cam = camera($("live-camera"), video, (text) => { status.textContent = text; });
  const frame = document.createElement("canvas");
  let running = false;

  const grab = () => new Promise((resolve) => {
    const scale = Math.min(1, LIVE_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    frame.width = Math.round(video.videoWidth * scale);
    frame.height = Math.round(video.videoHeight * scale);
    frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
    frame.toBlob(resolve, "image/jpeg", 0.9);
  });
  const showResult = (r) => {
    $("live-predicted").textContent = r.predicted;
    $("live-input").src = r.input;
    $("live-ms").textContent = r.timingMs.toFixed(1);
    for (const tr of panel.querySelectorAll("#live-scores tr")) {
      const p = Number(r.scores[tr.dataset.label] || 0);
      tr.querySelector(".score").textContent = p.toFixed(5);
      tr.querySelector("meter").value = p;
      tr.classList.toggle("top", tr.dataset.label === r.predicted);
    }
  };

  // Resolves when the camera has shown a frame not classified yet, so the
  // rate counts camera frames, not the same frame sent again.
  const nextFrame = () => new Promise((resolve) => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else setTimeout(resolve, 1000 / 30);
  });

  const loop = async () => {
    const fps = $("live-fps");
    let frames = 0;
    const started = performance.now();
    const recent = [];
    while (running) {
      if (!video.videoWidth) { await new Promise((r) => setTimeout(r, 50)); continue; }
      await nextFrame();
      const blob = await grab();
      let reply;
      try {
        const response = await fetch(panel.dataset.classify, { method: "POST", headers: { Accept: "application/json", ...csrfHeaders() }, body: blob, credentials: "same-origin" });
        reply = await response.json();
        if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
      } catch (err) {
        status.textContent = `Classification failed: ${err.message || err}`;
        running = false;
        break;
      }
      showResult(reply);
      frames++;
      const now = performance.now();
      recent.push(now);
      while (recent.length && now - recent[0] > 2000) recent.shift();
      // The rate of the last two seconds, and the average since the start.
      const rate = recent.length > 1 ? (1000 * (recent.length - 1)) / (now - recent[0]) : 0;
      fps.textContent = rate.toFixed(1);
      fps.dataset.frames = String(frames);
      fps.dataset.average = ((1000 * frames) / (now - started)).toFixed(2);
    }
    button.textContent = "Start";
  };

  button.addEventListener("click", async () => {
    if (running) { running = false; cam.stop(); return; }
    if (!(await cam.start())) return;
    running = true;
    status.textContent = "";
    button.textContent = "Stop";
    loop();
  });
}
